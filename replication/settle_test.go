package replication

import (
	"bytes"
	"testing"
)

// TestMetaSettleAbandonedUpdate: an update given up by its server keeps
// its reservation until the stream's settled config is recorded; a
// settle of an update not given up, or no longer the pending one,
// changes nothing; and a given-up update's check that reaches the log
// late is refused.
func TestMetaSettleAbandonedUpdate(t *testing.T) {
	sm := newMetaSM()
	apply := metaApplier(t, sm)
	if r := apply(metaOp{Op: opPlaceLocal, Stream: "A", Peers: []string{"s1"}, Config: cfg("a"), Token: "pA", Check: true}); r != placeDone {
		t.Fatalf("placing A: %v", r)
	}
	check := func(token string, subjects ...string) any {
		return apply(metaOp{Op: opConfigCheck, Stream: "A", Config: cfg(subjects...), Token: token, Check: true, Reserve: []string{"a"}})
	}
	if r := check("u1", "x"); r != placeDone {
		t.Fatalf("A to x: %v", r)
	}
	// Not given up: a settle is not taken.
	apply(metaOp{Op: opConfigSettle, Stream: "A", Token: "u1", Config: cfg("a")})
	if a, _ := sm.assignment("A"); a.Pending == nil {
		t.Fatal("a settle ended an update its server did not give up")
	}
	apply(metaOp{Op: opConfigAbandon, Stream: "A", Token: "u1"})
	a, _ := sm.assignment("A")
	if a.Pending == nil || !a.Pending.Abandoned || len(a.Settled) != 1 || a.Settled[0] != "u1" {
		t.Fatalf("A after giving up u1: %+v", a)
	}
	if !sm.overlapsAny("B", cfg("a")) || !sm.overlapsAny("B", cfg("x")) {
		t.Fatal("a given-up update's subjects were freed before it was settled")
	}
	// Another token's settle changes nothing.
	apply(metaOp{Op: opConfigSettle, Stream: "A", Token: "u0", Config: cfg("a")})
	if a, _ := sm.assignment("A"); a.Pending == nil {
		t.Fatal("a settle of another update ended u1")
	}
	apply(metaOp{Op: opConfigSettle, Stream: "A", Token: "u1", Config: cfg("a")})
	a, _ = sm.assignment("A")
	if a.Pending != nil || !bytes.Equal(a.Config, cfg("a")) {
		t.Fatalf("A after its settle: %+v", a)
	}
	if sm.overlapsAny("B", cfg("x")) || !sm.overlapsAny("B", cfg("a")) {
		t.Fatal("after the settle, x should be free and a taken")
	}
	// u1's check again (a late copy): refused, reserves nothing.
	if r := check("u1", "x"); r != placeOverlap {
		t.Fatalf("u1's check after it was given up: %v", r)
	}
	// Given up before its check reached the log.
	apply(metaOp{Op: opConfigAbandon, Stream: "A", Token: "u2"})
	if r := check("u2", "y"); r != placeOverlap {
		t.Fatalf("u2's check after it was given up: %v", r)
	}
	if a, _ := sm.assignment("A"); a.Pending != nil || sm.overlapsAny("B", cfg("y")) {
		t.Fatalf("A after u2: %+v", a)
	}
	// A newer update's check makes it the pending one: settling the older
	// one changes nothing, and the newer keeps every reservation.
	if r := check("u3", "z"); r != placeDone {
		t.Fatalf("u3: %v", r)
	}
	apply(metaOp{Op: opConfigAbandon, Stream: "A", Token: "u3"})
	if r := check("u4", "w"); r != placeDone {
		t.Fatalf("u4: %v", r)
	}
	apply(metaOp{Op: opConfigSettle, Stream: "A", Token: "u3", Config: cfg("a")})
	if a, _ := sm.assignment("A"); a.Pending == nil || a.Pending.Token != "u4" || a.Pending.Abandoned ||
		!sm.overlapsAny("B", cfg("z")) || !sm.overlapsAny("B", cfg("a")) {
		t.Fatalf("A after u4's check: %+v", a)
	}
	// The settled tokens stay bounded.
	for i := range 20 {
		apply(metaOp{Op: opConfigAbandon, Stream: "A", Token: string(rune('a' + i))})
	}
	if a, _ := sm.assignment("A"); len(a.Settled) != maxSettled {
		t.Fatalf("%d settled tokens kept", len(a.Settled))
	}
}

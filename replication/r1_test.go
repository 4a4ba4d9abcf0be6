package replication

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/wisp-mq/wisp/consensus"
)

// One-replica placements apply in log order: the first of a name wins,
// one whose subjects overlap another stream's of the same account is
// refused (another account's do not count), a registration (no check)
// adopts the same server's placement, the conditional removal removes
// only its server's placement, a recorded config replaces the one placed
// with, and the state survives a snapshot.
func TestMetaPlaceLocalInLogOrder(t *testing.T) {
	sm := newMetaSM()
	apply := metaApplier(t, sm)
	place := func(name, server, token string, subjects ...string) any {
		return apply(metaOp{Op: opPlaceLocal, Stream: name, Peers: []string{server}, Config: cfg(subjects...),
			Created: time.Unix(1, 0), Token: token, Check: true})
	}
	if r := place("A", "s1", "t1", "a.>"); r != placeDone {
		t.Fatalf("first placement of A: %v", r)
	}
	if r := place("A", "s2", "t2", "z"); r != placeNameInUse {
		t.Fatalf("second placement of A: %v", r)
	}
	if r := place("A", "s1", "t1", "a.>"); r != placeDone {
		t.Fatalf("the same placement asked again: %v", r)
	}
	if r := place("B", "s2", "t3", "a.b"); r != placeOverlap {
		t.Fatalf("B overlapping A: %v", r)
	}
	if r := place("acc B", "s2", "t4", "a.b"); r != placeDone {
		t.Fatalf("another account's B on A's subjects: %v", r)
	}
	// A replicated placement is checked alike.
	if r := apply(metaOp{Op: opAssign, Stream: "R", Peers: []string{"s1", "s2", "s3"}, NewGroup: true,
		Config: cfg("a.c"), Check: true}); r != (refusedOverlap{}) {
		t.Fatalf("R3 over A's subjects: %v", r)
	}
	// A registration of the same server's stream adopts the placement.
	if r := apply(metaOp{Op: opPlaceLocal, Stream: "A", Peers: []string{"s1"}, Config: cfg("a.>"), Token: "other"}); r != placeDone {
		t.Fatalf("registration of A by its server: %v", r)
	}
	if a, _ := sm.assignment("A"); a.Token != "t1" || !a.R1 || a.Group != 0 {
		t.Fatalf("A after its registration: %+v", a)
	}
	apply(metaOp{Op: opConfig, Stream: "A", Config: cfg("a.x")})
	if r := place("B", "s2", "t5", "a.b"); r != placeDone {
		t.Fatalf("B once A's recorded config no longer overlaps: %v", r)
	}
	apply(metaOp{Op: opUnplaceLocal, Stream: "B", Peers: []string{"s1"}})
	if _, ok := sm.assignment("B"); !ok {
		t.Fatal("B removed by a server that does not hold it")
	}
	snap, err := sm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	apply(metaOp{Op: opUnplaceLocal, Stream: "B", Peers: []string{"s2"}})
	if _, ok := sm.assignment("B"); ok {
		t.Fatal("B kept after its server removed it")
	}
	restored := newMetaSM()
	if err := restored.Restore(snap, sm.applied); err != nil {
		t.Fatal(err)
	}
	if a, ok := restored.assignment("B"); !ok || !a.R1 || a.Peers[0] != "s2" {
		t.Fatalf("B from the snapshot: %+v", a)
	}
	if restored.overlapsAny("C", cfg("a.x")) != true || restored.overlapsAny("C", cfg("q")) {
		t.Fatal("overlaps from the snapshot")
	}
}

// An update that changes a stream's subjects is decided where it applies
// (opConfigCheck), in log order: refused when the new subjects overlap
// another stream's of the account (the refusal names its token), else
// the new config is recorded and the old subjects stay reserved with the
// new until opConfig ends the update; the same update asked again
// changes nothing; the reservation survives a snapshot.
func TestMetaConfigCheckInLogOrder(t *testing.T) {
	sm := newMetaSM()
	apply := metaApplier(t, sm)
	place := func(name, server string, subjects ...string) {
		t.Helper()
		if r := apply(metaOp{Op: opPlaceLocal, Stream: name, Peers: []string{server}, Config: cfg(subjects...),
			Token: "p" + name, Check: true}); r != placeDone {
			t.Fatalf("placing %s: %v", name, r)
		}
	}
	update := func(name, token string, reserve []string, subjects ...string) any {
		return apply(metaOp{Op: opConfigCheck, Stream: name, Config: cfg(subjects...), Token: token, Check: true,
			Reserve: reserve})
	}
	place("A", "s1", "a")
	place("B", "s2", "b")
	// Two updates racing toward "x": the first in the log wins.
	if r := update("A", "u1", []string{"a"}, "x"); r != placeDone {
		t.Fatalf("A to x: %v", r)
	}
	if r := update("B", "u2", []string{"b"}, "b", "x"); r != placeOverlap {
		t.Fatalf("B to x after A: %v", r)
	}
	if a, _ := sm.assignment("B"); a.Refused != "u2" || a.Pending != nil || !bytes.Equal(a.Config, cfg("b")) {
		t.Fatalf("B after its refused update: %+v", a)
	}
	// A's old subject stays reserved while its update is in flight.
	if r := apply(metaOp{Op: opPlaceLocal, Stream: "C", Peers: []string{"s3"}, Config: cfg("a"), Token: "pC",
		Check: true}); r != placeOverlap {
		t.Fatalf("C on A's old subject during A's update: %v", r)
	}
	if a, _ := sm.assignment("A"); a.Pending == nil || a.Pending.Token != "u1" ||
		!slices.Equal(a.Pending.Reserved, []string{"a"}) || !bytes.Equal(a.Config, cfg("x")) {
		t.Fatalf("A during its update: %+v", a)
	}
	// Asked again (a lost answer): decided already, nothing changes.
	if r := update("A", "u1", []string{"a"}, "x"); r != placeDone {
		t.Fatalf("A's update asked again: %v", r)
	}
	if r := update("B", "u2", []string{"b"}, "b", "x"); r != placeOverlap {
		t.Fatalf("B's refused update asked again: %v", r)
	}
	// An update of a stream not assigned is refused.
	if r := update("nope", "u3", nil, "q"); r != placeNameInUse {
		t.Fatalf("update of a stream not assigned: %v", r)
	}
	snap, err := sm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored := newMetaSM()
	if err := restored.Restore(snap, sm.applied); err != nil {
		t.Fatal(err)
	}
	if !restored.overlapsAny("C", cfg("a")) || !restored.overlapsAny("C", cfg("x")) {
		t.Fatal("A's reservation from the snapshot")
	}
	// Done: the old subject is free.
	apply(metaOp{Op: opConfig, Stream: "A", Config: cfg("x")})
	if a, _ := sm.assignment("A"); a.Pending != nil {
		t.Fatalf("A after its update was recorded done: %+v", a)
	}
	place("C", "s3", "a")
	// Undone: the config before the update comes back, the new subject
	// is free.
	if r := update("B", "u4", []string{"b"}, "y"); r != placeDone {
		t.Fatalf("B to y: %v", r)
	}
	apply(metaOp{Op: opConfig, Stream: "B", Config: cfg("b")})
	if sm.overlapsAny("D", cfg("y")) || !sm.overlapsAny("D", cfg("b")) {
		t.Fatal("B's subjects after its update was undone")
	}
	// A reassignment (peer change) keeps an update in flight.
	apply(metaOp{Op: opAssign, Stream: "R", Peers: []string{"s1", "s2", "s3"}, NewGroup: true, Config: cfg("r")})
	if r := update("R", "u5", []string{"r"}, "r2"); r != placeDone {
		t.Fatalf("R to r2: %v", r)
	}
	apply(metaOp{Op: opAssign, Stream: "R", Peers: []string{"s1", "s2", "s4"}})
	if !sm.overlapsAny("D", cfg("r")) || !sm.overlapsAny("D", cfg("r2")) {
		t.Fatal("R's reservation after a reassignment")
	}
}

// metaApplier applies one op at a time to sm, at the next log index, and
// returns its result.
func metaApplier(t *testing.T, sm *metaSM) func(metaOp) any {
	var index uint64
	return func(op metaOp) any {
		t.Helper()
		b, err := json.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		index++
		res, err := sm.Apply([]consensus.Entry{{Index: index, Data: b}})
		if err != nil {
			t.Fatal(err)
		}
		return res[0]
	}
}

// cfg is a stream config holding only subjects.
func cfg(subjects ...string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"subjects": subjects})
	return b
}

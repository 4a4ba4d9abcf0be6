package stream_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestMirrorDirectServesForItsOrigin: a mirror takes mirror_direct from its
// origin's allow_direct (what the request said does not count when the
// origin is here, as in nats-server), and, once caught up, answers direct
// gets addressed to its origin, which keeps working after the origin is
// deleted.
func TestMirrorDirectServesForItsOrigin(t *testing.T) {
	n := startNode(t, t.TempDir())
	o, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "ORIG", Subjects: []string{"orig.>"}, AllowDirect: true})
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, n.js, "orig.a", 3)
	m, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "MIR", Mirror: &jetstream.StreamSource{Name: "ORIG"}})
	if err != nil {
		t.Fatal(err)
	}
	if !m.CachedInfo().Config.MirrorDirect {
		t.Fatal("mirror_direct not taken from the origin's allow_direct")
	}
	waitStream(t, n.js, "MIR", 3, 3)
	if err := n.js.DeleteStream(ctx(t), o.CachedInfo().Config.Name); err != nil {
		t.Fatal(err)
	}
	r, err := n.nc.Request("$JS.API.DIRECT.GET.ORIG", []byte(`{"seq":2}`), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Data) != "orig.a-1" || r.Header.Get("Nats-Stream") != "MIR" || r.Header.Get("Nats-Sequence") != "2" {
		t.Fatalf("direct get for the origin: %q %v", r.Data, r.Header)
	}

	// A mirror of an origin without allow_direct does not answer for it.
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "PLAIN", Subjects: []string{"plain.>"}}); err != nil {
		t.Fatal(err)
	}
	publishN(t, n.js, "plain.a", 1)
	pm, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "PMIR", Mirror: &jetstream.StreamSource{Name: "PLAIN"}, MirrorDirect: true})
	if err != nil {
		t.Fatal(err)
	}
	if pm.CachedInfo().Config.MirrorDirect {
		t.Fatal("mirror_direct kept although the origin has no allow_direct")
	}
	waitStream(t, n.js, "PMIR", 1, 1)
	if err := n.js.DeleteStream(ctx(t), "PLAIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.nc.Request("$JS.API.DIRECT.GET.PLAIN", []byte(`{"seq":1}`), 10*time.Second); err != nats.ErrNoResponders {
		t.Fatalf("direct get for an origin nobody serves: %v, want no responders", err)
	}
}

// TestOriginMaxMsgSizeChecked: a mirror or source of a stream here must
// take messages as large as its origin's (10030, 10046), as nats-server
// checks; an external origin is not looked at.
func TestOriginMaxMsgSizeChecked(t *testing.T) {
	n := startNode(t, t.TempDir())
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "BIG", Subjects: []string{"big.>"}, MaxMsgSize: 4096}); err != nil {
		t.Fatal(err)
	}
	_, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "M1", Mirror: &jetstream.StreamSource{Name: "BIG"}, MaxMsgSize: 1024})
	if apiErrCode(err) != 10030 {
		t.Fatalf("small mirror: %v, want 10030", err)
	}
	_, err = n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "S1", Subjects: []string{"s1"}, Sources: []*jetstream.StreamSource{{Name: "BIG"}}, MaxMsgSize: 1024})
	if apiErrCode(err) != 10046 {
		t.Fatalf("small source: %v, want 10046", err)
	}
	s, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "S2", Subjects: []string{"s2"}, Sources: []*jetstream.StreamSource{{Name: "BIG"}}, MaxMsgSize: 8192})
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.MaxMsgSize = 100
	if _, err := n.js.UpdateStream(ctx(t), cfg); apiErrCode(err) != 10046 {
		t.Fatalf("update to a small source: %v, want 10046", err)
	}
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "M2", MaxMsgSize: 1024,
		Mirror: &jetstream.StreamSource{Name: "BIG", External: &jetstream.ExternalStream{APIPrefix: "$JS.other.API"}}}); err != nil {
		t.Fatalf("external mirror: %v", err)
	}
}

package replication

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/wisp-mq/wisp/consensus"
)

// A reassignment applies only to the peers it was made from, keeps the
// stream's group and config, and remembers the servers removed.
func TestMetaReassignExpectsPeers(t *testing.T) {
	sm := newMetaSM()
	var index uint64
	apply := func(op metaOp) {
		t.Helper()
		b, err := json.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		index++
		if _, err := sm.Apply([]consensus.Entry{{Index: index, Data: b}}); err != nil {
			t.Fatal(err)
		}
	}
	apply(metaOp{Op: "assign", Stream: "S", Peers: []string{"a", "b", "c"}, NewGroup: true, Config: json.RawMessage(`{"name":"S"}`)})
	placed, _ := sm.assignment("S")

	apply(metaOp{Op: "assign", Stream: "S", Peers: []string{"a", "b", "d"}, Expect: []string{"a", "b", "c"}})
	a, _ := sm.assignment("S")
	if !slices.Equal(a.Peers, []string{"a", "b", "d"}) || a.Group != placed.Group || string(a.Config) != `{"name":"S"}` || !slices.Equal(a.Former, []string{"c"}) {
		t.Fatalf("after the reassignment: %+v", a)
	}
	// Stale: made from peers the stream no longer has.
	apply(metaOp{Op: "assign", Stream: "S", Peers: []string{"a", "c", "d"}, Expect: []string{"a", "b", "c"}})
	if a, _ := sm.assignment("S"); !slices.Equal(a.Peers, []string{"a", "b", "d"}) {
		t.Fatalf("a stale reassignment applied: %+v", a)
	}
	// Of a stream that is gone: nothing.
	apply(metaOp{Op: "assign", Stream: "T", Peers: []string{"a"}, Expect: []string{"b"}})
	if _, ok := sm.assignment("T"); ok {
		t.Fatal("a reassignment created a stream")
	}
	// The removed server comes back: it stays among the former.
	apply(metaOp{Op: "assign", Stream: "S", Peers: []string{"a", "c", "d"}, Expect: []string{"a", "b", "d"}})
	if a, _ := sm.assignment("S"); !slices.Equal(a.Former, []string{"c", "b"}) {
		t.Fatalf("former after a second reassignment: %+v", a)
	}
	// The snapshot keeps it.
	snap, err := sm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	other := newMetaSM()
	if err := other.Restore(snap, index); err != nil {
		t.Fatal(err)
	}
	if a, _ := other.assignment("S"); !slices.Equal(a.Former, []string{"c", "b"}) || !slices.Equal(a.Peers, []string{"a", "c", "d"}) {
		t.Fatalf("restored: %+v", a)
	}
}

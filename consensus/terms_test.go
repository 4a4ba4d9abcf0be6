package consensus

import (
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	pb "go.etcd.io/raft/v3/raftpb"
)

// TestStorageTermsMatchTheLog drives a group's log through appends (some
// replacing a suffix under a newer term, as a new leader does), several
// appends in one batch, compactions and snapshots from a leader, and
// after each step checks Term of every entry in the log against the
// entry stored in Pebble and against a model.
func TestStorageTermsMatchTheLog(t *testing.T) {
	db := openTestDB(t, vfs.NewMem())
	defer db.Close()
	s := NewStore(db, nil)
	g, _, _ := s.OpenGroup(1)
	r := rand.New(rand.NewPCG(15, 3))
	model := map[uint64]uint64{} // index -> term of the entries in the log
	var trunc, last, term uint64 = 0, 0, 1
	appendAt := func(wb *WriteBatch, first uint64, n int) {
		var ents []*pb.Entry
		for i := range uint64(n) {
			if r.IntN(8) == 0 {
				term++
			}
			ents = append(ents, ent(first+i, term, "x"))
		}
		if err := wb.Append(g, ents); err != nil {
			t.Fatal(err)
		}
		for idx := range model {
			if idx >= first {
				delete(model, idx)
			}
		}
		for _, e := range ents {
			model[e.GetIndex()] = e.GetTerm()
		}
		last = first + uint64(n) - 1
	}
	for step := range 400 {
		wb := s.NewBatch()
		switch k := r.IntN(10); {
		case k < 5 || last == trunc:
			appendAt(wb, last+1, 1+r.IntN(20))
		case k < 7:
			// A new leader replaces a suffix; sometimes twice in a batch.
			term++
			appendAt(wb, trunc+1+uint64(r.IntN(int(last-trunc))), 1+r.IntN(10))
			if r.IntN(2) == 0 {
				appendAt(wb, last+1, 1+r.IntN(5))
			}
		case k < 9:
			at := trunc + 1 + uint64(r.IntN(int(last-trunc)))
			if err := wb.CreateSnapshot(g, at, []byte("s"), at); err != nil {
				t.Fatal(err)
			}
			for idx := range model {
				if idx <= at {
					delete(model, idx)
				}
			}
			trunc = at
		default:
			// A snapshot from the leader replaces the whole log.
			term++
			at := last + 1 + uint64(r.IntN(5))
			in := &pb.Snapshot{Data: []byte("s"), Metadata: &pb.SnapshotMetadata{Index: new(at), Term: new(term), ConfState: &pb.ConfState{Voters: []uint64{1}}}}
			if err := wb.ApplySnapshot(g, in); err != nil {
				t.Fatal(err)
			}
			model = map[uint64]uint64{}
			trunc, last = at, at
		}
		wb.SetHardState(g, hard(term, 0, 0))
		if err := wb.Commit(true); err != nil {
			t.Fatal(err)
		}
		for i := trunc + 1; i <= last; i++ {
			got, err := g.Term(i)
			if err != nil {
				t.Fatalf("step %d: Term(%d): %v", step, i, err)
			}
			stored, err := g.read(i, i+1, 0)
			if err != nil {
				t.Fatalf("step %d: read %d: %v", step, i, err)
			}
			if got != model[i] || got != stored[0].GetTerm() {
				t.Fatalf("step %d: Term(%d) = %d, model %d, stored %d", step, i, got, model[i], stored[0].GetTerm())
			}
		}
	}
}

// Term answers for appended entries without reading them back: with the
// entries' records gone from Pebble behind the store's back, it still
// knows their terms (before terms were kept in memory, this read failed).
func TestStorageTermsWithoutReading(t *testing.T) {
	db := openTestDB(t, vfs.NewMem())
	defer db.Close()
	s := NewStore(db, nil)
	g, _, _ := s.OpenGroup(1)
	appendEnts(t, s, g, hard(1, 1, 0), ent(1, 1, "a"), ent(2, 1, "b"), ent(3, 2, "c"), ent(4, 3, "d"))
	if err := db.DeleteRange(entryKey(1, 1), entryKey(1, 4), nil); err != nil {
		t.Fatal(err)
	}
	for i, want := range map[uint64]uint64{1: 1, 2: 1, 3: 2, 4: 3} {
		if got, err := g.Term(i); err != nil || got != want {
			t.Errorf("Term(%d) = %d, %v; want %d", i, got, err, want)
		}
	}
}

func TestTermRunsBounded(t *testing.T) {
	var runs []termRun
	for i := range uint64(3 * maxTermRuns) {
		runs = appendTermRuns(runs, i+1, func(yield func(uint64) bool) { yield(i + 1) })
		if len(runs) > maxTermRuns {
			t.Fatalf("%d runs after %d terms", len(runs), i+1)
		}
		if tm, ok := termOf(runs, i+1, i+1); !ok || tm != i+1 {
			t.Fatalf("term of %d: %d %v", i+1, tm, ok)
		}
	}
}

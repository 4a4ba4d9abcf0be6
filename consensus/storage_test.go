package consensus

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

func openTestDB(t *testing.T, fs vfs.FS) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("db", &pebble.Options{FS: fs, Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func ent(index, term uint64, data string) *pb.Entry {
	return &pb.Entry{Index: new(index), Term: new(term), Data: []byte(data)}
}

func appendEnts(t *testing.T, s *Store, g *GroupStorage, hs *pb.HardState, ents ...*pb.Entry) {
	t.Helper()
	wb := s.NewBatch()
	if err := wb.Append(g, ents); err != nil {
		t.Fatal(err)
	}
	if hs != nil {
		wb.SetHardState(g, hs)
	}
	if err := wb.Commit(true); err != nil {
		t.Fatal(err)
	}
}

func hard(term, vote, commit uint64) *pb.HardState {
	return &pb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

func TestStorageAppendReadReopen(t *testing.T) {
	fs := vfs.NewMem()
	db := openTestDB(t, fs)
	s := NewStore(db, nil)
	g, rep, err := s.OpenGroup(7)
	if err != nil || rep.Existed || rep.Damaged {
		t.Fatalf("fresh group: %+v %v", rep, err)
	}
	appendEnts(t, s, g, hard(1, 1, 1), ent(1, 1, "a"), ent(2, 1, "b"), ent(3, 1, "c"))
	// Overwrite a suffix, as a new leader does.
	appendEnts(t, s, g, hard(2, 2, 2), ent(3, 2, "C"), ent(4, 2, "d"))
	if li, _ := g.LastIndex(); li != 4 {
		t.Fatalf("last index %d", li)
	}
	ents, err := g.Entries(1, 5, 1<<20)
	if err != nil || len(ents) != 4 || string(ents[2].GetData()) != "C" || ents[2].GetTerm() != 2 {
		t.Fatalf("entries %v %v", ents, err)
	}
	if one, _ := g.Entries(1, 5, 0); len(one) != 1 {
		t.Fatalf("maxSize 0 gave %d entries", len(one))
	}
	if _, err := g.Entries(1, 6, 0); !errors.Is(err, raft.ErrUnavailable) {
		t.Fatalf("past the end: %v", err)
	}
	// Another group in the same database is independent.
	g2, _, _ := s.OpenGroup(8)
	appendEnts(t, s, g2, hard(5, 0, 0), ent(1, 5, "x"))

	s2 := NewStore(db, nil)
	g, rep, err = s2.OpenGroup(7)
	if err != nil || !rep.Existed || rep.Damaged {
		t.Fatalf("reopen: %+v %v", rep, err)
	}
	hs, _, _ := g.InitialState()
	if hs.GetTerm() != 2 || hs.GetVote() != 2 || hs.GetCommit() != 2 {
		t.Fatalf("hard state %v", hs)
	}
	if tm, _ := g.Term(3); tm != 2 {
		t.Fatalf("term(3) = %d", tm)
	}
	if li, _ := g.LastIndex(); li != 4 {
		t.Fatalf("last index after reopen %d", li)
	}
	db.Close()
}

func TestStorageSnapshotAndCompaction(t *testing.T) {
	db := openTestDB(t, vfs.NewMem())
	defer db.Close()
	s := NewStore(db, nil)
	g, _, _ := s.OpenGroup(1)
	wb := s.NewBatch()
	wb.SetConfState(g, &pb.ConfState{Voters: []uint64{1, 2, 3}})
	wb.Append(g, []*pb.Entry{ent(1, 1, "a"), ent(2, 1, "b"), ent(3, 2, "c"), ent(4, 2, "d")})
	wb.SetHardState(g, hard(2, 1, 4))
	if err := wb.Commit(true); err != nil {
		t.Fatal(err)
	}
	wb = s.NewBatch()
	if err := wb.CreateSnapshot(g, 3, []byte("state@3"), 2); err != nil {
		t.Fatal(err)
	}
	if err := wb.Commit(true); err != nil {
		t.Fatal(err)
	}
	if fi, _ := g.FirstIndex(); fi != 3 {
		t.Fatalf("first index %d", fi)
	}
	if tm, err := g.Term(2); err != nil || tm != 1 {
		t.Fatalf("term of compacted boundary: %d %v", tm, err)
	}
	if _, err := g.Entries(2, 3, 0); !errors.Is(err, raft.ErrCompacted) {
		t.Fatalf("compacted entries: %v", err)
	}
	snap, _ := g.Snapshot()
	if snap.GetMetadata().GetIndex() != 3 || string(snap.GetData()) != "state@3" || len(snap.GetMetadata().GetConfState().GetVoters()) != 3 {
		t.Fatalf("snapshot %v", snap)
	}

	// A snapshot from the leader replaces the log.
	wb = s.NewBatch()
	in := &pb.Snapshot{Data: []byte("state@9"), Metadata: &pb.SnapshotMetadata{Index: new(uint64(9)), Term: new(uint64(3)), ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}}}}
	if err := wb.ApplySnapshot(g, in); err != nil {
		t.Fatal(err)
	}
	if err := wb.Commit(true); err != nil {
		t.Fatal(err)
	}
	s2 := NewStore(db, nil)
	g, rep, err := s2.OpenGroup(1)
	if err != nil || rep.Damaged {
		t.Fatalf("reopen after snapshot: %+v %v", rep, err)
	}
	if fi, _ := g.FirstIndex(); fi != 10 {
		t.Fatalf("first index %d", fi)
	}
	if li, _ := g.LastIndex(); li != 9 {
		t.Fatalf("last index %d", li)
	}
}

// damageSetup writes entries 1..5 of group 1 and lets mutate change the raw
// database before the group is opened again.
func damageSetup(t *testing.T, mutate func(db *pebble.DB)) (*GroupStorage, LoadReport, string) {
	t.Helper()
	db := openTestDB(t, vfs.NewMem())
	t.Cleanup(func() { db.Close() })
	s := NewStore(db, nil)
	g, _, _ := s.OpenGroup(1)
	appendEnts(t, s, g, hard(3, 1, 5), ent(1, 1, "a"), ent(2, 1, "b"), ent(3, 2, "c"), ent(4, 3, "d"), ent(5, 3, "e"))
	mutate(db)
	var logged bytes.Buffer
	s2 := NewStore(db, slog.New(slog.NewTextHandler(&logged, nil)))
	g, rep, err := s2.OpenGroup(1)
	if err != nil {
		t.Fatal(err)
	}
	return g, rep, logged.String()
}

func flipBit(t *testing.T, db *pebble.DB, key []byte, bit int) {
	v, closer, err := db.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	b := append([]byte(nil), v...)
	closer.Close()
	b[bit/8%len(b)] ^= 1 << (bit % 8)
	db.Set(key, b, pebble.Sync)
}

func TestStorageDetectsBitFlipAndKeepsPrefix(t *testing.T) {
	g, rep, logged := damageSetup(t, func(db *pebble.DB) { flipBit(t, db, entryKey(1, 4), 45) })
	if !rep.Damaged || rep.Kept != 3 {
		t.Fatalf("report %+v", rep)
	}
	if li, _ := g.LastIndex(); li != 3 {
		t.Fatalf("last index %d, want the verified prefix 1..3", li)
	}
	if _, _, c := g.HardState(); c != 3 {
		t.Fatalf("commit %d not clamped to the kept log", c)
	}
	if !g.Recovering() {
		t.Fatal("damaged group not recovering")
	}
	if !strings.Contains(logged, "raft log damaged") || !strings.Contains(logged, "entry 4") {
		t.Fatalf("log: %s", logged)
	}
}

func TestStorageDetectsTruncatedTail(t *testing.T) {
	g, rep, _ := damageSetup(t, func(db *pebble.DB) {
		db.DeleteRange(entryKey(1, 4), entryKey(1, 6), pebble.Sync)
	})
	if !rep.Damaged || rep.Kept != 3 || !g.Recovering() {
		t.Fatalf("report %+v", rep)
	}
}

func TestStorageDetectsCorruptState(t *testing.T) {
	g, rep, _ := damageSetup(t, func(db *pebble.DB) { flipBit(t, db, kindKey(1, kindState), 100) })
	if !rep.Damaged || !g.Recovering() {
		t.Fatalf("report %+v", rep)
	}
	// Term and vote are unknown now; the entries still verify.
	if term, vote, _ := g.HardState(); term != 3 || vote != 0 {
		t.Fatalf("term %d vote %d: want the last entry's term and no vote", term, vote)
	}
}

func TestStorageRecoveringSurvivesReopen(t *testing.T) {
	db := openTestDB(t, vfs.NewMem())
	defer db.Close()
	s := NewStore(db, nil)
	g, _, _ := s.OpenGroup(1)
	appendEnts(t, s, g, hard(1, 1, 1), ent(1, 1, "a"), ent(2, 1, "b"))
	flipBit(t, db, entryKey(1, 2), 60)
	s = NewStore(db, nil)
	if g, _, _ = s.OpenGroup(1); !g.Recovering() {
		t.Fatal("not recovering")
	}
	s = NewStore(db, nil)
	g, rep, _ := s.OpenGroup(1)
	if rep.Damaged || !g.Recovering() {
		t.Fatalf("second open: %+v recovering=%v", rep, g.Recovering())
	}
	wb := s.NewBatch()
	wb.setRecovering(g, false)
	wb.Commit(true)
	s = NewStore(db, nil)
	if g, _, _ = s.OpenGroup(1); g.Recovering() {
		t.Fatal("recovery mark not cleared")
	}
}

func TestRecordKeyBinding(t *testing.T) {
	k := entryKey(1, 2)
	v := encodeEntry(k, ent(2, 1, "x"))
	if _, err := decodeEntry(entryKey(1, 3), v); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("record under another key: %v", err)
	}
	if _, err := decodeEntry(entryKey(2, 2), v); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("record under another group: %v", err)
	}
	if e, err := decodeEntry(k, v); err != nil || string(e.GetData()) != "x" {
		t.Fatalf("decode: %v %v", e, err)
	}
}

// A Ready may change only the hard state (a vote): that batch has no
// record of its own until Commit, and must still be written.
func TestStorageHardStateAloneIsWritten(t *testing.T) {
	db := openTestDB(t, vfs.NewMem())
	defer db.Close()
	s := NewStore(db, nil)
	g, _, _ := s.OpenGroup(3)
	wb := s.NewBatch()
	wb.SetHardState(g, hard(4, 2, 0))
	if wb.Empty() {
		t.Fatal("a batch holding a vote reports itself empty")
	}
	if err := wb.Commit(true); err != nil {
		t.Fatal(err)
	}
	g, _, _ = NewStore(db, nil).OpenGroup(3)
	if term, vote, _ := g.HardState(); term != 4 || vote != 2 {
		t.Fatalf("term %d vote %d after reopen", term, vote)
	}
}

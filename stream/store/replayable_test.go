package store

import (
	"errors"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
)

// replayableOp puts one message and says another record can rebuild it.
type replayableOp struct {
	seq  uint64
	done chan error
}

func (o *replayableOp) Apply(b *Batch) error {
	return b.PutMsg(1, &Msg{Seq: o.seq, Subject: []byte("r"), Data: []byte("x")})
}
func (o *replayableOp) Done(err error)   { o.done <- err }
func (o *replayableOp) Replayable() bool { return true }

func putReplayable(t *testing.T, s *Store, seq uint64) {
	t.Helper()
	op := &replayableOp{seq: seq, done: make(chan error, 1)}
	s.Submit(op)
	if err := <-op.done; err != nil {
		t.Fatal(err)
	}
}

func putSynced(t *testing.T, s *Store, seq uint64) {
	t.Helper()
	if err := s.Do(func(b *Batch) error {
		return b.PutMsg(1, &Msg{Seq: seq, Subject: []byte("a"), Data: []byte("x")})
	}); err != nil {
		t.Fatal(err)
	}
}

// TestReplayableOpsDeferTheFsync: in always mode a batch of only
// Replayable Ops is done without a log fsync; the next batch with any
// other Op pays it before that Op is done.
func TestReplayableOpsDeferTheFsync(t *testing.T) {
	fs := newLogWatchFS()
	s := openWatched(t, fs, SyncAlways, time.Hour)
	before := fs.syncs.Load()
	for i := range uint64(20) {
		putReplayable(t, s, i+1)
	}
	if n := fs.syncs.Load() - before; n != 0 {
		t.Fatalf("%d log fsyncs for 20 batches of Replayable Ops", n)
	}
	putSynced(t, s, 21)
	if fs.syncs.Load() == before {
		t.Fatal("an Op that is not Replayable was done without a log fsync")
	}
}

// TestReplayableOpsAfterPowerLoss: a power loss may take Replayable Ops
// done since the last fsync (their owner replays them), never an Op done
// after them that is not, nor anything before it; and the store reopens
// without reporting damage: its manifest never claimed what was lost.
func TestReplayableOpsAfterPowerLoss(t *testing.T) {
	fs := vfs.NewStrictMem()
	open := func() *Store {
		s, err := Open(Options{Dir: "db", FS: fs, Sync: SyncAlways, SyncInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	powerLoss := func(s *Store) *Store {
		fs.SetIgnoreSyncs(true)
		s.Close()
		fs.ResetToSyncedState()
		fs.SetIgnoreSyncs(false)
		return open()
	}
	has := func(s *Store, seq uint64) bool {
		_, err := s.Reader().Msg(1, seq)
		if err != nil && !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	s := open()
	putSynced(t, s, 1)
	putReplayable(t, s, 2)
	putReplayable(t, s, 3)
	s = powerLoss(s)
	if !has(s, 1) || has(s, 2) || has(s, 3) {
		t.Fatalf("after a power loss: 1 %v, 2 %v, 3 %v; want only 1", has(s, 1), has(s, 2), has(s, 3))
	}
	if d := s.OpenReport().Damage; len(d) != 0 {
		t.Fatalf("damage reported: %+v", d)
	}
	putReplayable(t, s, 2)
	putSynced(t, s, 3)
	s = powerLoss(s)
	if !has(s, 1) || !has(s, 2) || !has(s, 3) {
		t.Fatalf("after a power loss: 1 %v, 2 %v, 3 %v; want all", has(s, 1), has(s, 2), has(s, 3))
	}
	if d := s.OpenReport().Damage; len(d) != 0 {
		t.Fatalf("damage reported: %+v", d)
	}
	// An Op that writes nothing (a replicated stream's snapshot barrier,
	// after which raft may compact its log) still makes every earlier
	// batch durable before it is done.
	putReplayable(t, s, 4)
	if err := s.Do(func(*Batch) error { return nil }); err != nil {
		t.Fatal(err)
	}
	s = powerLoss(s)
	defer s.Close()
	if !has(s, 4) {
		t.Fatal("a Replayable Op before an empty one was lost in a power loss")
	}
}

// replayableFunc is a Replayable Op running fn.
type replayableFunc struct {
	fn   func(b *Batch) error
	done chan error
}

func (o *replayableFunc) Apply(b *Batch) error { return o.fn(b) }
func (o *replayableFunc) Done(err error)       { o.done <- err }
func (o *replayableFunc) Replayable() bool     { return true }

// TestReplayableOpsAndTheManifest: a Replayable batch that creates a
// stream makes the store write its manifest at once; the batch and the
// messages before it must reach the disk first, or a power loss would
// leave a manifest claiming sequences the store lost (reported as damage).
func TestReplayableOpsAndTheManifest(t *testing.T) {
	fs := vfs.NewStrictMem()
	s, err := Open(Options{Dir: "db", FS: fs, Sync: SyncAlways, SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	op := &replayableFunc{done: make(chan error, 1), fn: func(b *Batch) error {
		if err := b.PutMeta("R", 1, []byte(`{"id":1}`)); err != nil {
			return err
		}
		return b.PutMsg(1, &Msg{Seq: 1, Subject: []byte("r"), Data: []byte("x")})
	}}
	s.Submit(op)
	if err := <-op.done; err != nil {
		t.Fatal(err)
	}
	fs.SetIgnoreSyncs(true)
	s.Close()
	fs.ResetToSyncedState()
	fs.SetIgnoreSyncs(false)
	s, err = Open(Options{Dir: "db", FS: fs, Sync: SyncAlways, SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if d := s.OpenReport().Damage; len(d) != 0 {
		t.Fatalf("damage reported: %+v", d)
	}
	if _, err := s.Reader().Msg(1, 1); err != nil {
		t.Fatalf("message of the stream the manifest holds: %v", err)
	}
}

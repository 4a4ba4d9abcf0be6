package consensus

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// WriteBatch gathers the writes of any number of groups into one Pebble
// batch: a host puts every group's Ready of one loop iteration in one
// batch and commits it with one fsync. The groups' in-memory state changes
// only when Commit succeeds, so raft never reads what is not on disk.
type WriteBatch struct {
	store  *Store
	b      *pebble.Batch
	staged map[*GroupStorage]*groupState
	order  []*GroupStorage
}

// NewBatch starts an empty batch.
func (s *Store) NewBatch() *WriteBatch {
	return &WriteBatch{store: s, b: s.DB().NewBatch(), staged: make(map[*GroupStorage]*groupState)}
}

// Pebble returns the underlying batch, so that a caller may add its own
// writes (a state machine's) to the same commit.
func (wb *WriteBatch) Pebble() *pebble.Batch { return wb.b }

// Empty reports whether nothing was written: no record, and no group's
// state changed (a hard state alone is written at Commit).
func (wb *WriteBatch) Empty() bool { return wb.b.Empty() && len(wb.order) == 0 }

func (wb *WriteBatch) stage(g *GroupStorage) *groupState {
	if st, ok := wb.staged[g]; ok {
		return st
	}
	st := g.state().clone()
	wb.staged[g] = st
	wb.order = append(wb.order, g)
	return st
}

// Append writes entries (consecutive, as raft hands them in Ready.Entries)
// and discards any stored entries at or after the first of them, as raft
// requires.
func (wb *WriteBatch) Append(g *GroupStorage, ents []*pb.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	st := wb.stage(g)
	first := ents[0].GetIndex()
	if first <= st.trunc.index {
		return fmt.Errorf("consensus: group %d: append at %d, compacted through %d", g.group, first, st.trunc.index)
	}
	if first > st.hard.lastIndex+1 {
		return fmt.Errorf("consensus: group %d: append at %d leaves a gap after %d", g.group, first, st.hard.lastIndex)
	}
	if first <= st.hard.lastIndex {
		if err := wb.b.DeleteRange(entryKey(g.group, first), entryKey(g.group, st.hard.lastIndex+1), nil); err != nil {
			return err
		}
	}
	for i, e := range ents {
		if e.GetIndex() != first+uint64(i) {
			return fmt.Errorf("consensus: group %d: entries not consecutive at %d", g.group, e.GetIndex())
		}
		k := entryKey(g.group, e.GetIndex())
		if err := wb.b.Set(k, encodeEntry(k, e), nil); err != nil {
			return err
		}
	}
	st.terms = appendTermRuns(st.terms, first, func(yield func(uint64) bool) {
		for _, e := range ents {
			if !yield(e.GetTerm()) {
				return
			}
		}
	})
	st.cache = st.cache.appended(ents, int(g.store.cacheLimit.Load()))
	last := ents[len(ents)-1]
	st.hard.lastIndex, st.hard.lastTerm = last.GetIndex(), last.GetTerm()
	return nil
}

// SetHardState records raft's HardState.
func (wb *WriteBatch) SetHardState(g *GroupStorage, hs *pb.HardState) {
	st := wb.stage(g)
	st.hard.term, st.hard.vote, st.hard.commit = hs.GetTerm(), hs.GetVote(), hs.GetCommit()
}

// SetConfState records the group's configuration (at bootstrap, or after a
// configuration change is applied).
func (wb *WriteBatch) SetConfState(g *GroupStorage, cs *pb.ConfState) error {
	st := wb.stage(g)
	st.conf = proto.CloneOf(cs)
	k := kindKey(g.group, kindConf)
	return wb.b.Set(k, encodeProto(k, cs), nil)
}

// setConfAt records the configuration that results from the change in
// entry index, and that index, so that the change is never applied to
// raft twice (group.applyConfChange).
func (wb *WriteBatch) setConfAt(g *GroupStorage, cs *pb.ConfState, index uint64) error {
	if err := wb.SetConfState(g, cs); err != nil {
		return err
	}
	wb.stage(g).confIndex = index
	k := kindKey(g.group, kindConfIndex)
	return wb.b.Set(k, sealRecord(k, binary.BigEndian.AppendUint64(nil, index)), nil)
}

// ApplySnapshot replaces the group's log with a snapshot received from the
// leader: every entry goes, the log restarts after the snapshot's index.
func (wb *WriteBatch) ApplySnapshot(g *GroupStorage, snap *pb.Snapshot) error {
	st := wb.stage(g)
	md := snap.GetMetadata()
	if md.GetIndex() <= st.trunc.index {
		return fmt.Errorf("consensus: group %d: snapshot at %d is not after %d", g.group, md.GetIndex(), st.trunc.index)
	}
	if err := wb.b.DeleteRange(entryKey(g.group, 0), entryKey(g.group, ^uint64(0)), nil); err != nil {
		return err
	}
	if err := wb.putSnapshot(g, st, snap); err != nil {
		return err
	}
	st.trunc = truncRecord{md.GetIndex(), md.GetTerm()}
	st.hard.lastIndex, st.hard.lastTerm = md.GetIndex(), md.GetTerm()
	st.terms, st.cache = nil, entryCache{}
	if st.hard.term < md.GetTerm() {
		st.hard.term = md.GetTerm()
	}
	if st.hard.commit < md.GetIndex() {
		st.hard.commit = md.GetIndex()
	}
	return wb.setConfAt(g, md.GetConfState(), md.GetIndex())
}

// CreateSnapshot stores a snapshot of the state machine taken at index
// (which must be applied, hence in the log) and compacts the log through
// compactTo (at most index): the entries a slow follower may still fetch
// stay, older ones go.
func (wb *WriteBatch) CreateSnapshot(g *GroupStorage, index uint64, data []byte, compactTo uint64) error {
	st := wb.stage(g)
	if st.snap != nil && index <= st.snap.GetMetadata().GetIndex() {
		return nil
	}
	if index <= st.trunc.index || index > st.hard.lastIndex {
		return fmt.Errorf("consensus: group %d: snapshot at %d outside log (%d, %d]", g.group, index, st.trunc.index, st.hard.lastIndex)
	}
	term, err := g.Term(index)
	if err != nil {
		return fmt.Errorf("consensus: group %d: snapshot term: %w", g.group, err)
	}
	snap := &pb.Snapshot{Data: data, Metadata: &pb.SnapshotMetadata{
		Index: new(index), Term: new(term), ConfState: proto.CloneOf(st.conf),
	}}
	if err := wb.putSnapshot(g, st, snap); err != nil {
		return err
	}
	if compactTo > index {
		compactTo = index
	}
	if compactTo <= st.trunc.index {
		return nil
	}
	cterm, err := g.Term(compactTo)
	if err != nil {
		return fmt.Errorf("consensus: group %d: compaction term: %w", g.group, err)
	}
	if err := wb.b.DeleteRange(entryKey(g.group, 0), entryKey(g.group, compactTo+1), nil); err != nil {
		return err
	}
	st.trunc = truncRecord{compactTo, cterm}
	st.cache = st.cache.compacted(compactTo)
	return nil
}

func (wb *WriteBatch) putSnapshot(g *GroupStorage, st *groupState, snap *pb.Snapshot) error {
	st.snap = snap
	k := kindKey(g.group, kindSnapshot)
	return wb.b.Set(k, encodeProto(k, snap), nil)
}

// setRecovering marks or clears the group's recovery of lost state.
func (wb *WriteBatch) setRecovering(g *GroupStorage, on bool) error {
	st := wb.stage(g)
	st.recovering = on
	k := kindKey(g.group, kindRecovering)
	if on {
		return wb.b.Set(k, sealRecord(k, nil), nil)
	}
	return wb.b.Delete(k, nil)
}

// Commit writes the batch, with an fsync if sync is set (raft's
// Ready.MustSync, or always: Wisp's default), then makes the new state
// visible to raft. The batch cannot be used again.
func (wb *WriteBatch) Commit(sync bool) error {
	for _, g := range wb.order {
		st := wb.staged[g]
		k := kindKey(g.group, kindState)
		if err := wb.b.Set(k, encodeState(k, st.hard), nil); err != nil {
			return err
		}
		k = kindKey(g.group, kindTrunc)
		if err := wb.b.Set(k, encodeTrunc(k, st.trunc), nil); err != nil {
			return err
		}
	}
	opt := pebble.NoSync
	if sync {
		opt = pebble.Sync
	}
	s := wb.store
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	w, seq := s.witness, s.seq+1
	if sync && w != nil {
		var p [8]byte
		binary.BigEndian.PutUint64(p[:], seq)
		if err := wb.b.Set(seqKey, sealRecord(seqKey, p[:]), nil); err != nil {
			return err
		}
	}
	// A failed commit fails the store (faults.go): the batch may or may not
	// have reached the disk, and this instance of Pebble takes no more.
	err := s.guarded(func(*pebble.DB) error { return wb.b.Commit(opt) })
	wb.Close()
	if err != nil {
		return fmt.Errorf("consensus: commit raft batch: %w", err)
	}
	s.commits.Add(1)
	if sync {
		s.syncs.Add(1)
	}
	if sync && w != nil {
		// Only now is batch seq durable in Pebble; the witness may say so.
		if err := w.write(seq); err != nil {
			return s.markFailed(err)
		}
		s.seq = seq
	}
	for _, g := range wb.order {
		g.mu.Lock()
		g.st = wb.staged[g]
		g.mu.Unlock()
	}
	return nil
}

// Close discards an uncommitted batch; it is a no-op after Commit.
func (wb *WriteBatch) Close() {
	if wb.b != nil {
		wb.b.Close()
		wb.b = nil
	}
}

// resetLog removes every entry and the snapshot: the group starts from
// index 0 again, keeping its hard state's term and vote.
func (wb *WriteBatch) resetLog(g *GroupStorage) error {
	st := wb.stage(g)
	if err := wb.b.DeleteRange(entryKey(g.group, 0), entryKey(g.group, ^uint64(0)), nil); err != nil {
		return err
	}
	if err := wb.b.Delete(kindKey(g.group, kindSnapshot), nil); err != nil {
		return err
	}
	if err := wb.b.Delete(kindKey(g.group, kindStreamed), nil); err != nil {
		return err
	}
	st.snap, st.trunc, st.streamed = nil, truncRecord{}, streamedRecord{}
	st.hard.lastIndex, st.hard.lastTerm, st.hard.commit = 0, 0, 0
	st.terms, st.cache = nil, entryCache{}
	return nil
}

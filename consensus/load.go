package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble"
	pb "go.etcd.io/raft/v3/raftpb"
)

// LoadReport says what OpenGroup found on disk.
type LoadReport struct {
	// Existed is true when the group had any record on this node.
	Existed bool
	// Damaged is true when verification failed on this open: a record did
	// not verify, or the log's tail is missing. The group now holds only
	// what verified, and is Recovering.
	Damaged bool
	// Problems says what failed, for the log and for tests.
	Problems []string
	// Kept is the last log index kept.
	Kept uint64
}

// OpenGroup loads a group's log, verifying every record. What verifies is
// kept; from the first record that fails (or the first missing entry) on,
// the rest of the log is removed. A group that lost anything is marked
// recovering, durably, before OpenGroup returns: see recovery.go for why
// such a replica must neither vote nor campaign until it has caught up.
func (s *Store) OpenGroup(group uint64) (*GroupStorage, LoadReport, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.groups[group]; ok {
		return nil, LoadReport{}, fmt.Errorf("%w: %d", ErrGroupOpen, group)
	}
	g := &GroupStorage{store: s, group: group}
	st, rep, err := s.load(group)
	if err != nil {
		return nil, rep, err
	}
	g.st = st
	if rep.Damaged {
		s.log.Warn("raft log damaged: keeping the verified prefix; the replica will not vote until it has caught up",
			"group", group, "kept_last_index", rep.Kept, "problems", rep.Problems)
		wb := s.NewBatch()
		if err := wb.b.DeleteRange(groupPrefix(group), groupEnd(group), nil); err != nil {
			wb.Close()
			return nil, rep, err
		}
		if err := s.rewrite(wb, g, group); err != nil {
			wb.Close()
			return nil, rep, err
		}
		if err := wb.Commit(true); err != nil {
			return nil, rep, err
		}
	}
	s.groups[group] = g
	return g, rep, nil
}

// HasGroup reports whether the store holds any record of group: false
// for a group this node never had (or whose records were deleted).
func (s *Store) HasGroup(group uint64) (bool, error) {
	it, err := s.DB().NewIter(&pebble.IterOptions{LowerBound: groupPrefix(group), UpperBound: groupEnd(group)})
	if err != nil {
		return false, fmt.Errorf("consensus: look for group %d: %w", group, err)
	}
	found := it.First()
	if err := it.Close(); err != nil {
		return false, fmt.Errorf("consensus: look for group %d: %w", group, err)
	}
	return found, nil
}

// CloseGroup forgets an open group (its records stay).
func (s *Store) CloseGroup(group uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.groups, group)
}

// rewrite writes back, after the group's keys were cleared, everything
// that verified: snapshot, configuration, entries through hard.lastIndex,
// and the recovering mark. The state and truncation records are written
// by Commit.
func (s *Store) rewrite(wb *WriteBatch, g *GroupStorage, group uint64) error {
	st := wb.stage(g)
	if st.snap != nil {
		if err := wb.putSnapshot(g, st, st.snap); err != nil {
			return err
		}
	}
	if st.conf != nil {
		if err := wb.setConfAt(g, st.conf, st.confIndex); err != nil {
			return err
		}
	}
	if st.hard.lastIndex > st.trunc.index {
		ents, err := s.verifiedEntries(group, st.trunc.index+1, st.hard.lastIndex)
		if err != nil {
			return err
		}
		for _, e := range ents {
			k := entryKey(group, e.GetIndex())
			if err := wb.b.Set(k, encodeEntry(k, e), nil); err != nil {
				return err
			}
		}
	}
	return wb.setRecovering(g, true)
}

func (s *Store) get(key []byte) ([]byte, bool, error) {
	v, closer, err := s.DB().Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, true, nil
}

// load reads and verifies one group's records.
func (s *Store) load(group uint64) (*groupState, LoadReport, error) {
	var rep LoadReport
	st := &groupState{conf: &pb.ConfState{}}
	damage := func(format string, args ...any) {
		rep.Damaged = true
		rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
	}
	read := func(kind byte, decode func(k, v []byte) error) (bool, error) {
		k := kindKey(group, kind)
		v, ok, err := s.get(k)
		if err != nil || !ok {
			return false, err
		}
		rep.Existed = true
		if err := decode(k, v); err != nil {
			damage("%c record: %v", kind, err)
			return false, nil
		}
		return true, nil
	}

	var hard stateRecord
	hasHard, err := read(kindState, func(k, v []byte) (err error) { hard, err = decodeState(k, v); return })
	if err != nil {
		return nil, rep, err
	}
	var trunc truncRecord
	hasTrunc, err := read(kindTrunc, func(k, v []byte) (err error) { trunc, err = decodeTrunc(k, v); return })
	if err != nil {
		return nil, rep, err
	}
	snap := &pb.Snapshot{}
	hasSnap, err := read(kindSnapshot, func(k, v []byte) error { return decodeProto(k, v, snap) })
	if err != nil {
		return nil, rep, err
	}
	conf := &pb.ConfState{}
	hasConf, err := read(kindConf, func(k, v []byte) error { return decodeProto(k, v, conf) })
	if err != nil {
		return nil, rep, err
	}
	var confIndex uint64
	hasConfIndex, err := read(kindConfIndex, func(k, v []byte) error {
		p, err := openRecord(k, v)
		if err == nil && len(p) != 8 {
			err = fmt.Errorf("%w: configuration index of %d bytes", ErrCorrupt, len(p))
		}
		if err == nil {
			confIndex = binary.BigEndian.Uint64(p)
		}
		return err
	})
	if err != nil {
		return nil, rep, err
	}
	_, err = read(kindStreamed, func(k, v []byte) (err error) { st.streamed, err = decodeStreamed(k, v); return })
	if err != nil {
		return nil, rep, err
	}
	_, err = read(kindRecovering, func(k, v []byte) error { st.recovering = true; _, err := openRecord(k, v); return err })
	if err != nil {
		return nil, rep, err
	}

	if hasSnap {
		st.snap = snap
	}
	switch {
	case hasConf:
		st.conf = conf
		if hasConfIndex {
			st.confIndex = confIndex
		}
	case hasSnap:
		st.conf = snap.GetMetadata().GetConfState()
		st.confIndex = snap.GetMetadata().GetIndex()
	}
	switch {
	case hasTrunc:
		st.trunc = trunc
	case hasSnap:
		// The log was compacted at most to the snapshot: start there.
		md := snap.GetMetadata()
		st.trunc = truncRecord{md.GetIndex(), md.GetTerm()}
	}
	if st.trunc.index > 0 && (!hasSnap || snap.GetMetadata().GetIndex() < st.trunc.index) {
		// Entries before the log's start exist nowhere on this node: the
		// log cannot be used without them. Start from nothing.
		damage("log compacted through %d without a snapshot covering it", st.trunc.index)
		st.trunc, st.snap = truncRecord{}, nil
	}

	// Scan the entries that follow the compaction point, in order.
	last, lastTerm, scanned, err := s.scanEntries(group, st.trunc)
	if err != nil {
		return nil, rep, err
	}
	if scanned.entries > 0 {
		rep.Existed = true
	}
	if scanned.problem != "" {
		damage("%s", scanned.problem)
	}
	if hasHard {
		st.hard = hard
		if last < hard.lastIndex {
			damage("log ends at %d, state says %d", last, hard.lastIndex)
		} else if last > hard.lastIndex {
			// Entries past the recorded end can only come from a damaged
			// state record or a stray write: trust neither.
			damage("entries after the recorded end %d (through %d)", hard.lastIndex, last)
			last, lastTerm = hard.lastIndex, hard.lastTerm
			if last < st.trunc.index {
				last, lastTerm = st.trunc.index, st.trunc.term
			}
		} else if lastTerm != hard.lastTerm {
			damage("last entry %d has term %d, state says %d", last, lastTerm, hard.lastTerm)
		}
	} else if rep.Existed {
		damage("no state record")
	}
	st.hard.lastIndex, st.hard.lastTerm = last, lastTerm
	if st.hard.commit > last {
		st.hard.commit = last
	}
	if st.hard.term < lastTerm {
		st.hard.term = lastTerm
	}
	if rep.Damaged {
		st.recovering = true
	}
	rep.Kept = last
	return st, rep, nil
}

type scanResult struct {
	entries int
	problem string
}

// scanEntries walks the entries after trunc and returns the last index and
// term of the verified, gap-free run starting right after trunc.
func (s *Store) scanEntries(group uint64, trunc truncRecord) (last, lastTerm uint64, res scanResult, err error) {
	it, err := s.DB().NewIter(&pebble.IterOptions{
		LowerBound: entryKey(group, 0),
		UpperBound: entryKey(group, ^uint64(0)),
	})
	if err != nil {
		return 0, 0, res, err
	}
	defer it.Close()
	last, lastTerm = trunc.index, trunc.term
	for ok := it.SeekGE(entryKey(group, trunc.index+1)); ok; ok = it.Next() {
		res.entries++
		idx, _ := keyIndex(it.Key())
		e, derr := decodeEntry(it.Key(), it.Value())
		switch {
		case derr != nil:
			res.problem = fmt.Sprintf("entry %d: %v", idx, derr)
		case idx != last+1:
			res.problem = fmt.Sprintf("entry %d missing (next found %d)", last+1, idx)
		case e.GetTerm() < lastTerm:
			res.problem = fmt.Sprintf("entry %d has term %d below its predecessor's %d", idx, e.GetTerm(), lastTerm)
		}
		if res.problem != "" {
			return last, lastTerm, res, it.Error()
		}
		last, lastTerm = idx, e.GetTerm()
	}
	return last, lastTerm, res, it.Error()
}

// verifiedEntries reads entries [lo, hi], which load has verified.
func (s *Store) verifiedEntries(group, lo, hi uint64) ([]*pb.Entry, error) {
	g := &GroupStorage{store: s, group: group}
	return g.read(lo, hi+1, ^uint64(0))
}

// deleteGroup removes every record of a closed group, durably.
func (s *Store) deleteGroup(group uint64) error {
	if err := s.guarded(func(db *pebble.DB) error { return db.DeleteRange(groupPrefix(group), groupEnd(group), pebble.Sync) }); err != nil {
		return fmt.Errorf("consensus: delete group %d: %w", group, err)
	}
	return nil
}

package consensus

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Store keeps the raft logs of many groups in one Pebble database. Each
// group's part is a GroupStorage, which raft reads through the raft.Storage
// interface; writes go through a WriteBatch, so that the Readys of many
// groups reach the disk in one batch and one fsync.
//
// The database may hold other data: every key of this package starts with
// its own prefix (keys.go). Store does not own the database and does not
// close it, except a failed instance it replaces through the owner's
// ReopenFunc (faults.go).
type Store struct {
	inst atomic.Pointer[instance]
	log  *slog.Logger

	mu       sync.Mutex
	groups   map[uint64]*GroupStorage
	commitMu sync.Mutex // one batch commits at a time (the witness's order)
	witness  *witness   // nil unless UseWitness
	seq      uint64     // sequence of the last synced batch (witness.go)

	commits, syncs atomic.Uint64 // batches committed, and those synced
	cacheLimit     atomic.Int64  // bytes of each group's entry cache (entrycache.go)

	faults // storage failures and reopening (faults.go)
}

// instance is one open of the database, with the guard of its fatal
// errors (nil when the owner opened it without one).
type instance struct {
	db    *pebble.DB
	guard *FatalGuard
}

// NewStore returns a Store over db. A nil logger discards.
func NewStore(db *pebble.DB, logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{log: logger, groups: make(map[uint64]*GroupStorage)}
	s.cacheLimit.Store(defaultEntryCacheBytes)
	s.inst.Store(&instance{db: db})
	return s
}

// DB returns the database the store uses now: after Reopen, a new one.
func (s *Store) DB() *pebble.DB { return s.inst.Load().db }

// groupState is what a GroupStorage keeps in memory: everything but the
// entries themselves, which are read from Pebble, except the latest ones
// (cache).
type groupState struct {
	hard       stateRecord
	conf       *pb.ConfState
	confIndex  uint64       // the last entry whose change conf holds (0: none or unknown)
	snap       *pb.Snapshot // latest snapshot, nil if none
	trunc      truncRecord  // the log holds entries after trunc.index
	recovering bool
	// streamed is the latest streamed state installed over snapshot
	// streamed.snap (state_stream.go); zero if none.
	streamed streamedRecord
	// terms covers the entries from terms[0].first through
	// hard.lastIndex (terms.go); nil after a load, a snapshot or a reset
	// until entries are appended. Replaced, never written in place.
	terms []termRun
	// cache holds the log's latest entries (entrycache.go); empty after a
	// load, a snapshot or a reset until entries are appended.
	cache entryCache
}

func (s *groupState) clone() *groupState {
	c := *s
	return &c
}

// GroupStorage is one group's log. It implements raft.Storage; the
// methods are safe for concurrent use, though raft calls them from one
// goroutine. Entries returned may be shared with the cache of recent
// entries (entrycache.go): the caller owns the slice, not the entries,
// which nobody modifies.
type GroupStorage struct {
	store *Store
	group uint64

	mu sync.Mutex
	st *groupState
}

var _ raft.Storage = (*GroupStorage)(nil)

// ErrGroupOpen is returned by OpenGroup for a group already open.
var ErrGroupOpen = errors.New("consensus: group already open")

// Group reports the id of the group.
func (g *GroupStorage) Group() uint64 { return g.group }

// InitialState implements raft.Storage.
func (g *GroupStorage) InitialState() (*pb.HardState, *pb.ConfState, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	h := g.st.hard
	hs := &pb.HardState{Term: new(h.term), Vote: new(h.vote), Commit: new(h.commit)}
	return hs, proto.CloneOf(g.st.conf), nil
}

// FirstIndex implements raft.Storage.
func (g *GroupStorage) FirstIndex() (uint64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.st.trunc.index + 1, nil
}

// LastIndex implements raft.Storage.
func (g *GroupStorage) LastIndex() (uint64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.st.hard.lastIndex, nil
}

// Term implements raft.Storage.
func (g *GroupStorage) Term(i uint64) (uint64, error) {
	g.mu.Lock()
	st := g.st
	g.mu.Unlock()
	switch {
	case i == st.trunc.index:
		return st.trunc.term, nil
	case i < st.trunc.index:
		return 0, raft.ErrCompacted
	case i > st.hard.lastIndex:
		return 0, raft.ErrUnavailable
	case i == st.hard.lastIndex:
		return st.hard.lastTerm, nil
	}
	if t, ok := termOf(st.terms, i, st.hard.lastIndex); ok {
		return t, nil
	}
	if st.cache.covers(i) {
		return st.cache.ents[i-st.cache.first].GetTerm(), nil
	}
	ents, err := g.read(i, i+1, 0)
	if err != nil {
		return 0, err
	}
	return ents[0].GetTerm(), nil
}

// Entries implements raft.Storage.
func (g *GroupStorage) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	g.mu.Lock()
	st := g.st
	g.mu.Unlock()
	if lo <= st.trunc.index {
		return nil, raft.ErrCompacted
	}
	if hi > st.hard.lastIndex+1 || lo > hi {
		return nil, raft.ErrUnavailable
	}
	if lo == hi {
		return nil, nil
	}
	if st.cache.covers(lo) {
		return st.cache.slice(lo, hi, maxSize), nil
	}
	return g.read(lo, hi, maxSize)
}

// read decodes entries [lo, hi) from Pebble, stopping after maxSize bytes
// (but always returning at least one; 0 means one only, as raft defines).
func (g *GroupStorage) read(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	it, err := g.store.DB().NewIter(&pebble.IterOptions{
		LowerBound: entryKey(g.group, lo),
		UpperBound: entryKey(g.group, hi),
	})
	if err != nil {
		return nil, g.store.readFailed(fmt.Errorf("consensus: group %d: read entries: %w", g.group, err))
	}
	defer it.Close()
	var out []*pb.Entry
	var size uint64
	next := lo
	for ok := it.First(); ok; ok = it.Next() {
		e, err := decodeEntry(it.Key(), it.Value())
		if err != nil {
			return nil, g.store.readFailed(fmt.Errorf("consensus: group %d: entry %d: %w", g.group, next, err))
		}
		if e.GetIndex() != next {
			break
		}
		size += uint64(proto.Size(e))
		if len(out) > 0 && size > maxSize {
			break
		}
		out = append(out, e)
		next++
	}
	if err := it.Error(); err != nil {
		return nil, g.store.readFailed(fmt.Errorf("consensus: group %d: read entries: %w", g.group, err))
	}
	if len(out) == 0 {
		// Raft asked for entries its bookkeeping says exist: their absence is
		// damage that appeared after loading, not a normal condition.
		return nil, g.store.readFailed(fmt.Errorf("consensus: group %d: entry %d missing: %w", g.group, lo, raft.ErrUnavailable))
	}
	return out, nil
}

// Snapshot implements raft.Storage: the latest snapshot, with its data.
// One older than the last membership change is not offered (raft asks
// again later): a replica added by the change would not be among its
// voters. The host takes a new one once it has applied the change.
func (g *GroupStorage) Snapshot() (*pb.Snapshot, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.st.snap == nil {
		return &pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: proto.CloneOf(g.st.conf)}}, nil
	}
	if g.st.snap.GetMetadata().GetIndex() < g.st.confIndex {
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	return g.st.snap, nil
}

// Recovering reports whether the group lost state on this node and has not
// yet caught up with its peers (see recovery.go).
func (g *GroupStorage) Recovering() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.st.recovering
}

// HardState returns the durable term, vote and commit index.
func (g *GroupStorage) HardState() (term, vote, commit uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.st.hard.term, g.st.hard.vote, g.st.hard.commit
}

// ConfState returns a copy of the group's configuration.
func (g *GroupStorage) ConfState() *pb.ConfState {
	g.mu.Lock()
	defer g.mu.Unlock()
	return proto.CloneOf(g.st.conf)
}

func (g *GroupStorage) state() *groupState {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.st
}

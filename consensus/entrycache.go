package consensus

import (
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The latest entries of a group's log, kept in memory.
//
// Once the host has persisted a Ready, raft drops the entries from its own
// unstable log and asks Storage.Entries for them again: the leader to send
// them to followers, every replica to hand committed ones to its state
// machine. Read from Pebble, each call opens an iterator and decodes the
// entries, often from compressed sstable blocks; under a stream of
// publishes that was half of a leader's CPU. Nearly every such read is of
// entries appended moments before, so a group keeps the tail of its log,
// bounded in bytes, and reads older entries (a far-behind follower, a
// restart) from Pebble as before. The host drops the entries every replica
// holds and this one applied (releaseSettled), so only a busy group's
// entries in flight stay in memory.

// defaultEntryCacheBytes bounds each group's cache. An R3 stream under
// asynchronous publishing has a few hundred entries in flight; this holds
// thousands of small entries, or a few of the largest messages.
const defaultEntryCacheBytes = 1 << 20

// entryCache holds the entries from first through first+len(ents)-1,
// which is always the log's last index; empty holds nothing. Like the rest
// of a groupState it is replaced, never written where an older state may
// read it: ents may share an array with an older cache only beyond that
// cache's length.
type entryCache struct {
	first uint64
	ents  []*pb.Entry
	sizes []uint32 // proto size of each entry, for maxSize and the bound
	bytes uint64   // sum of sizes
}

// covers reports whether entry i is in the cache.
func (c *entryCache) covers(i uint64) bool {
	return len(c.ents) > 0 && i >= c.first && i < c.first+uint64(len(c.ents))
}

// slice returns the entries [lo, hi), all of them in the cache, stopping
// after maxSize bytes as Storage.Entries defines (at least one). The
// returned slice is the caller's; the entries themselves are shared and
// never modified.
func (c *entryCache) slice(lo, hi, maxSize uint64) []*pb.Entry {
	from, to := lo-c.first, hi-c.first
	n, size := uint64(0), uint64(0)
	for k := from; k < to; k++ {
		size += uint64(c.sizes[k])
		if n > 0 && size > maxSize {
			break
		}
		n++
	}
	return append([]*pb.Entry(nil), c.ents[from:from+n]...)
}

// appended returns the cache after raft's append of ents (consecutive,
// from ents[0]'s index), which replaces any entry at or after that index.
// limit bounds the result's bytes; 0 or less disables the cache.
func (c entryCache) appended(ents []*pb.Entry, limit int) entryCache {
	if limit <= 0 || len(ents) == 0 {
		return entryCache{}
	}
	first := ents[0].GetIndex()
	switch {
	case len(c.ents) == 0 || first < c.first || first > c.first+uint64(len(c.ents)):
		// Nothing kept, or the new entries do not continue what is: start
		// again at them.
		c = entryCache{first: first}
	case first < c.first+uint64(len(c.ents)):
		// A conflict: the entries from first on are replaced. Copy what
		// stays, since an older state may still read the old array there.
		keep := first - c.first
		c.ents = append([]*pb.Entry(nil), c.ents[:keep]...)
		c.sizes = append([]uint32(nil), c.sizes[:keep]...)
		c.bytes = 0
		for _, s := range c.sizes {
			c.bytes += uint64(s)
		}
	}
	for _, e := range ents {
		s := uint32(proto.Size(e))
		c.ents = append(c.ents, e)
		c.sizes = append(c.sizes, s)
		c.bytes += uint64(s)
	}
	if c.bytes > uint64(limit) {
		c = c.evict(uint64(limit) * 3 / 4)
	}
	return c
}

// evict drops the oldest entries until at most target bytes remain, into
// fresh arrays: what was dropped is no longer referenced, and the copying
// is paid once per quarter of the bound appended.
func (c entryCache) evict(target uint64) entryCache {
	k := 0
	for k < len(c.ents) && c.bytes > target {
		c.bytes -= uint64(c.sizes[k])
		k++
	}
	out := entryCache{first: c.first + uint64(k), bytes: c.bytes}
	if k < len(c.ents) {
		out.ents = append(make([]*pb.Entry, 0, 2*(len(c.ents)-k)), c.ents[k:]...)
		out.sizes = append(make([]uint32, 0, 2*(len(c.sizes)-k)), c.sizes[k:]...)
	}
	return out
}

// compacted returns the cache without the entries through index.
func (c entryCache) compacted(index uint64) entryCache {
	if len(c.ents) == 0 || index < c.first {
		return c
	}
	if !c.covers(index + 1) {
		return entryCache{}
	}
	// Into fresh arrays, as evict does: compaction is rare.
	k := index + 1 - c.first
	bytes := c.bytes
	for _, s := range c.sizes[:k] {
		bytes -= uint64(s)
	}
	return c.evict(bytes)
}

// SetEntryCacheBytes sets the bound of each group's cache of its latest
// entries; 0 or less turns the cache off, so that every read is from
// Pebble (for tests that damage the log under a running group). It applies
// from each group's next append.
func (s *Store) SetEntryCacheBytes(n int) { s.cacheLimit.Store(int64(n)) }

// releaseCached drops the cached entries through index, which no reader
// needs any more (the host's judgement, releaseSettled); a later read of
// them goes to Pebble. It changes memory only, and only when that frees
// at least half of the cache, or all of it, so that a busy group does not
// copy its cache on every iteration.
func (g *GroupStorage) releaseCached(index uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.st.cache
	if len(c.ents) == 0 || index < c.first {
		return
	}
	next := entryCache{}
	if c.covers(index + 1) {
		dropped := uint64(0)
		for _, s := range c.sizes[:index+1-c.first] {
			dropped += uint64(s)
		}
		if dropped < c.bytes/2 {
			return
		}
		next = c.evict(c.bytes - dropped)
	}
	st := g.st.clone()
	st.cache = next
	g.st = st
}

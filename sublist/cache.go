package sublist

import (
	"hash/maphash"
	"math/rand/v2"
	"sync/atomic"
)

// ways is the associativity of the cache: a subject may live in any of the
// ways slots of the one set its hash picks. Four 8-byte slots share a cache
// line, so a lookup touches one line of slots plus the entries it compares.
const ways = 4

// DefaultCacheSize is the capacity used when New is given cacheSize <= 0.
const DefaultCacheSize = 4096

// cache maps published subjects to their shared Result.
//
// It is a fixed array of atomic pointers to immutable entries, grouped into
// sets of `ways` slots, so its size never grows past its capacity and a
// lookup is a hash plus at most `ways` atomic loads: no lock, no write to
// shared memory (except one bit per entry per eviction sweep, below), no
// allocation. Readers therefore scale across cores even on one hot subject.
//
// Writes come from two places, which Sublist keeps apart with its RWMutex:
// fills after a miss run under the read lock (several at once, so they use
// compare-and-swap and may lose a race, which only costs a later miss), and
// updates for Insert/Remove run under the write lock (alone).
//
// Eviction is CLOCK within a set: a hit sets the entry's ref bit (once, so
// a hot entry is not written on every hit); a fill evicts the first entry
// without the bit, clearing bits as it passes. A flood of one-off subjects
// therefore churns among its own unreferenced entries and leaves hot
// subjects cached, and the cache is never cleared wholesale.
type cache[T comparable] struct {
	seed  maphash.Seed
	nsets uint64
	slots []atomic.Pointer[entry[T]]
	n     atomic.Int64 // occupied slots, for Stats
}

// entry is immutable once published, except for the ref hint.
type entry[T comparable] struct {
	subject string
	result  *Result[T]
	ref     atomic.Bool // hit since the last eviction sweep
}

// newCache makes a cache of at least size slots (rounded up to whole sets).
func newCache[T comparable](size int) *cache[T] {
	if size <= 0 {
		size = DefaultCacheSize
	}
	nsets := (size + ways - 1) / ways
	return &cache[T]{
		seed:  maphash.MakeSeed(),
		nsets: uint64(nsets),
		slots: make([]atomic.Pointer[entry[T]], nsets*ways),
	}
}

// capacity is the most entries the cache holds.
func (c *cache[T]) capacity() int { return len(c.slots) }

// hash is the same function for []byte and string keys (maphash guarantees
// Bytes and String agree), so Insert can find a subject that Match cached.
func (c *cache[T]) hash(b []byte) uint64       { return maphash.Bytes(c.seed, b) }
func (c *cache[T]) hashString(s string) uint64 { return maphash.String(c.seed, s) }

// set returns the slots a hash maps to. The multiply-shift range reduction
// works for any number of sets, so capacity need not be a power of two.
func (c *cache[T]) set(h uint64) []atomic.Pointer[entry[T]] {
	i := (h >> 32) * c.nsets >> 32
	return c.slots[i*ways : i*ways+ways : i*ways+ways]
}

// get returns the cached entry for subject, or nil.
func (c *cache[T]) get(h uint64, subject []byte) *entry[T] {
	set := c.set(h)
	for i := range set {
		if e := set[i].Load(); e != nil && e.subject == string(subject) {
			return e
		}
	}
	return nil
}

// touch marks a hit for CLOCK. The load first keeps hot entries' cache
// lines shared between cores instead of written on every hit.
func (e *entry[T]) touch() {
	if !e.ref.Load() {
		e.ref.Store(true)
	}
}

// fill caches r for subject after a miss. Callers hold the Sublist read
// lock, so r is current and no update runs concurrently; other fills may.
func (c *cache[T]) fill(h uint64, subject string, r *Result[T]) {
	set := c.set(h)
	ne := &entry[T]{subject: subject, result: r}
	var full [ways]*entry[T]
	for i := range set {
		e := set[i].Load()
		if e == nil {
			if set[i].CompareAndSwap(nil, ne) {
				c.n.Add(1)
			}
			return
		}
		if e.subject == subject { // a concurrent fill won; its result is as good
			return
		}
		full[i] = e
	}
	v := victim(&full)
	set[v].CompareAndSwap(full[v], ne) // on failure another fill took the slot: fine
}

// victim picks the way to evict by a CLOCK sweep from a random start: the
// first entry not hit since the last sweep, clearing ref bits on the way.
// The random start spreads evictions when every entry is hot.
func victim[T comparable](full *[ways]*entry[T]) int {
	start := int(rand.Uint32() % ways)
	for k := range ways {
		i := (start + k) % ways
		if !full[i].ref.Load() {
			return i
		}
		full[i].ref.Store(false)
	}
	return start
}

// update replaces the entries for one literal subject with edit(result).
// Callers hold the Sublist write lock. Every way is checked because racing
// fills can, rarely, cache the same subject twice.
func (c *cache[T]) update(subject string, edit func(*Result[T]) *Result[T]) {
	set := c.set(c.hashString(subject))
	for i := range set {
		if e := set[i].Load(); e != nil && e.subject == subject {
			set[i].Store(e.edited(edit))
		}
	}
}

// updateMatching replaces the entry of every cached subject that a
// wildcard pattern (split into tokens) matches. This scans the whole cache,
// which costs O(capacity) per wildcard Insert/Remove; it is skipped when the
// cache is empty, and literal patterns never take this path.
func (c *cache[T]) updateMatching(pattern []string, edit func(*Result[T]) *Result[T]) {
	if c.n.Load() == 0 {
		return
	}
	for i := range c.slots {
		if e := c.slots[i].Load(); e != nil && patternMatches(pattern, e.subject) {
			c.slots[i].Store(e.edited(edit))
		}
	}
}

// edited returns a new entry for the same subject with an edited result.
// It is new rather than modified because readers may hold e right now.
func (e *entry[T]) edited(edit func(*Result[T]) *Result[T]) *entry[T] {
	ne := &entry[T]{subject: e.subject, result: edit(e.result)}
	ne.ref.Store(e.ref.Load())
	return ne
}

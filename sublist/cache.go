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
// updates for Insert/Remove run under the write lock (alone). A fill that
// changes a slot marks it in changed; a wildcard update, under the write
// lock, reindexes marked slots and then finds the entries it must edit
// through index, the reverse index of cached subjects (see subjectIndex).
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

	changed slotBitmap    // slots filled since index last saw them
	index   *subjectIndex // used and updated under the write lock only
}

// entry is immutable once published, except for the ref hint.
type entry[T comparable] struct {
	subject string
	result  *Result[T]
	ref     atomic.Bool // hit since the last eviction sweep
}

// newCache makes a cache of at least size slots (rounded up to whole sets),
// and at most the maxIndexedSlots its index can address.
func newCache[T comparable](size int) *cache[T] {
	if size <= 0 {
		size = DefaultCacheSize
	}
	size = min(size, maxIndexedSlots)
	nsets := (size + ways - 1) / ways
	seed := maphash.MakeSeed()
	return &cache[T]{
		seed:    seed,
		nsets:   uint64(nsets),
		slots:   make([]atomic.Pointer[entry[T]], nsets*ways),
		changed: newSlotBitmap(nsets * ways),
		index:   newSubjectIndex(nsets*ways, seed),
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
// (Keep it this small: get, on the hit path, must stay inlinable.)
func (c *cache[T]) set(h uint64) []atomic.Pointer[entry[T]] {
	i := (h >> 32) * c.nsets >> 32
	return c.slots[i*ways : i*ways+ways : i*ways+ways]
}

// setStart returns the number of the first slot of the set a hash maps to.
func (c *cache[T]) setStart(h uint64) int { return int((h>>32)*c.nsets>>32) * ways }

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
	set, first := c.set(h), c.setStart(h)
	ne := &entry[T]{subject: subject, result: r}
	var full [ways]*entry[T]
	for i := range set {
		e := set[i].Load()
		if e == nil {
			if set[i].CompareAndSwap(nil, ne) {
				c.n.Add(1)
				c.changed.mark(first + i)
			}
			return
		}
		if e.subject == subject { // a concurrent fill won; its result is as good
			return
		}
		full[i] = e
	}
	v := victim(&full)
	if set[v].CompareAndSwap(full[v], ne) { // on failure another fill took the slot: fine
		c.changed.mark(first + v)
	}
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
// wildcard pattern (split into tokens) matches, and returns how many slots
// it looked at. Callers hold the Sublist write lock. It looks at the
// candidates the index gives and, when catchUp left slots marked, at those
// slots directly instead of through their stale records; so the cost
// follows the matches and the slots filled since earlier wildcard changes,
// and is never much more than a scan of the cache.
func (c *cache[T]) updateMatching(pattern []string, edit func(*Result[T]) *Result[T]) (looked int) {
	stale := c.catchUp()
	check := func(i int) {
		looked++
		if e := c.slots[i].Load(); e != nil && patternMatches(pattern, e.subject) {
			c.slots[i].Store(e.edited(edit)) // same subject: the index stays as it is
		}
	}
	for i := range c.index.candidates(pattern) {
		if !stale || !c.changed.marked(i) {
			check(i)
		}
	}
	if stale {
		c.changed.each(check)
	}
	return looked
}

// Reindexing a slot unlinks and links a record per token at scattered
// places in the index: 0.4 to 1 µs once the fills since the last change
// have pushed the index out of the CPU caches, where checking the slot's
// entry directly against a pattern, as a full scan of the cache does,
// costs 10 to 20 ns. So keeping the index pays only while few slots are
// refilled between wildcard changes. catchUp reindexes every marked slot
// while they are at most 1/catchUpAll of the cache (costing at most about
// one scan); beyond that it reindexes 1/catchUpStep of the cache per
// change (up to a quarter of a scan) and leaves the rest to be checked
// directly. Under heavy churn a wildcard change thus costs about what a
// scan does, and once churn stops the index catches up. (Measured by
// BenchmarkWildcardAfterMisses; see docs/benchmarks.md.)
const (
	catchUpAll  = 64
	catchUpStep = 256
)

// catchUp brings the index up to date with the slots filled since it last
// was, or part of the way (see catchUpAll), and reports whether slots are
// left marked. Callers hold the Sublist write lock, so no fill runs
// meanwhile.
func (c *cache[T]) catchUp() (stale bool) {
	n := c.changed.count()
	if n <= c.capacity()/catchUpAll {
		c.changed.drain(n, c.reindex)
		return false
	}
	c.changed.drain(max(1, c.capacity()/catchUpStep), c.reindex)
	return true
}

// reindex makes the index hold what slot i holds now.
func (c *cache[T]) reindex(i int) {
	subject := ""
	if e := c.slots[i].Load(); e != nil {
		subject = e.subject
	}
	c.index.set(i, subject)
}

// edited returns a new entry for the same subject with an edited result.
// It is new rather than modified because readers may hold e right now.
func (e *entry[T]) edited(edit func(*Result[T]) *Result[T]) *entry[T] {
	ne := &entry[T]{subject: e.subject, result: edit(e.result)}
	ne.ref.Store(e.ref.Load())
	return ne
}

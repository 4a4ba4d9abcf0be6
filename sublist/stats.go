package sublist

import (
	"sync/atomic"
	"unsafe"
)

// Stats is a point-in-time view of a Sublist's counters. The counters are
// read one by one without a lock, so under concurrent use they are each
// accurate but not mutually consistent (e.g. Matches may trail the hits).
type Stats struct {
	Subs         uint64 // subscriptions held
	CacheEntries uint64 // subjects in the match cache
	Matches      uint64 // Match calls: CacheHits + CacheMisses
	CacheHits    uint64
	CacheMisses  uint64
	Inserts      uint64 // successful Insert calls
	Removes      uint64 // successful Remove calls
	// MaxFanout and AvgFanout describe the cached results: how many
	// deliveries a message on a cached subject makes (each plain
	// subscription, plus one per queue group), at most and on average.
	MaxFanout uint64
	AvgFanout float64
}

// stripes is the number of counter copies Match spreads its counting over.
const stripes = 32

// stripe is one copy of the Match counters, padded to its own pair of cache
// lines (CPUs prefetch lines in pairs) so cores counting in different
// stripes never contend.
type stripe struct {
	hits, misses atomic.Uint64
	_            [128 - 16]byte
}

// matchCounters counts hits and misses without a shared hot spot: a single
// atomic counter bumped by every Match on every core would be the one
// shared write on the lock-free hit path and would cap its scaling. Stats
// sums the stripes.
type matchCounters struct {
	s [stripes]stripe
}

func (m *matchCounters) hit()  { m.s[stripeIndex()].hits.Add(1) }
func (m *matchCounters) miss() { m.s[stripeIndex()].misses.Add(1) }

// stripeIndex picks the calling goroutine's stripe from the address of its
// stack. Each goroutine (one per connection, in a server) has its own
// stack, so concurrent callers land on different stripes and a caller keeps
// its stripe between calls, with no shared state and no random-number cost
// (math/rand/v2 was measured at about half of a cache hit). A stack that
// moves when it grows just changes stripe, which is harmless: the stripe
// only spreads contention, any stripe counts correctly.
func stripeIndex() uint32 {
	var marker byte
	addr := uint64(uintptr(unsafe.Pointer(&marker)))
	return uint32((addr>>11)*0x9E3779B97F4A7C15>>59) % stripes
}

// sum returns the total hits and misses.
func (m *matchCounters) sum() (hits, misses uint64) {
	for i := range m.s {
		hits += m.s[i].hits.Load()
		misses += m.s[i].misses.Load()
	}
	return hits, misses
}

// fanout walks the cache for Stats: the largest and the mean number of
// deliveries among cached results. It reads the slots as Match does, with
// no lock, so it never holds up the message path; a scrape costs one pass
// over the cache's slots.
func (c *cache[T]) fanout() (maxOut uint64, avg float64) {
	var total, n uint64
	for i := range c.slots {
		e := c.slots[i].Load()
		if e == nil {
			continue
		}
		f := uint64(len(e.result.Plain) + len(e.result.Groups))
		maxOut = max(maxOut, f)
		total += f
		n++
	}
	if n > 0 {
		avg = float64(total) / float64(n)
	}
	return maxOut, avg
}

package sublist

import (
	"math/bits"
	"sync/atomic"
)

// slotBitmap marks cache slots whose subject changed since the index last
// looked at them. A fill marks its slot with one atomic OR, so a miss pays
// a few nanoseconds for the index instead of updating it; wildcard Insert
// and Remove, which need the index and hold the write lock, bring marked
// slots up to date (see cache.catchUp). A slot refilled many times in
// between is reindexed once.
//
// A second level of bits, one per word of the first, lets the other
// methods skip clean words, so their cost follows the number of marked
// slots rather than the size of the cache. Only the mark that turns a word
// non-zero touches the second level, which keeps every miss off one shared
// cache line.
//
// mark may run concurrently with other marks (fills hold the Sublist read
// lock); every other method runs alone (under the write lock), so a word
// seen zero by mark is never in the middle of being drained.
type slotBitmap struct {
	words   []atomic.Uint64 // bit i%64 of word i/64: slot i changed
	summary []atomic.Uint64 // bit w%64 of word w/64: words[w] is non-zero
}

func newSlotBitmap(nslots int) slotBitmap {
	nwords := (nslots + 63) / 64
	return slotBitmap{
		words:   make([]atomic.Uint64, nwords),
		summary: make([]atomic.Uint64, (nwords+63)/64),
	}
}

// mark records that slot i changed.
func (b *slotBitmap) mark(i int) {
	w := i / 64
	if b.words[w].Or(1<<(i%64)) == 0 {
		b.summary[w/64].Or(1 << (w % 64))
	}
}

// marked reports whether slot i is marked.
func (b *slotBitmap) marked(i int) bool { return b.words[i/64].Load()&(1<<(i%64)) != 0 }

// count returns the number of marked slots.
func (b *slotBitmap) count() int {
	n := 0
	b.eachWord(func(w int, m uint64) bool {
		n += bits.OnesCount64(m)
		return true
	})
	return n
}

// each calls fn for every marked slot, in ascending order, leaving the
// marks in place.
func (b *slotBitmap) each(fn func(slot int)) {
	b.eachWord(func(w int, m uint64) bool {
		for ; m != 0; m &= m - 1 {
			fn(w*64 + bits.TrailingZeros64(m))
		}
		return true
	})
}

// drain calls fn for at most limit marked slots, in ascending order, and
// clears their marks.
func (b *slotBitmap) drain(limit int, fn func(slot int)) {
	b.eachWord(func(w int, m uint64) bool {
		for ; m != 0 && limit > 0; m &= m - 1 {
			fn(w*64 + bits.TrailingZeros64(m))
			limit--
		}
		b.words[w].Store(m)
		if m == 0 {
			b.summary[w/64].And(^(1 << (w % 64)))
		}
		return limit > 0
	})
}

// eachWord calls fn with every non-zero word and its number, until fn
// returns false.
func (b *slotBitmap) eachWord(fn func(w int, m uint64) bool) {
	for s := range b.summary {
		for sum := b.summary[s].Load(); sum != 0; sum &= sum - 1 {
			w := s*64 + bits.TrailingZeros64(sum)
			if !fn(w, b.words[w].Load()) {
				return
			}
		}
	}
}

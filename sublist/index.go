package sublist

import (
	"hash/maphash"
	"iter"
	"strings"
)

// subjectIndex is a reverse index of the match cache: for every cached
// subject, which slot holds it, reachable by the subject's tokens. It lets
// a wildcard Insert or Remove find the cached subjects its pattern matches
// without scanning every slot, so the cost of invalidation follows the
// number of subjects affected rather than the size of the cache.
//
// # Records and chains
//
// Each indexed slot has one record for its subject's token count n, and
// one for each of its first indexedTokens tokens, keyed by (position,
// token, n). Records with the same key form a doubly linked chain whose
// head is kept in a map (in an array for the count chains, whose keys are
// small integers). A subject matched by a pattern of n tokens with
// no '>' has n tokens and the pattern's literal tokens at their positions,
// so the chain of any one literal of the pattern holds all its matches
// (the count chain, when it has no literal). With a final '>' the subject
// has n or more tokens, so the union of that literal's chains over the
// counts present from n up holds them. The index walks the shortest such
// list, found by stepping through all of them in lockstep until one ends,
// and the caller checks each slot on it with patternMatches.
//
// Once the index is up to date (see below), the cost of a wildcard change
// is thus the length of the shortest list, which is the number of matches
// for the usual shapes ("svc.*.req", "_INBOX.abc.*", "orders.>", "*.*",
// "svc.*.resp" when only "svc.x.req" is cached). It is larger only when
// every literal of the pattern is common on its own but their combination
// is rare: "a.*.c" with many "a.x.d" and "b.x.c" cached walks the shorter
// of the two. It is never more than the cache's capacity.
//
// # Keeping it exact
//
// Only Insert and Remove use the index, under the Sublist write lock, so
// it needs no lock of its own and is never touched by Match. Fills, which
// run under the read lock, only mark the slots they change (slotBitmap).
// Since no fill runs while the write lock is held, the index then
// describes exactly every slot that is not marked; a wildcard Insert or
// Remove reindexes marked slots first, and checks directly any it leaves
// marked (cache.catchUp). Edits by Insert and Remove keep a slot's
// subject, so they leave the index alone; a literal change does not need
// the index at all and leaves the marks for the next wildcard change.
//
// # Memory
//
// A slot's records are replaced when the slot's new subject is indexed,
// so the index never holds more subjects than the cache has slots, and an
// evicted subject's records go when its slot is next reindexed.
// Chains left empty are deleted from the map; the record slices are kept
// per slot and reused. A full cache of 4,096 three-token subjects costs
// about as much again in index as in entries and Results (see
// docs/benchmarks.md).
type subjectIndex struct {
	seed       maphash.Seed
	heads      map[uint64]ref         // first record of each non-empty token chain, by key
	countHeads [maxCountKey + 1]ref   // first record of each count chain, by countKey
	counts     [maxCountKey + 1]int32 // indexed subjects by countKey
	recs       [][]record             // by cache slot, then place; nil until first used
	nslots     int
}

// indexedTokens is how many leading tokens of a subject are indexed by
// position. Later tokens are still checked by patternMatches; a pattern
// whose literal tokens all lie beyond them falls back to the count chains.
const indexedTokens = 31

// maxCountKey is the largest token count with chains of its own; longer
// subjects share the chains of this count, and patternMatches sorts them
// out.
const maxCountKey = 64

// ref names a record: its slot and its place there, plus one so that the
// zero ref means "none" in links and in the map. A record's place is 0 for
// the token count and 1+p for the token at position p.
type ref uint32

const refPlaceBits = 5 // 1 + indexedTokens places fit

// maxIndexedSlots is the largest cache a ref can address.
const maxIndexedSlots = 1 << (32 - refPlaceBits)

func makeRef(slot, place int) ref { return ref(slot<<refPlaceBits|place) + 1 }

func (r ref) slot() int  { return int(r-1) >> refPlaceBits }
func (r ref) place() int { return int(r-1) & (1<<refPlaceBits - 1) }

// record is one link in the chain of its key.
type record struct {
	key        uint64
	prev, next ref
}

// newSubjectIndex returns an empty index for a cache of nslots slots. Its
// per-slot table is allocated when first used, so a Sublist that never
// sees a wildcard change never pays for it.
func newSubjectIndex(nslots int, seed maphash.Seed) *subjectIndex {
	return &subjectIndex{seed: seed, heads: make(map[uint64]ref), nslots: nslots}
}

// tokenKey is the chain key of token tok at position pos in subjects of
// count tokens. The position and count are mixed in through a bijection,
// so one token's keys never collide with each other; different tokens'
// keys can, which puts strangers on a chain: patternMatches rejects them,
// and the walk skips records at other places, so a slot is never listed
// twice.
func (x *subjectIndex) tokenKey(pos int, tok string, count int) uint64 {
	return maphash.String(x.seed, tok) ^ (uint64(pos)<<32|uint64(countKey(count)))*0x9E3779B97F4A7C15
}

// countKey is the chain key of a token count: its index in countHeads and
// counts.
func countKey(n int) uint64 { return uint64(min(n, maxCountKey)) }

// record returns the record r names.
func (x *subjectIndex) record(r ref) *record { return &x.recs[r.slot()][r.place()] }

// head returns the first record of the chain of key at place (0 if empty).
func (x *subjectIndex) head(place int, key uint64) ref {
	if place == 0 {
		return x.countHeads[key]
	}
	return x.heads[key]
}

// setHead makes r (0: none) the first record of the chain of key at place.
func (x *subjectIndex) setHead(place int, key uint64, r ref) {
	switch {
	case place == 0:
		x.countHeads[key] = r
	case r == 0:
		delete(x.heads, key)
	default:
		x.heads[key] = r
	}
}

// set makes the index hold subject ("" for none) for slot, in place of
// whatever it held; the slot's record slice is reused.
func (x *subjectIndex) set(slot int, subject string) {
	if x.recs == nil {
		x.recs = make([][]record, x.nslots)
	}
	recs := x.recs[slot]
	if len(recs) > 0 {
		x.counts[recs[0].key]--
	}
	for place := range recs {
		x.unlink(makeRef(slot, place))
	}
	recs = recs[:0]
	if subject != "" {
		n := 1 + strings.Count(subject, ".")
		recs = append(recs, record{key: countKey(n)})
		x.counts[countKey(n)]++
		for pos, rest := 0, subject; pos < indexedTokens; pos++ {
			tok, more, found := strings.Cut(rest, ".")
			recs = append(recs, record{key: x.tokenKey(pos, tok, n)})
			if !found {
				break
			}
			rest = more
		}
	}
	x.recs[slot] = recs
	for place := range recs {
		x.link(makeRef(slot, place))
	}
}

// link puts record r, whose key is set, into its chain: as the head of a
// new chain, or right after the existing head, so that joining a chain
// costs one map lookup and no map write.
func (x *subjectIndex) link(r ref) {
	rec := x.record(r)
	h := x.head(r.place(), rec.key)
	if h == 0 {
		rec.prev, rec.next = 0, 0
		x.setHead(r.place(), rec.key, r)
		return
	}
	head := x.record(h)
	rec.prev, rec.next = h, head.next
	if head.next != 0 {
		x.record(head.next).prev = r
	}
	head.next = r
}

// unlink takes record r out of its chain, deleting the chain if it empties.
func (x *subjectIndex) unlink(r ref) {
	rec := x.record(r)
	if rec.next != 0 {
		x.record(rec.next).prev = rec.prev
	}
	if rec.prev != 0 {
		x.record(rec.prev).next = rec.next
	} else {
		x.setHead(r.place(), rec.key, rec.next)
	}
	rec.prev, rec.next = 0, 0
}

// list is one candidate list for a pattern: the records at place on the
// chains of keys (several for a pattern ending in '>', one per count).
// Each key is listed once, so no chain, and no slot, is walked twice.
type list struct {
	keys  []uint64
	place int
}

// candidates yields, once each, the slots that may hold a subject matching
// pattern (split into tokens): a superset of the matches, usually equal to
// them (see subjectIndex). Callers must not change the index while
// iterating; replacing a slot's entry by one with the same subject is fine.
func (x *subjectIndex) candidates(pattern []string) iter.Seq[int] {
	return func(yield func(int) bool) {
		x.walk(x.shortest(x.lists(pattern)), yield)
	}
}

// lists returns the lists that each hold every match of pattern: one per
// literal among the indexed positions, or the count's when there is none.
func (x *subjectIndex) lists(pattern []string) []list {
	n := len(pattern)
	// The counts a match can have: n, or with a final '>' any present from n up.
	counts := []int{n}
	if pattern[n-1] == tailToken {
		counts = counts[:0]
		for c := countKey(n); c <= maxCountKey; c++ {
			if x.counts[c] > 0 {
				counts = append(counts, int(c))
			}
		}
	}
	var lists []list
	for pos, tok := range pattern[:min(n, indexedTokens)] {
		if isWildcard(tok) {
			continue
		}
		l := list{place: 1 + pos}
		for _, c := range counts {
			l.keys = append(l.keys, x.tokenKey(pos, tok, c))
		}
		lists = append(lists, l)
	}
	if len(lists) == 0 {
		l := list{place: 0}
		for _, c := range counts {
			l.keys = append(l.keys, countKey(c))
		}
		lists = append(lists, l)
	}
	return lists
}

// shortest returns the list that ends first when all are stepped through
// together: the cost is the shortest length times the number of lists, so
// a long list never costs more than the short one it loses to.
func (x *subjectIndex) shortest(lists []list) list {
	if len(lists) == 1 {
		return lists[0]
	}
	cur := make([]cursor, len(lists))
	for i, l := range lists {
		cur[i] = cursor{x: x, keys: l.keys, place: l.place}
	}
	for {
		for i := range cur {
			if !cur[i].step() {
				return lists[i]
			}
		}
	}
}

// cursor steps through the records of several chains, one after another.
type cursor struct {
	x     *subjectIndex
	keys  []uint64 // chains not yet started
	place int
	r     ref // current record; 0 before the first
}

// step moves to the next record and reports whether there was one.
func (c *cursor) step() bool {
	if c.r != 0 {
		c.r = c.x.record(c.r).next
	}
	for c.r == 0 && len(c.keys) > 0 {
		c.r, c.keys = c.x.head(c.place, c.keys[0]), c.keys[1:]
	}
	return c.r != 0
}

// walk yields the slot of every record of l until yield returns false.
func (x *subjectIndex) walk(l list, yield func(int) bool) {
	for _, key := range l.keys {
		for r := x.head(l.place, key); r != 0; r = x.record(r).next {
			if r.place() == l.place && !yield(r.slot()) {
				return
			}
		}
	}
}

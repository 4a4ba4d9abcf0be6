package sublist

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

// checkIndex fails t unless the index describes the cache: every slot not
// marked as changed is indexed under the subject it holds, with the keys
// of that subject's tokens and count; every chain is well linked; and the
// chains hold exactly the slots' records, nothing left over from evicted
// subjects. Callers hold the Sublist write lock (or run alone).
func checkIndex[T comparable](t *testing.T, c *cache[T]) {
	t.Helper()
	x := c.index
	want, indexed := 0, 0
	var counts [maxCountKey + 1]int32
	for i := range c.slots {
		subject := ""
		if e := c.slots[i].Load(); e != nil {
			subject = e.subject
		}
		var recs []record
		if x.recs != nil {
			recs = x.recs[i]
		}
		want += len(recs)
		if len(recs) > 0 {
			indexed++
			counts[recs[0].key]++
		}
		if c.changed.marked(i) {
			continue // may be stale until the next wildcard change reindexes it
		}
		var keys []uint64
		for _, r := range recs {
			keys = append(keys, r.key)
		}
		if wantKeys := expectedKeys(x, subject); !slices.Equal(keys, wantKeys) {
			t.Fatalf("slot %d (%q) keys %x, want %x", i, subject, keys, wantKeys)
		}
	}
	if counts != x.counts {
		t.Fatalf("subjects by count %v, index says %v", counts, x.counts)
	}
	if indexed > c.capacity() {
		t.Fatalf("%d subjects indexed, capacity %d", indexed, c.capacity())
	}
	got := 0
	walkChain := func(key uint64, head ref, counts bool) {
		var prev ref
		for r := head; r != 0; r = x.record(r).next {
			rec := x.record(r)
			if rec.key != key || rec.prev != prev || (r.place() == 0) != counts {
				t.Fatalf("record %d (place %d) in chain %x has key %x, prev %d (want %d)", r, r.place(), key, rec.key, rec.prev, prev)
			}
			if got++; got > want {
				t.Fatalf("chains hold more than the %d records of the slots (a cycle, or leftovers)", want)
			}
			prev = r
		}
		if prev == 0 && !counts {
			t.Fatalf("empty chain %x kept in the map", key)
		}
	}
	for key, head := range x.heads {
		walkChain(key, head, false)
	}
	for key, head := range x.countHeads {
		walkChain(uint64(key), head, true)
	}
	if got != want {
		t.Fatalf("chains hold %d records, slots have %d", got, want)
	}
}

// reindexAll brings the whole index up to date, as catchUp does when few
// slots are marked. Callers hold the Sublist write lock.
func reindexAll[T comparable](c *cache[T]) { c.changed.drain(math.MaxInt, c.reindex) }

// expectedKeys restates which keys index a subject: its count, then its
// leading tokens by position.
func expectedKeys(x *subjectIndex, subject string) []uint64 {
	if subject == "" {
		return nil
	}
	toks := strings.Split(subject, ".")
	keys := []uint64{countKey(len(toks))}
	for p, tok := range toks[:min(len(toks), indexedTokens)] {
		keys = append(keys, x.tokenKey(p, tok, len(toks)))
	}
	return keys
}

// TestIndexTracksCache runs random inserts, removes and matches on small
// caches (constant eviction) and checks after every step that the index
// describes the cache, and after every wildcard change (which reindexes)
// that no slot is left behind.
func TestIndexTracksCache(t *testing.T) {
	for _, size := range []int{4, 16, 64} {
		for seed := uint64(1); seed <= 3; seed++ {
			g := gen{rand.New(rand.NewPCG(seed, uint64(size)))}
			s := New[int](size)
			var live []sub
			for range 2000 {
				switch x := g.r.IntN(10); {
				case x < 2:
					x := sub{g.pattern(), g.queue(), g.r.IntN(10)}
					s.Insert(x.subject, x.queue, x.v)
					live = append(live, x)
				case x < 3 && len(live) > 0:
					k := g.r.IntN(len(live))
					x := live[k]
					live = slices.Delete(live, k, k+1)
					s.Remove(x.subject, x.queue, x.v)
				default:
					s.Match([]byte(g.subject()))
				}
				checkIndex(t, s.cache)
			}
			s.mu.Lock()
			reindexAll(s.cache)
			checkIndex(t, s.cache)
			for i := range s.cache.slots {
				if s.cache.changed.marked(i) {
					t.Fatalf("size %d: slot %d still marked after reindex", size, i)
				}
			}
			s.mu.Unlock()
		}
	}
}

// TestIndexForgetsEvicted floods a small cache with distinct subjects and
// checks that the index then holds exactly what the cache holds: evicted
// subjects leave no records and no chains behind.
func TestIndexForgetsEvicted(t *testing.T) {
	s := New[int](64)
	s.Insert("flood.>", "", 1)
	for i := range 20_000 {
		s.Match(fmt.Appendf(nil, "flood.%d.%d", i, i%7))
		if i%1000 == 0 {
			s.Insert("flood.*.3", "", 2) // a wildcard change reindexes
			s.Remove("flood.*.3", "", 2)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	reindexAll(s.cache)
	checkIndex(t, s.cache)
	// At most: one count chain, one for "flood", 7 for the last token and one
	// per cached subject for the middle token.
	if n := len(s.cache.index.heads); n > 64+9 {
		t.Fatalf("%d chains for a 64-entry cache", n)
	}
}

// TestCandidatesComplete checks, on random cache contents and patterns,
// that the index lists every cached subject a pattern matches, and each
// slot at most once (an edit applied twice would add a subscription twice).
func TestCandidatesComplete(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(9, 9))}
	for round := range 200 {
		s := New[int](32)
		for range 40 {
			s.Match([]byte(g.subject()))
		}
		s.mu.Lock()
		reindexAll(s.cache)
		for range 20 {
			pattern := g.pattern()
			checkCandidates(t, s.cache, pattern, fmt.Sprint("round ", round))
		}
		s.mu.Unlock()
	}
}

// TestCandidatesLongSubjects covers the limits of the index: tokens past
// indexedTokens are not indexed and counts past maxCountKey share a chain,
// so patterns whose only literals lie there must still find their matches.
func TestCandidatesLongSubjects(t *testing.T) {
	s := New[int](256)
	long := func(n int, last string) string {
		toks := make([]string, n)
		for i := range toks {
			toks[i] = fmt.Sprint("t", i%3)
		}
		toks[n-1] = last
		return strings.Join(toks, ".")
	}
	for _, n := range []int{1, 2, 30, 31, 32, 33, 63, 64, 65, 70} {
		for _, last := range []string{"x", "y"} {
			s.Match([]byte(long(n, last)))
		}
	}
	stars := func(n int, last string) string {
		return strings.Repeat("*.", n-1) + last
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	reindexAll(s.cache)
	checkIndex(t, s.cache)
	for _, n := range []int{1, 2, 30, 31, 32, 33, 63, 64, 65, 70, 71} {
		for _, last := range []string{"x", "*", ">"} {
			checkCandidates(t, s.cache, stars(n, last), "long")
		}
	}
}

// checkCandidates fails t unless the candidates for pattern include every
// cached subject it matches, each slot once. Callers hold the write lock.
func checkCandidates[T comparable](t *testing.T, c *cache[T], pattern, what string) {
	t.Helper()
	pat := splitPattern(pattern)
	seen := map[int]bool{}
	for i := range c.index.candidates(pat) {
		if seen[i] {
			t.Fatalf("%s: pattern %q lists slot %d twice", what, pattern, i)
		}
		seen[i] = true
	}
	for i := range c.slots {
		e := c.slots[i].Load()
		if e != nil && bruteMatch(pat, splitPattern(e.subject)) && !seen[i] {
			t.Fatalf("%s: pattern %q misses cached %q (slot %d)", what, pattern, e.subject, i)
		}
	}
}

// TestWildcardLooksOnlyAtMatches is the point of the index: with the cache
// full, a wildcard change looks at the cached subjects it matches and at
// nothing else, whether it matches none, a few or all of them.
func TestWildcardLooksOnlyAtMatches(t *testing.T) {
	s := New[int](4096)
	for i := range 5000 {
		s.Match(fmt.Appendf(nil, "svc.%d.req", i))
		s.Match(fmt.Appendf(nil, "other.%d", i))
	}
	s.mu.Lock()
	reindexAll(s.cache) // as a change would once fills slow down (see catchUp)
	s.mu.Unlock()
	same := func(r *Result[int]) *Result[int] { return r }
	for _, pattern := range []string{
		"svc.*.resp", "_INBOX.x1.*", "svc.*.req", "*.7.req", "*.*", "other.>",
		"*.*.*", "other.*.*", ">", "*.>", "*.*.>",
	} {
		s.mu.Lock()
		looked := s.cache.updateMatching(splitPattern(pattern), same)
		matched := 0
		for i := range s.cache.slots {
			if e := s.cache.slots[i].Load(); e != nil && bruteMatch(splitPattern(pattern), splitPattern(e.subject)) {
				matched++
			}
		}
		s.mu.Unlock()
		if looked != matched {
			t.Errorf("%s: looked at %d cached subjects, %d match", pattern, looked, matched)
		}
	}
	if n := s.Stats().CacheEntries; n < 4000 {
		t.Fatalf("only %d subjects cached; the test needs a full cache", n)
	}
}

// TestWildcardWithManyFills covers catchUp's second regime: with more than
// 1/catchUpAll of the cache filled since the last wildcard change, a change
// reindexes only a step of it and checks the remaining marked slots
// directly. Results must be exact either way, each change must reindex
// its step, and once fills stop the index must catch up and take over.
func TestWildcardWithManyFills(t *testing.T) {
	const size = 64
	s := New[int](size)
	s.Insert(">", "", -1)
	var subjects []string
	for i := range 100 {
		subjects = append(subjects, fmt.Sprintf("svc.%d.req", i), fmt.Sprintf("other.%d", i))
	}
	for _, subj := range subjects {
		s.Match([]byte(subj))
	}
	model := map[sub][]string{{">", "", -1}: {">"}}
	marked := s.cache.changed.count()
	if marked <= size/catchUpAll {
		t.Fatalf("only %d slots marked; the test needs more than %d", marked, size/catchUpAll)
	}
	for round := 0; ; round++ {
		pattern := []string{"svc.*.req", "other.*", "*.*.req", ">"}[round%4]
		x := sub{pattern, "", round}
		s.Insert(x.subject, x.queue, x.v)
		model[x] = splitPattern(pattern)
		// Check the cached entries in place: a Match could miss and mark.
		for i := range s.cache.slots {
			e := s.cache.slots[i].Load()
			if e == nil {
				continue
			}
			if got, want := canonical(e.result), canonical(bruteResult(model, e.subject)); got != want {
				t.Fatalf("round %d: cached %q = %s, want %s", round, e.subject, got, want)
			}
		}
		now := s.cache.changed.count()
		if now > 0 && now != marked-max(1, size/catchUpStep) {
			t.Fatalf("round %d: %d slots marked, was %d: not one step reindexed", round, now, marked)
		}
		if now == 0 {
			break
		}
		marked = now
	}
	for _, subj := range subjects {
		if got, want := canonical(s.Match([]byte(subj))), canonical(bruteResult(model, subj)); got != want {
			t.Fatalf("Match(%q) = %s, want %s", subj, got, want)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	reindexAll(s.cache) // the Matches above refilled some slots
	checkIndex(t, s.cache)
	same := func(r *Result[int]) *Result[int] { return r }
	looked := s.cache.updateMatching(splitPattern("other.*"), same)
	matched := 0
	for i := range s.cache.slots {
		if e := s.cache.slots[i].Load(); e != nil && strings.HasPrefix(e.subject, "other.") {
			matched++
		}
	}
	if looked != matched {
		t.Fatalf("caught up, other.* looked at %d slots for %d matches", looked, matched)
	}
}

// TestStaleRecordIsNotCheckedTwice sets up a slot whose index records
// still name the subject it held before a refill, with both subjects
// matched by the next pattern. The walk of the index must skip the slot,
// which is checked directly as marked; otherwise the edit would be applied
// twice and the Result would hold the new subscription twice.
func TestStaleRecordIsNotCheckedTwice(t *testing.T) {
	s := New[int](4) // one set: every fill past four evicts
	s.Insert(">", "", -1)
	for i := range 4 {
		s.Match(fmt.Appendf(nil, "a.%d", i))
	}
	s.mu.Lock()
	reindexAll(s.cache)
	s.mu.Unlock()
	for i := 4; s.cache.changed.count() < 2; i++ { // catchUp reindexes one of them
		s.Match(fmt.Appendf(nil, "a.%d", i))
	}
	s.Insert("a.*", "", 7)
	for i := range s.cache.slots {
		e := s.cache.slots[i].Load()
		if got := canonical(e.result); got != "plain=[-1 7] groups=[]" {
			t.Fatalf("cached %q = %s, want plain=[-1 7]", e.subject, got)
		}
	}
}

// TestIndexUnderConcurrentFills has readers fill a small cache (marking
// slots from several goroutines) while a writer makes wildcard changes
// (draining the marks and walking the index), then checks the index. Run
// with -race it checks that marks and drains never overlap.
func TestIndexUnderConcurrentFills(t *testing.T) {
	s := New[int](16)
	s.Insert(">", "", -1)
	var wg sync.WaitGroup
	done := make(chan struct{})
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := gen{rand.New(rand.NewPCG(uint64(r), 3))}
			for {
				select {
				case <-done:
					return
				default:
				}
				if got := s.Match([]byte(g.subject())); !slices.Contains(got.Plain, -1) {
					t.Error("sentinel missing")
					return
				}
			}
		}()
	}
	g := gen{rand.New(rand.NewPCG(5, 5))}
	for i := range 500 {
		p := g.pattern()
		s.Insert(p, "", i)
		s.Remove(p, "", i)
	}
	close(done)
	wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	reindexAll(s.cache)
	checkIndex(t, s.cache)
}

// TestWalkKeepsToItsPlace checks the guard that keeps a slot from being
// listed twice when two of its keys collide: a walk yields only records at
// the list's place. Real collisions need 64-bit luck, so the test asks for
// a record's chain at the wrong place instead.
func TestWalkKeepsToItsPlace(t *testing.T) {
	x := newSubjectIndex(4, newCache[int](4).seed)
	x.set(2, "a.b")
	key := x.tokenKey(0, "a", 2)
	count := func(place int) (n int) {
		x.walk(list{keys: []uint64{key}, place: place}, func(slot int) bool {
			if slot != 2 {
				t.Fatalf("walk yielded slot %d", slot)
			}
			n++
			return true
		})
		return n
	}
	if n := count(1); n != 1 {
		t.Fatalf("walk at the record's place yielded %d slots, want 1", n)
	}
	if n := count(2); n != 0 {
		t.Fatalf("walk at another place yielded %d slots, want 0", n)
	}
}

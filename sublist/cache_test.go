package sublist

import (
	"fmt"
	"strings"
	"testing"
)

func TestCacheHitNoAlloc(t *testing.T) {
	s := New[*int](0)
	a, b := new(int), new(int)
	s.Insert("orders.*.created", "", a)
	s.Insert("orders.>", "workers", b)
	subject := []byte("orders.eu.created")
	s.Match(subject) // fill
	if n := testing.AllocsPerRun(1000, func() { s.Match(subject) }); n != 0 {
		t.Fatalf("cache hit allocs = %v, want 0", n)
	}
	none := []byte("nobody.listens")
	s.Match(none)
	if n := testing.AllocsPerRun(1000, func() { s.Match(none) }); n != 0 {
		t.Fatalf("empty hit allocs = %v, want 0", n)
	}
	bad := []byte("bad..subject")
	if n := testing.AllocsPerRun(1000, func() { s.Match(bad) }); n != 0 {
		t.Fatalf("invalid subject allocs = %v, want 0", n)
	}
}

// TestInvalidationIsPrecise checks that a change replaces the cached
// entries its pattern matches and leaves every other entry in place: the
// unrelated subjects still hit, and still return the very same Result.
func TestInvalidationIsPrecise(t *testing.T) {
	for _, pattern := range []string{"a.b", "a.*", "a.>", "*.b", ">"} {
		t.Run(pattern, func(t *testing.T) {
			s := New[int](0)
			s.Insert("x.>", "", 1)
			subjects := []string{"a.b", "a.c", "x.y", "x.b", "a.b.c", "q"}
			before := map[string]*Result[int]{}
			for _, subj := range subjects {
				before[subj] = s.Match([]byte(subj))
			}
			s.Insert(pattern, "", 2)
			pat := splitPattern(pattern)
			hits := s.Stats().CacheHits
			for _, subj := range subjects {
				r := s.Match([]byte(subj))
				matched := bruteMatch(pat, splitPattern(subj))
				has := len(r.Plain) > 0 && r.Plain[len(r.Plain)-1] == 2
				if matched != has {
					t.Errorf("%s: Match(%q) = %v, pattern matches: %v", pattern, subj, r.Plain, matched)
				}
				if !matched && r != before[subj] {
					t.Errorf("%s: unrelated %q got a new Result", pattern, subj)
				}
			}
			if got := s.Stats().CacheHits - hits; got != uint64(len(subjects)) {
				t.Errorf("%s: %d of %d lookups hit after Insert; entries were dropped", pattern, got, len(subjects))
			}
			s.Remove(pattern, "", 2)
			for _, subj := range subjects {
				if r := s.Match([]byte(subj)); len(r.Plain) > 0 && r.Plain[len(r.Plain)-1] == 2 {
					t.Errorf("%s: Match(%q) still has removed sub", pattern, subj)
				}
			}
		})
	}
}

func splitPattern(p string) []string { return strings.Split(p, ".") }

func TestCacheBounded(t *testing.T) {
	s := New[int](64)
	s.Insert(">", "", 1)
	for i := range 100_000 {
		r := s.Match(fmt.Appendf(nil, "s.%d", i))
		if len(r.Plain) != 1 {
			t.Fatalf("Match %d wrong: %v", i, r.Plain)
		}
	}
	if n := s.Stats().CacheEntries; n > 64 || n < 32 {
		t.Fatalf("CacheEntries = %d, want <= 64 and mostly full", n)
	}
}

// TestHotSurvivesFlood checks the point of CLOCK eviction: subjects that
// keep being published stay cached while a flood of one-off subjects
// passes through, where a clear-when-full cache would miss on them again.
func TestHotSurvivesFlood(t *testing.T) {
	s := New[int](4096)
	s.Insert(">", "", 1)
	hot := make([][]byte, 256)
	for i := range hot {
		hot[i] = fmt.Appendf(nil, "hot.%d", i)
		s.Match(hot[i])
	}
	var hotHits, hotLookups uint64
	var buf []byte
	for i := range 100_000 {
		buf = fmt.Appendf(buf[:0], "cold.%d", i)
		s.Match(buf)
		if i%64 == 0 {
			for _, h := range hot {
				if s.cache.get(s.cache.hash(h), h) != nil {
					hotHits++
				}
				s.Match(h)
				hotLookups++
			}
		}
	}
	if rate := float64(hotHits) / float64(hotLookups); rate < 0.9 {
		t.Fatalf("hot subjects hit %.1f%% of the time during a flood, want >= 90%%", 100*rate)
	}
}

func TestCapacityRounding(t *testing.T) {
	for _, tc := range []struct{ size, want int }{{0, DefaultCacheSize}, {-5, DefaultCacheSize}, {1, 4}, {64, 64}, {65, 68}} {
		if got := newCache[int](tc.size).capacity(); got != tc.want {
			t.Errorf("capacity(%d) = %d, want %d", tc.size, got, tc.want)
		}
	}
}

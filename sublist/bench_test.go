package sublist

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// benchSubs builds a Sublist with n literal subscriptions "svc.<i>.req"
// plus a handful of wildcards, the shape of a typical service mesh.
func benchSubs(n, cacheSize int) (*Sublist[*int], [][]byte) {
	s := New[*int](cacheSize)
	subjects := make([][]byte, n)
	for i := range n {
		subj := fmt.Sprintf("svc.%d.req", i)
		s.Insert(subj, "", new(int))
		if i%10 == 0 {
			s.Insert(subj, "workers", new(int))
		}
		subjects[i] = []byte(subj)
	}
	s.Insert("svc.*.req", "", new(int))
	s.Insert("svc.>", "", new(int))
	s.Insert(">", "", new(int))
	return s, subjects
}

func BenchmarkMatchCacheHit(b *testing.B) {
	s, subjects := benchSubs(1000, 0)
	subj := subjects[500]
	s.Match(subj)
	b.ReportAllocs()
	for b.Loop() {
		s.Match(subj)
	}
}

func BenchmarkMatchCacheHitEmpty(b *testing.B) {
	s, _ := benchSubs(1000, 0)
	subj := []byte("no.interest.here")
	s.Match(subj)
	b.ReportAllocs()
	for b.Loop() {
		s.Match(subj)
	}
}

// BenchmarkMatchCacheMiss cycles through far more subjects than the cache
// holds, so nearly every Match walks the trie and fills (evicts) an entry.
func BenchmarkMatchCacheMiss(b *testing.B) {
	s, subjects := benchSubs(1000, 64)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Match(subjects[i%len(subjects)])
		i++
	}
}

// BenchmarkSubs matches over every subscribed subject with 10k and 100k
// subscriptions: "hit" with a cache big enough for all of them, "miss" with
// the default 4096 entries cycling through all subjects (worst case: each
// subject evicted before it comes round again).
func BenchmarkSubs(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		for _, mode := range []string{"hit", "miss"} {
			b.Run(fmt.Sprintf("%d/%s", n, mode), func(b *testing.B) {
				size := 0
				if mode == "hit" {
					size = 4 * n
				}
				s, subjects := benchSubs(n, size)
				for _, subj := range subjects {
					s.Match(subj)
				}
				b.ReportAllocs()
				b.ResetTimer()
				i := 0
				for b.Loop() {
					s.Match(subjects[i%len(subjects)])
					i++
				}
			})
		}
	}
}

// BenchmarkWildcardHeavy: 10k patterns over a 4-token space, a third of the
// tokens wildcards, so each subject reaches many trie branches.
func BenchmarkWildcardHeavy(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	tok := func(wild bool) string {
		if wild && r.IntN(3) == 0 {
			return "*"
		}
		return fmt.Sprint("t", r.IntN(10))
	}
	s := New[*int](0)
	for range 10_000 {
		p := tok(true) + "." + tok(true) + "." + tok(true)
		if r.IntN(4) == 0 {
			p += ".>"
		} else {
			p += "." + tok(true)
		}
		s.Insert(p, "", new(int))
	}
	subjects := make([][]byte, 100_000)
	for i := range subjects {
		subjects[i] = []byte(tok(false) + "." + tok(false) + "." + tok(false) + "." + tok(false) + "." + tok(false))
	}
	b.Run("miss", func(b *testing.B) {
		// Walk the trie on every call: the cost the cache saves.
		var buf [16][]byte
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			toks, _ := split(subjects[i%len(subjects)], buf[:0])
			s.mu.RLock()
			s.walk(toks)
			s.mu.RUnlock()
			i++
		}
	})
	b.Run("hit", func(b *testing.B) {
		subj := subjects[0]
		b.ReportAllocs()
		for b.Loop() {
			s.Match(subj)
		}
		// After the loop: b.Loop's timer reset deletes metrics reported before it.
		b.ReportMetric(float64(len(s.Match(subj).Plain)), "fanout")
	})
}

// BenchmarkMatchParallel: every goroutine hits the cache, on one hot
// subject (the worst case for shared cache lines) or spread over 1024.
func BenchmarkMatchParallel(b *testing.B) {
	s, subjects := benchSubs(1000, 0)
	for _, subj := range subjects {
		s.Match(subj)
	}
	b.Run("one-subject", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s.Match(subjects[7])
			}
		})
	})
	b.Run("1000-subjects", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(len(subjects))
			for pb.Next() {
				s.Match(subjects[i%len(subjects)])
				i++
			}
		})
	})
}

// rwCache is the baseline design the cache is measured against: a map
// behind an RWMutex, so every hit takes the read lock.
type rwCache struct {
	mu sync.RWMutex
	m  map[string]*Result[*int]
}

func (c *rwCache) get(b []byte) *Result[*int] {
	c.mu.RLock()
	r := c.m[string(b)]
	c.mu.RUnlock()
	return r
}

func BenchmarkBaselineRWMutexMapParallel(b *testing.B) {
	c := &rwCache{m: map[string]*Result[*int]{"svc.7.req": {}}}
	key := []byte("svc.7.req")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.get(key)
		}
	})
}

// BenchmarkInsertRemove adds and removes one subscription with the
// default cache full of "svc.<i>.req" subjects. "svc.77.req" is matched
// last so that it is surely cached, and its Insert and Remove each rebuild
// its entry. The wildcard cases are the extremes of invalidation:
// "svc.*.req" rebuilds every cached entry, "svc.*.resp" (same prefix,
// other last token) and "*.*" (other length) match none, "_INBOX.x1.*" (a
// client's reply subscription) matches none and shares no token with them.
func BenchmarkInsertRemove(b *testing.B) {
	for _, pattern := range []string{"svc.77.req", "new.subject", "svc.*.req", "svc.*.resp", "*.*", "_INBOX.x1.*"} {
		b.Run(pattern, func(b *testing.B) {
			s, subjects := benchSubs(10_000, 0)
			for _, subj := range subjects {
				s.Match(subj)
			}
			s.Match(subjects[77])
			v := new(int)
			b.ReportAllocs()
			for b.Loop() {
				s.Insert(pattern, "", v)
				s.Remove(pattern, "", v)
			}
			b.ReportMetric(float64(s.Stats().CacheEntries), "cached")
		})
	}
}

// BenchmarkWildcardAfterMisses times one wildcard Insert and Remove that
// match nothing cached, made after k cache misses that each filled a slot
// (evicting another subject); the misses are not timed. A wildcard change
// first brings the index up to date with the slots filled since the last
// one: all of them up to 1/catchUpAll of the cache (k=64 is about the
// most), beyond that a step, checking the rest directly (k=512, 4096). k=0
// is the steady state.
func BenchmarkWildcardAfterMisses(b *testing.B) {
	for _, k := range []int{0, 16, 64, 512, 4096} {
		b.Run(fmt.Sprint(k), func(b *testing.B) {
			s, subjects := benchSubs(10_000, 0)
			for _, subj := range subjects {
				s.Match(subj)
			}
			v := new(int)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				b.StopTimer()
				for range k {
					s.Match(subjects[i%len(subjects)])
					i++
				}
				b.StartTimer()
				s.Insert("_INBOX.x1.*", "", v)
				s.Remove("_INBOX.x1.*", "", v)
			}
		})
	}
}

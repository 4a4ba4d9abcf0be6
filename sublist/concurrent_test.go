package sublist

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestConcurrent runs writers that insert and remove their own
// subscriptions while readers match, then checks every subject against the
// brute-force model. A stale cache fill (a Result computed before a change
// but published after it) would survive to the final check and fail it.
// Readers also check invariants on every Result they see.
func TestConcurrent(t *testing.T) {
	for _, size := range []int{8, 0} { // 8: constant eviction races; 0: default
		t.Run(fmt.Sprint("cache=", size), func(t *testing.T) { runConcurrent(t, size) })
	}
}

func runConcurrent(t *testing.T, cacheSize int) {
	const writers, readers, opsPerWriter = 3, 2, 500
	s := New[int](cacheSize)
	const sentinel = -1
	if err := s.Insert(">", "", sentinel); err != nil {
		t.Fatal(err)
	}
	g := gen{rand.New(rand.NewPCG(7, 7))}
	subjects := make([]string, 40)
	for i := range subjects {
		subjects[i] = g.subject()
	}

	finals := make([]map[sub][]string, writers)
	var wg, rg sync.WaitGroup
	done := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := gen{rand.New(rand.NewPCG(uint64(w), 1))}
			live := map[sub][]string{}
			var order []sub
			for i := range opsPerWriter {
				if len(order) > 0 && g.r.IntN(3) == 0 {
					k := g.r.IntN(len(order))
					x := order[k]
					order = slices.Delete(order, k, k+1)
					delete(live, x)
					if err := s.Remove(x.subject, x.queue, x.v); err != nil {
						t.Errorf("Remove(%v): %v", x, err)
						return
					}
					continue
				}
				// Values are unique across writers, so a Result never
				// legitimately holds one twice.
				x := sub{g.pattern(), g.queue(), w*1_000_000 + i}
				live[x] = strings.Split(x.subject, ".")
				order = append(order, x)
				if err := s.Insert(x.subject, x.queue, x.v); err != nil {
					t.Errorf("Insert(%v): %v", x, err)
					return
				}
			}
			finals[w] = live
		}()
	}
	for r := range readers {
		rg.Add(1)
		go func() {
			defer rg.Done()
			rnd := rand.New(rand.NewPCG(uint64(r), 2))
			for {
				select {
				case <-done:
					return
				default:
				}
				subject := subjects[rnd.IntN(len(subjects))]
				if err := resultInvariants(s.Match([]byte(subject)), sentinel); err != "" {
					t.Errorf("Match(%q): %s", subject, err)
					return
				}
				if rnd.IntN(50) == 0 {
					s.Stats()
					s.Generation()
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	rg.Wait()
	if t.Failed() {
		return
	}

	model := map[sub][]string{{">", "", sentinel}: {">"}}
	for _, live := range finals {
		for x, toks := range live {
			model[x] = toks
		}
	}
	if s.Count() != len(model) {
		t.Fatalf("Count = %d, want %d", s.Count(), len(model))
	}
	for _, subject := range subjects {
		want := canonical(bruteResult(model, subject))
		if got := canonical(s.Match([]byte(subject))); got != want {
			t.Fatalf("after the run, Match(%q) = %s, want %s", subject, got, want)
		}
	}
}

// resultInvariants returns what is wrong with r, or "".
func resultInvariants(r *Result[int], sentinel int) string {
	if !slices.Contains(r.Plain, sentinel) {
		return "sentinel subscription missing"
	}
	seen := map[int]bool{}
	names := map[string]bool{}
	for _, g := range r.Groups {
		if names[g.Name] {
			return "group " + g.Name + " listed twice"
		}
		names[g.Name] = true
		if len(g.Members) == 0 {
			return "empty group " + g.Name
		}
		for _, v := range g.Members {
			if seen[v] {
				return fmt.Sprintf("member %d listed twice", v)
			}
			seen[v] = true
		}
	}
	for _, v := range r.Plain {
		if seen[v] {
			return fmt.Sprintf("plain %d listed twice", v)
		}
		seen[v] = true
	}
	return ""
}

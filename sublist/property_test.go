package sublist

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// gen draws random subjects and patterns from a small alphabet, so that
// patterns and subjects overlap often. "x*" checks that a token merely
// containing '*' is literal.
type gen struct{ r *rand.Rand }

var alphabet = []string{"a", "b", "c", "x*"}

func (g gen) subject() string {
	n := 1 + g.r.IntN(4)
	toks := make([]string, n)
	for i := range toks {
		toks[i] = alphabet[g.r.IntN(len(alphabet))]
	}
	return strings.Join(toks, ".")
}

func (g gen) pattern() string {
	n := 1 + g.r.IntN(4)
	toks := make([]string, n)
	for i := range toks {
		switch x := g.r.IntN(10); {
		case x < 2:
			toks[i] = "*"
		case x < 3 && i == n-1:
			toks[i] = ">"
		default:
			toks[i] = alphabet[g.r.IntN(len(alphabet))]
		}
	}
	return strings.Join(toks, ".")
}

func (g gen) queue() string { return []string{"", "", "q1", "q2"}[g.r.IntN(4)] }

// TestMatchesBruteForce runs random inserts, removes and matches against
// three Sublists that differ only in their cache (default, tiny, and the
// uncached trie walk) and checks each against the brute-force model. A pool
// of subjects is matched after every change, so cached entries are checked
// right after each invalidation.
func TestMatchesBruteForce(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		checkRandomOps(t, seed, 400)
	}
}

func checkRandomOps(t *testing.T, seed uint64, ops int) {
	g := gen{rand.New(rand.NewPCG(seed, seed))}
	lists := map[string]*Sublist[int]{"warm": New[int](0), "tiny": New[int](4)}
	model := map[sub][]string{}
	pool := make([]string, 20)
	for i := range pool {
		pool[i] = g.subject()
	}
	type held struct {
		r    *Result[int]
		want string
	}
	var kept []held // Results handed out earlier, which must never change

	check := func(subject string) {
		want := canonical(bruteResult(model, subject))
		for name, s := range lists {
			r := s.Match([]byte(subject))
			if got := canonical(r); got != want {
				t.Fatalf("seed %d %s: Match(%q) = %s, want %s", seed, name, subject, got, want)
			}
			if len(kept) < 200 {
				kept = append(kept, held{r, exact(deepCopy(r))})
			}
		}
		var buf [16][]byte
		toks, _ := split([]byte(subject), buf[:0])
		s := lists["warm"]
		s.mu.RLock()
		cold := canonical(s.walk(toks))
		s.mu.RUnlock()
		if cold != want {
			t.Fatalf("seed %d cold: walk(%q) = %s, want %s", seed, subject, cold, want)
		}
	}

	for range ops {
		switch x := g.r.IntN(100); {
		case x < 40:
			sb := sub{g.pattern(), g.queue(), g.r.IntN(20)}
			for name, s := range lists {
				if err := s.Insert(sb.subject, sb.queue, sb.v); err != nil {
					t.Fatalf("%s: Insert(%v): %v", name, sb, err)
				}
			}
			model[sb] = strings.Split(sb.subject, ".")
		case x < 65:
			sb := sub{g.pattern(), g.queue(), g.r.IntN(20)}
			for m := range model { // usually remove something that exists
				if g.r.IntN(5) > 0 {
					sb = m
				}
				break
			}
			for name, s := range lists {
				_, had := model[sb]
				err := s.Remove(sb.subject, sb.queue, sb.v)
				if had && err != nil || !had && !errors.Is(err, ErrNotFound) {
					t.Fatalf("%s: Remove(%v) = %v, in model %v", name, sb, err, had)
				}
			}
			delete(model, sb)
		default:
			check(g.subject())
			continue
		}
		for _, subject := range pool {
			check(subject)
		}
		for name, s := range lists {
			if s.Count() != len(model) {
				t.Fatalf("%s: Count = %d, want %d", name, s.Count(), len(model))
			}
		}
	}
	for _, h := range kept {
		if exact(h.r) != h.want {
			t.Fatalf("seed %d: a returned Result changed: now %s, was %s", seed, exact(h.r), h.want)
		}
	}
}

package sublist

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// sub is one subscription in the reference model.
type sub struct {
	subject, queue string
	v              int
}

// bruteMatch is the reference matcher: an independent, obviously correct
// restatement of the wildcard rules over token lists.
func bruteMatch(pat, subj []string) bool {
	switch {
	case len(pat) == 0:
		return len(subj) == 0
	case pat[0] == ">" && len(pat) == 1:
		return len(subj) >= 1
	case len(subj) == 0:
		return false
	case pat[0] == "*" || pat[0] == subj[0]:
		return bruteMatch(pat[1:], subj[1:])
	}
	return false
}

// bruteResult computes the expected Result for subject from all subs.
// subs maps each subscription to its pattern's tokens.
func bruteResult(subs map[sub][]string, subject string) *Result[int] {
	r := &Result[int]{}
	toks := strings.Split(subject, ".")
	for s, pat := range subs {
		if !bruteMatch(pat, toks) {
			continue
		}
		if s.queue == "" {
			r.Plain = append(r.Plain, s.v)
			continue
		}
		i := r.groupIndex(s.queue)
		if i < 0 {
			r.Groups = append(r.Groups, Group[int]{Name: s.queue})
			i = len(r.Groups) - 1
		}
		r.Groups[i].Members = append(r.Groups[i].Members, s.v)
	}
	return r
}

// canonical renders a Result as a string that is equal for equal
// multisets, and reports a group listed twice as a difference.
func canonical(r *Result[int]) string {
	plain := slices.Sorted(slices.Values(r.Plain))
	var groups []string
	for _, g := range r.Groups {
		groups = append(groups, fmt.Sprintf("%s:%v", g.Name, slices.Sorted(slices.Values(g.Members))))
	}
	sort.Strings(groups)
	return fmt.Sprintf("plain=%v groups=%v", plain, groups)
}

// deepCopy snapshots a Result so a test can later prove it never changed.
func deepCopy(r *Result[int]) *Result[int] {
	c := &Result[int]{Plain: slices.Clone(r.Plain)}
	for _, g := range r.Groups {
		c.Groups = append(c.Groups, Group[int]{Name: g.Name, Members: slices.Clone(g.Members)})
	}
	return c
}

// exact renders a Result including order, for immutability checks.
func exact(r *Result[int]) string { return fmt.Sprintf("%v|%v", r.Plain, r.Groups) }

package sublist

import "slices"

// Result is everything one subject matches. Results are shared: the same
// *Result is handed to every caller that matches the subject until a
// subscription change replaces it, so callers must treat it as read-only.
// They may keep it for as long as they like; it is never modified after it
// is published (a change builds a new Result instead).
type Result[T comparable] struct {
	// Plain holds the plain (non-queue) subscriptions; each gets the message.
	Plain []T
	// Groups holds each matching queue group once, with the members from
	// every matching pattern; the caller delivers to one member per group.
	Groups []Group[T]
}

// Group is one queue group within a Result.
type Group[T comparable] struct {
	Name    string
	Members []T
}

// isEmpty reports whether the Result has no subscriptions at all.
func (r *Result[T]) isEmpty() bool { return len(r.Plain) == 0 && len(r.Groups) == 0 }

// with returns a copy of r that also holds v (in group queue, or plain when
// queue is ""). r is untouched: readers may hold it. Slices are clipped
// before appending so append always copies instead of writing into a
// backing array that r shares.
func (r *Result[T]) with(queue string, v T) *Result[T] {
	nr := &Result[T]{Plain: r.Plain, Groups: r.Groups}
	if queue == "" {
		nr.Plain = append(slices.Clip(r.Plain), v)
		return nr
	}
	i := r.groupIndex(queue)
	if i < 0 {
		nr.Groups = append(slices.Clip(r.Groups), Group[T]{Name: queue, Members: []T{v}})
		return nr
	}
	nr.Groups = slices.Clone(r.Groups)
	nr.Groups[i].Members = append(slices.Clip(r.Groups[i].Members), v)
	return nr
}

// without returns a copy of r with one occurrence of v removed, dropping a
// group left empty. If v is absent it returns r itself.
func (r *Result[T]) without(queue string, v T) *Result[T] {
	if queue == "" {
		j := slices.Index(r.Plain, v)
		if j < 0 {
			return r
		}
		return &Result[T]{Plain: deleteCopy(r.Plain, j), Groups: r.Groups}
	}
	i := r.groupIndex(queue)
	if i < 0 {
		return r
	}
	j := slices.Index(r.Groups[i].Members, v)
	if j < 0 {
		return r
	}
	nr := &Result[T]{Plain: r.Plain}
	if len(r.Groups[i].Members) == 1 {
		nr.Groups = deleteCopy(r.Groups, i)
	} else {
		nr.Groups = slices.Clone(r.Groups)
		nr.Groups[i].Members = deleteCopy(r.Groups[i].Members, j)
	}
	return nr
}

func (r *Result[T]) groupIndex(name string) int {
	for i := range r.Groups {
		if r.Groups[i].Name == name {
			return i
		}
	}
	return -1
}

// deleteCopy returns a new slice holding s without element i; s is not
// modified (slices.Delete would shift elements a reader may be iterating).
func deleteCopy[E any](s []E, i int) []E {
	if len(s) == 1 {
		return nil
	}
	out := make([]E, 0, len(s)-1)
	out = append(out, s[:i]...)
	return append(out, s[i+1:]...)
}

package sublist

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSlotBitmap marks random slots, some twice, and checks that count and
// each see every marked slot once, and that draining in two parts returns
// each once, in order, and leaves nothing marked. The sizes cover a
// partial last word and more than one summary word.
func TestSlotBitmap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 63, 64, 65, 4096, 4097, 10_000} {
		b := newSlotBitmap(n)
		for range 3 {
			want := map[int]bool{}
			for range r.IntN(n) + 1 {
				i := r.IntN(n)
				b.mark(i)
				want[i] = true
			}
			if c := b.count(); c != len(want) {
				t.Fatalf("n=%d: count %d, marked %d", n, c, len(want))
			}
			var each []int
			b.each(func(i int) { each = append(each, i) })
			if len(each) != len(want) {
				t.Fatalf("n=%d: each visited %d, marked %d", n, len(each), len(want))
			}
			// Drain in two parts to cover stopping inside a word.
			var got []int
			half := len(want) / 2
			b.drain(half, func(i int) { got = append(got, i) })
			if c := b.count(); c != len(want)-half {
				t.Fatalf("n=%d: %d left after draining %d of %d", n, c, half, len(want))
			}
			b.drain(len(want), func(i int) { got = append(got, i) })
			if !slices.Equal(got, each) || len(got) != len(want) || b.count() != 0 {
				t.Fatalf("n=%d: drained %d slots (in order: %v), marked %d", n, len(got), slices.Equal(got, each), len(want))
			}
			for _, i := range got {
				if !want[i] {
					t.Fatalf("n=%d: drained unmarked slot %d", n, i)
				}
				if b.marked(i) {
					t.Fatalf("n=%d: slot %d still marked after drain", n, i)
				}
			}
		}
	}
}

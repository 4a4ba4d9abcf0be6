package sublist

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestInsertMatchRemove(t *testing.T) {
	s := New[int](0)
	subs := []sub{
		{"foo.bar", "", 1},
		{"foo.*", "", 2},
		{"foo.>", "", 3},
		{">", "", 4},
		{"foo.bar", "workers", 5},
		{"foo.*", "workers", 6},
		{"*.bar", "other", 7},
		{"foo.baz", "", 8},
	}
	for _, x := range subs {
		if err := s.Insert(x.subject, x.queue, x.v); err != nil {
			t.Fatal(err)
		}
	}
	got := canonical(s.Match([]byte("foo.bar")))
	want := "plain=[1 2 3 4] groups=[other:[7] workers:[5 6]]"
	if got != want {
		t.Fatalf("Match = %s, want %s", got, want)
	}
	if got := canonical(s.Match([]byte("foo"))); got != "plain=[4] groups=[]" {
		t.Fatalf("Match(foo) = %s", got)
	}
	if err := s.Remove("foo.*", "workers", 6); err != nil {
		t.Fatal(err)
	}
	if got := canonical(s.Match([]byte("foo.bar"))); got != "plain=[1 2 3 4] groups=[other:[7] workers:[5]]" {
		t.Fatalf("after Remove: %s", got)
	}
	if err := s.Remove("foo.*", "workers", 6); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Remove = %v, want ErrNotFound", err)
	}
	if s.Count() != len(subs)-1 {
		t.Fatalf("Count = %d", s.Count())
	}
}

func TestMatchNothing(t *testing.T) {
	s := New[int](0)
	s.Insert("foo", "", 1)
	for _, subject := range []string{"bar", "", "foo.", "foo..bar", ".", "foo.bar"} {
		r := s.Match([]byte(subject))
		if r == nil || len(r.Plain) != 0 || len(r.Groups) != 0 {
			t.Fatalf("Match(%q) = %v, want empty", subject, r)
		}
	}
	if s.Match([]byte("bar")) != s.Match([]byte("nothing.here")) {
		t.Fatal("empty Results are not shared")
	}
}

func TestWildcardTokenIsWhole(t *testing.T) {
	s := New[int](0)
	s.Insert("foo*", "", 1)
	s.Insert("a.>b", "", 2)
	if got := canonical(s.Match([]byte("foo*"))); got != "plain=[1] groups=[]" {
		t.Fatalf("literal foo*: %s", got)
	}
	if got := canonical(s.Match([]byte("fooX"))); got != "plain=[] groups=[]" {
		t.Fatalf("foo* must not act as a wildcard: %s", got)
	}
	if got := canonical(s.Match([]byte("a.c"))); got != "plain=[] groups=[]" {
		t.Fatalf(">b must not act as a wildcard: %s", got)
	}
}

func TestTailNeedsOneToken(t *testing.T) {
	s := New[int](0)
	s.Insert("foo.>", "", 1)
	if r := s.Match([]byte("foo")); len(r.Plain) != 0 {
		t.Fatalf("foo.> matched foo: %v", r.Plain)
	}
	if r := s.Match([]byte("foo.a.b.c")); len(r.Plain) != 1 {
		t.Fatalf("foo.> missed foo.a.b.c")
	}
}

func TestInsertErrors(t *testing.T) {
	s := New[int](0)
	for _, tc := range []struct {
		subject, queue string
		want           error
	}{
		{"", "", ErrInvalidSubject},
		{"foo..bar", "", ErrInvalidSubject},
		{"foo.>.bar", "", ErrInvalidSubject},
		{"foo bar", "", ErrInvalidSubject},
		{"foo", "a b", ErrInvalidQueue},
		{"foo", "\t", ErrInvalidQueue},
	} {
		if err := s.Insert(tc.subject, tc.queue, 1); !errors.Is(err, tc.want) {
			t.Errorf("Insert(%q, %q) = %v, want %v", tc.subject, tc.queue, err, tc.want)
		}
		if err := s.Remove(tc.subject, tc.queue, 1); !errors.Is(err, tc.want) {
			t.Errorf("Remove(%q, %q) = %v, want %v", tc.subject, tc.queue, err, tc.want)
		}
	}
	if s.Count() != 0 || s.Generation() != 0 {
		t.Fatalf("failed calls changed state: count %d gen %d", s.Count(), s.Generation())
	}
}

func TestDuplicateInsertIsNoop(t *testing.T) {
	s := New[int](0)
	s.Insert("foo", "", 1)
	s.Insert("foo", "", 1)
	s.Insert("foo", "q", 1) // a different subscription: other queue
	if s.Count() != 2 {
		t.Fatalf("Count = %d, want 2", s.Count())
	}
	if got := canonical(s.Match([]byte("foo"))); got != "plain=[1] groups=[q:[1]]" {
		t.Fatalf("Match = %s", got)
	}
}

func TestGenerationChanges(t *testing.T) {
	s := New[int](0)
	g0 := s.Generation()
	s.Insert("foo", "", 1)
	g1 := s.Generation()
	s.Remove("foo", "", 1)
	g2 := s.Generation()
	if g0 == g1 || g1 == g2 {
		t.Fatalf("generation did not change: %d %d %d", g0, g1, g2)
	}
	s.Match([]byte("foo"))
	if s.Generation() != g2 {
		t.Fatal("Match changed the generation")
	}
}

func TestRemovePrunes(t *testing.T) {
	s := New[int](0)
	for i := range 100 {
		s.Insert(fmt.Sprintf("a.%d.b.*", i), "", i)
		s.Insert(fmt.Sprintf("a.%d.>", i), "q", i)
	}
	for i := range 100 {
		s.Remove(fmt.Sprintf("a.%d.b.*", i), "", i)
		s.Remove(fmt.Sprintf("a.%d.>", i), "q", i)
	}
	if !s.root.idle() {
		t.Fatalf("trie not pruned: root has %d literal children", len(s.root.literal))
	}
}

func TestLargeFanoutSet(t *testing.T) {
	// Crosses indexThreshold both ways, exercising the subSet index.
	s := New[int](0)
	for i := range 100 {
		s.Insert("fan", "", i)
	}
	for i := 0; i < 100; i += 2 {
		if err := s.Remove("fan", "", i); err != nil {
			t.Fatal(err)
		}
	}
	got := s.Match([]byte("fan")).Plain
	if len(got) != 50 || slices.Contains(got, 0) || !slices.Contains(got, 99) {
		t.Fatalf("Match(fan) = %v", got)
	}
	for i := 1; i < 100; i += 2 {
		s.Remove("fan", "", i)
	}
	if n := len(s.Match([]byte("fan")).Plain); n != 0 {
		t.Fatalf("%d left", n)
	}
}

func TestRange(t *testing.T) {
	s := New[int](0)
	want := map[sub]bool{
		{"foo.bar", "", 1}: true,
		{"foo.*", "", 2}:   true,
		{"foo.>", "q", 3}:  true,
		{"foo.>", "q", 4}:  true,
		{">", "", 5}:       true,
	}
	for x := range want {
		s.Insert(x.subject, x.queue, x.v)
	}
	got := map[sub]bool{}
	s.Range(func(subject, queue string, v int) bool {
		got[sub{subject, queue, v}] = true
		return true
	})
	if len(got) != len(want) {
		t.Fatalf("Range visited %v, want %v", got, want)
	}
	for x := range want {
		if !got[x] {
			t.Fatalf("Range missed %v", x)
		}
	}
	n := 0
	s.Range(func(string, string, int) bool { n++; return n < 2 })
	if n != 2 {
		t.Fatalf("Range did not stop early: %d calls", n)
	}
	// fn may call back into the Sublist: Range holds no lock while calling it.
	s.Range(func(subject, queue string, v int) bool {
		return s.Remove(subject, queue, v) == nil
	})
	if s.Count() != 0 {
		t.Fatalf("Count after removing all = %d", s.Count())
	}
}

func TestStats(t *testing.T) {
	s := New[int](0)
	s.Insert("foo", "", 1)
	s.Insert("bar", "", 2)
	s.Remove("bar", "", 2)
	s.Match([]byte("foo"))
	s.Match([]byte("foo"))
	s.Match([]byte("baz"))
	st := s.Stats()
	want := Stats{Subs: 1, CacheEntries: 2, Matches: 3, CacheHits: 1, CacheMisses: 2, Inserts: 2, Removes: 1,
		MaxFanout: 1, AvgFanout: 0.5} // foo reaches one subscriber, baz none
	if st != want {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
	// A queue group counts once, however many members it has.
	s.Insert("foo", "", 3)
	s.Insert("foo", "q", 4)
	s.Insert("foo", "q", 5)
	s.Match([]byte("foo"))
	if st := s.Stats(); st.MaxFanout != 3 || st.AvgFanout != 1.5 {
		t.Fatalf("fan-out %d / %.2f, want 3 / 1.5", st.MaxFanout, st.AvgFanout)
	}
}

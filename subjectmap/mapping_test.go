package subjectmap

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func mapString(t *testing.T, tab *Table, subject string) (string, Outcome) {
	t.Helper()
	out, o := tab.Map(nil, []byte(subject))
	return string(out), o
}

func TestTableLiteralBeforeWildcard(t *testing.T) {
	tab, err := NewTable([]Mapping{
		{Source: "orders.*", Destinations: []Destination{{Subject: "wild.{{wildcard(1)}}", Weight: 100}}},
		{Source: "orders.eu", Destinations: []Destination{{Subject: "exact", Weight: 100}}},
		{Source: "orders.>", Destinations: []Destination{{Subject: "deep.>", Weight: 100}}},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	for subject, want := range map[string]string{"orders.eu": "exact", "orders.us": "wild.us", "orders.us.x": "deep.us.x"} {
		if got, o := mapString(t, tab, subject); o != Mapped || got != want {
			t.Errorf("%s -> %q (%d), want %q", subject, got, o, want)
		}
	}
	if _, o := mapString(t, tab, "other"); o != Unmapped {
		t.Errorf("unmatched subject: outcome %d", o)
	}
}

// drawCounts maps n messages through a seeded table and counts each result.
func drawCounts(t *testing.T, m Mapping, cluster string, n int) map[string]int {
	t.Helper()
	tab, err := NewSeededTable([]Mapping{m}, cluster, rand.New(rand.NewPCG(7, 11)))
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for range n {
		out, o := tab.Map(nil, []byte(m.Source))
		switch o {
		case Mapped:
			counts[string(out)]++
		case Unmapped:
			counts["(source)"]++
		case Dropped:
			counts["(dropped)"]++
		}
	}
	return counts
}

// within reports whether got is within six standard deviations of a
// binomial(n, p) mean: a seeded run is reproducible, and the bound would
// hold for any seed with overwhelming probability.
func within(got, n int, p float64) bool {
	mean := float64(n) * p
	sd := math.Sqrt(float64(n) * p * (1 - p))
	return math.Abs(float64(got)-mean) <= 6*sd+1
}

func TestTableWeightedDistribution(t *testing.T) {
	const n = 20000
	counts := drawCounts(t, Mapping{Source: "svc", Destinations: []Destination{
		{Subject: "svc.v1", Weight: 70}, {Subject: "svc.v2", Weight: 20},
	}}, "", n)
	want := map[string]float64{"svc.v1": 0.7, "svc.v2": 0.2, "(source)": 0.1}
	for k, p := range want {
		if !within(counts[k], n, p) {
			t.Errorf("%s: %d of %d, want about %.0f", k, counts[k], n, p*n)
		}
	}
	if len(counts) != len(want) {
		t.Errorf("unexpected outcomes: %v", counts)
	}
}

func TestTableSourceListedDropsTheRest(t *testing.T) {
	const n = 10000
	counts := drawCounts(t, Mapping{Source: "svc", Destinations: []Destination{
		{Subject: "svc", Weight: 50}, {Subject: "svc.canary", Weight: 10},
	}}, "", n)
	for k, p := range map[string]float64{"(source)": 0.5, "svc.canary": 0.1, "(dropped)": 0.4} {
		if !within(counts[k], n, p) {
			t.Errorf("%s: %d of %d, want about %.0f", k, counts[k], n, p*n)
		}
	}
}

func TestTableClusterScopedDestinations(t *testing.T) {
	m := Mapping{Source: "q", Destinations: []Destination{
		{Subject: "q.any", Weight: 100},
		{Subject: "q.east", Weight: 100, Cluster: "east"},
	}}
	if c := drawCounts(t, m, "east", 100); c["q.east"] != 100 {
		t.Errorf("in east: %v", c)
	}
	if c := drawCounts(t, m, "west", 100); c["q.any"] != 100 {
		t.Errorf("in west: %v", c)
	}
}

func TestTableRefusesBadMappings(t *testing.T) {
	d := func(s string, w int) Destination { return Destination{Subject: s, Weight: w} }
	cases := []struct {
		m    []Mapping
		want string
	}{
		{[]Mapping{{Source: "a", Destinations: []Destination{d("b", 60), d("c", 50)}}}, "more than 100"},
		{[]Mapping{{Source: "a", Destinations: []Destination{d("b", 101)}}}, "outside 0 to 100"},
		{[]Mapping{{Source: "a", Destinations: []Destination{d("b", 10), d("b", 10)}}}, "listed twice"},
		{[]Mapping{{Source: "a"}}, "no destination"},
		{[]Mapping{{Source: "a..b", Destinations: []Destination{d("b", 100)}}}, "empty token"},
		{[]Mapping{{Source: "a.*", Destinations: []Destination{d("b.{{wildcard(3)}}", 100)}}}, "out of range"},
		{[]Mapping{{Source: "a", Destinations: []Destination{d("b", 100)}}, {Source: "a", Destinations: []Destination{d("c", 100)}}}, "mapped twice"},
	}
	for _, c := range cases {
		_, err := NewTable(c.m, "")
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewTable(%+v) = %v; want ErrInvalid mentioning %q", c.m, err, c.want)
		}
	}
}

func TestTableMapAllocatesNothing(t *testing.T) {
	tab, err := NewTable([]Mapping{
		{Source: "orders.*.*", Destinations: []Destination{{Subject: "o.{{partition(8,1)}}.{{wildcard(2)}}", Weight: 100}}},
		{Source: "ab", Destinations: []Destination{{Subject: "a", Weight: 50}, {Subject: "b", Weight: 50}}},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 128)
	for _, subject := range []string{"nomatch.x.y", "orders.eu.1", "ab"} {
		s := []byte(subject)
		if n := testing.AllocsPerRun(100, func() { buf, _ = tab.Map(buf[:0], s) }); n != 0 {
			t.Errorf("Map(%q): %v allocations", subject, n)
		}
	}
}

func BenchmarkTableMap(b *testing.B) {
	tab, err := NewTable([]Mapping{
		{Source: "orders.*.*", Destinations: []Destination{{Subject: "o.{{partition(8,1)}}.{{wildcard(2)}}", Weight: 100}}},
		{Source: "canary", Destinations: []Destination{{Subject: "canary.v2", Weight: 10}}},
		{Source: "events.>", Destinations: []Destination{{Subject: "ev.>", Weight: 100}}},
	}, "")
	if err != nil {
		b.Fatal(err)
	}
	for _, subject := range []string{"nomatch.x.y", "orders.eu.42", "canary", "events.a.b"} {
		b.Run(subject, func(b *testing.B) {
			s := []byte(subject)
			buf := make([]byte, 0, 128)
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = tab.Map(buf[:0], s)
			}
		})
	}
}

package subjectmap

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestTransformApply(t *testing.T) {
	cases := []struct{ src, dest, subject, want string }{
		{"foo", "bar", "foo", "bar"},
		{"", "all.>", "a.b", "all.a.b"},
		{">", "all.>", "a", "all.a"},
		{"orders.*.*", "new.{{wildcard(2)}}.{{wildcard(1)}}", "orders.eu.42", "new.42.eu"},
		{"orders.*.*", "new.$2.$1", "orders.eu.42", "new.42.eu"},
		{"orders.*.*", "new.{{ Wildcard( 2 ) }}", "orders.eu.42", "new.42"},
		{"orders.*.>", "x.{{wildcard(1)}}.>", "orders.eu.a.b", "x.eu.a.b"},
		{"a.*", "$x.{{wildcard(1)}}", "a.b", "$x.b"},
		{"a.*", "b.{{split(1,-)}}", "a.x-y--z-", "b.x.y.z"},
		{"a.*", "b.{{split(1,--)}}", "a.x--y", "b.x.y"},
		{"a.*", "b.{{splitFromLeft(1,2)}}", "a.1234567", "b.12.34567"},
		{"a.*", "b.{{splitFromRight(1,2)}}", "a.1234567", "b.12345.67"},
		{"a.*", "b.{{splitFromLeft(1,9)}}", "a.1234567", "b.1234567"},
		{"a.*", "b.{{sliceFromLeft(1,3)}}", "a.1234567", "b.123.456.7"},
		{"a.*", "b.{{sliceFromRight(1,3)}}", "a.1234567", "b.1.234.567"},
		{"a.*", "b.{{sliceFromRight(1,3)}}", "a.123456", "b.123.456"},
		{"a.*", "b.{{left(1,2)}}", "a.1234567", "b.12"},
		{"a.*", "b.{{right(1,2)}}", "a.1234567", "b.67"},
		{"a.*", "b.{{right(1,20)}}", "a.1234567", "b.1234567"},
		// The examples of docs/mappings.md.
		{"a.*", "{{split(1,-)}}", "a.AB-12345", "AB.12345"},
		{"a.*", "{{splitFromLeft(1,2)}}", "a.AB-12345", "AB.-12345"},
		{"a.*", "{{splitFromRight(1,2)}}", "a.AB-12345", "AB-123.45"},
		{"a.*", "{{sliceFromLeft(1,3)}}", "a.AB-12345", "AB-.123.45"},
		{"a.*", "{{sliceFromRight(1,3)}}", "a.AB-12345", "AB.-12.345"},
		{"a.*", "{{left(1,2)}}.{{right(1,2)}}", "a.AB-12345", "AB.45"},
	}
	for _, c := range cases {
		tr, err := NewTransform(c.src, c.dest)
		if err != nil {
			t.Errorf("NewTransform(%q, %q): %v", c.src, c.dest, err)
			continue
		}
		got, ok := tr.Apply(c.subject)
		if !ok || got != c.want {
			t.Errorf("%q -> %q on %q = %q, %v; want %q", c.src, c.dest, c.subject, got, ok, c.want)
		}
	}
}

// The partition numbers are those nats-server computes (checked against
// nats-server 2.15.2 with the same mappings), so moving a deployment over
// keeps each key in its partition.
func TestTransformPartitionMatchesNATS(t *testing.T) {
	cases := []struct{ src, dest, subject, want string }{
		{"p.*.*", "p.{{partition(10,1,2)}}.{{wildcard(1)}}.{{wildcard(2)}}", "p.a.b", "p.6.a.b"},
		{"p.*", "q.{{partition(5,1)}}", "p.customer-42", "q.1"},
		{"pp.*", "q.{{partition(5)}}", "pp.customer-42", "q.1"},
		{"lit", "q.{{partition(7)}}", "lit", "q.4"},
	}
	for _, c := range cases {
		tr, err := NewTransform(c.src, c.dest)
		if err != nil {
			t.Fatalf("NewTransform(%q, %q): %v", c.src, c.dest, err)
		}
		if got, _ := tr.Apply(c.subject); got != c.want {
			t.Errorf("%q on %q = %q; want %q", c.dest, c.subject, got, c.want)
		}
	}
}

func TestTransformRandomStaysInRange(t *testing.T) {
	tr, err := NewTransform("r", "r.{{random(3)}}")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		seen[string(tr.appendWith(nil, []byte("r"), r.IntN))] = true
	}
	if len(seen) != 3 || !seen["r.0"] || !seen["r.1"] || !seen["r.2"] {
		t.Fatalf("random(3) gave %v", seen)
	}
}

func TestTransformMatches(t *testing.T) {
	cases := []struct {
		src, subject string
		want         bool
	}{
		{"a.b", "a.b", true},
		{"a.b", "a.c", false},
		{"a.*", "a.b", true},
		{"a.*", "a", false},
		{"a.*", "a.b.c", false},
		{"a.>", "a.b.c", true},
		{"a.>", "a", false},
		{"*.>", "a.b", true},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.b.d", false},
		{"a.*", "a.", false},
		{">", "x", true},
	}
	for _, c := range cases {
		dest := "d"
		if strings.HasSuffix(c.src, ">") {
			dest = "d.>"
		}
		tr, err := NewTransform(c.src, dest)
		if err != nil {
			t.Fatal(err)
		}
		if got := tr.Matches([]byte(c.subject)); got != c.want {
			t.Errorf("%q matches %q = %v, want %v", c.src, c.subject, got, c.want)
		}
	}
}

func TestTransformRefusesBadTemplates(t *testing.T) {
	cases := []struct{ src, dest, want string }{
		{"a.*", "", "empty destination"},
		{"a..b", "x", "empty token"},
		{"a.>.b", "x", "not the last token"},
		{"a.*", "b.*", "may not hold '*'"},
		{"a.>", "b", "end in '>'"},
		{"a", "b.>", "end in '>'"},
		{"a.*", "b.{{wildcard(2)}}", "out of range"},
		{"a.*", "b.{{wildcard(0)}}", "out of range"},
		{"a.*", "b.$2", "out of range"},
		{"a", "b.{{wildcard(1)}}", "has no '*'"},
		{"a.*", "b.{{wildcard()}}", "not enough arguments"},
		{"a.*", "b.{{wildcard(1,2)}}", "too many arguments"},
		{"a.*", "b.{{wildcard(x)}}", "not a whole number"},
		{"a.*", "b.{{nosuch(1)}}", "unknown function"},
		{"a.*", "b.{{wildcard}}", "expected a function call"},
		{"a.*", "b.{{partition(0,1)}}", "not a whole number from 1"},
		{"a.*", "b.{{partition(3,2)}}", "out of range"},
		{"a.*", "b.{{split(1)}}", "not enough arguments"},
		{"a.*", "b.{{split(1, )}}", "delimiter"},
		{"a.*", "b.{{sliceFromLeft(1,-1)}}", "not a whole number"},
		{"a.*", "b.{{random(0)}}", "not a whole number"},
		{"a.*", "b c.{{wildcard(1)}}", "white space"},
	}
	for _, c := range cases {
		_, err := NewTransform(c.src, c.dest)
		if err == nil {
			t.Errorf("NewTransform(%q, %q) accepted", c.src, c.dest)
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewTransform(%q, %q) = %v; want ErrInvalid mentioning %q", c.src, c.dest, err, c.want)
		}
	}
}

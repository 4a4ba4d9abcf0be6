package subjectmap

import (
	"errors"
	"testing"
)

// FuzzTransform feeds arbitrary sources, destinations and subjects through
// the parser and, when both parse and the subject matches, the transform:
// a bad template is refused with ErrInvalid, never a panic.
func FuzzTransform(f *testing.F) {
	f.Add("orders.*.*", "new.{{wildcard(2)}}.{{partition(3,1,2)}}", "orders.a.b")
	f.Add("a.*", "b.{{split(1,-)}}.{{sliceFromRight(1,2)}}", "a.x-yz")
	f.Add("a.>", "b.$1.>", "a.b.c")
	f.Add("", "all.>", "x")
	f.Fuzz(func(t *testing.T, src, dest, subject string) {
		tr, err := NewTransform(src, dest)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if tr.Matches([]byte(subject)) {
			_ = tr.Append(nil, []byte(subject))
		}
		tab, err := NewTable([]Mapping{{Source: src, Destinations: []Destination{{Subject: dest, Weight: 40}}}}, "")
		if err != nil {
			if src != "" {
				t.Fatalf("transform accepted but mapping refused: %v", err)
			}
			return
		}
		_, _ = tab.Map(nil, []byte(subject))
	})
}

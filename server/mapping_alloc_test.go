package server

import (
	"fmt"
	"testing"

	"github.com/wisp-mq/wisp/subjectmap"
)

// newMappedHotPath is a hot path whose global account maps "hot.*" to the
// subscribers' subject, next to a mapping that does not match.
func newMappedHotPath(t testing.TB, nsubs int) *hotPath {
	h := newHotPath(t, nsubs, "mapped.path")
	tab, err := subjectmap.NewTable([]subjectmap.Mapping{
		to("other.*", "elsewhere.{{wildcard(1)}}"),
		to("hot.*", "mapped.{{wildcard(1)}}"),
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	h.srv.global.mappings.Store(tab)
	return h
}

// TestHotPathMappingAllocations: a publish that a mapping rewrites, and
// one no mapping matches, allocate nothing once warm.
func TestHotPathMappingAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are checked without -race (make test does both)")
	}
	for _, subject := range []string{"hot.path", "mapped.path"} {
		t.Run(subject, func(t *testing.T) {
			h := newMappedHotPath(t, 1)
			buf := pipelinedPubs(subject, 100, 64)
			h.run(t, buf)
			sub := h.subs[0]
			before := sub.out.msgs
			if a := testing.AllocsPerRun(200, func() { h.run(t, buf) }); a != 0 {
				t.Fatalf("%v allocations per read of 100 messages, want 0", a)
			}
			// A mapping that did not rewrite hot.path would reach no one,
			// and allocate nothing either: the subscriber must have had
			// every message of the 201 reads.
			if got := sub.out.msgs - before; got != 201*100 {
				t.Fatalf("subscriber on mapped.path got %d messages, want %d", got, 201*100)
			}
		})
	}
}

func BenchmarkHotPathMapping(b *testing.B) {
	for _, subject := range []string{"mapped.path", "hot.path"} {
		b.Run(fmt.Sprintf("publish=%s", subject), func(b *testing.B) {
			h := newMappedHotPath(b, 1)
			const perRead = 100
			buf := pipelinedPubs(subject, perRead, 16)
			h.run(b, buf)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h.run(b, buf)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perRead), "ns/msg")
		})
	}
}

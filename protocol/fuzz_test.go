package protocol

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to a parser of either side, under
// arbitrary limits, whole and then cut into random pieces, and demands the
// same ops and the same error (or the same pending tail) every time: where
// TCP happens to split a stream must never change what it means. Seeds live
// in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte("PUB foo 5\r\nhello\r\nPING\r\n"), byte(0), uint64(1), uint16(0), uint16(0))
	f.Add([]byte("MSG foo 1 5\r\nhello\r\n+OK\r\n"), byte(1), uint64(2), uint16(0), uint16(0))
	f.Add([]byte("RS+ $G foo q 2\r\nRMSG $G foo + r q1 q2 5\r\nhello\r\nRS- $G foo q\r\n"), byte(2), uint64(3), uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, in []byte, side byte, seed uint64, maxLine, maxPayload uint16) {
		lim := Limits{MaxControlLine: int(maxLine), MaxPayload: int(maxPayload)}
		p := NewParser(Side(side%3), lim)
		whole := parseChunks(p, in)
		if strings.Contains(whole, "error: HdrLen") {
			t.Fatalf("op with a bad HdrLen:\n%s", whole)
		}
		rng := rand.New(rand.NewPCG(seed, uint64(len(in))))
		for range 4 {
			cuts := randomCuts(rng, len(in))
			p.Reset()
			if got := parseChunks(p, in, cuts...); got != whole {
				t.Fatalf("input %q\nwhole:\n%s\ncut at %v:\n%s", in, whole, cuts, got)
			}
		}
		if len(in) <= 1024 {
			cuts := make([]int, 0, len(in))
			for k := 1; k < len(in); k++ {
				cuts = append(cuts, k)
			}
			p.Reset()
			if got := parseChunks(p, in, cuts...); got != whole {
				t.Fatalf("input %q\nwhole:\n%s\none byte at a time:\n%s", in, whole, got)
			}
		}
	})
}

// randomCuts picks up to 16 distinct cut points inside an n-byte input,
// ascending, leaving no empty piece.
func randomCuts(rng *rand.Rand, n int) []int {
	if n < 2 {
		return nil
	}
	cuts := make([]int, rng.IntN(min(n-1, 16))+1)
	for i := range cuts {
		cuts[i] = 1 + rng.IntN(n-1)
	}
	slices.Sort(cuts)
	return slices.Compact(cuts)
}

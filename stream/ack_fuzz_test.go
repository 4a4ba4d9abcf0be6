package stream

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzAckSubject: whatever a client puts after a consumer's ack prefix
// and in the ack body, parsing neither panics nor accepts a non-number.
func FuzzAckSubject(f *testing.F) {
	f.Add([]byte("1.2.3.1795342911414491225.0"), []byte("-NAK {\"delay\":5}"))
	f.Add([]byte("..."), []byte("+TERM reason"))
	f.Add([]byte(".000000000000000000000.0."), []byte("")) // leading zeros are a number
	f.Add([]byte("1.99999999999999999999999.3.4.5"), []byte("-NAK {"))
	f.Fuzz(func(t *testing.T, tokens, body []byte) {
		sseq, dseq, ok := parseAckTokens(tokens)
		toks := strings.Split(string(tokens), ".")
		if len(toks) >= 4 {
			s, err1 := strconv.ParseUint(toks[1], 10, 64)
			d, err2 := strconv.ParseUint(toks[2], 10, 64)
			want := err1 == nil && err2 == nil && !strings.ContainsAny(toks[1]+toks[2], "+-")
			if ok != want || ok && (s != sseq || d != dseq) {
				t.Fatalf("%q: got %d %d %v, strconv %d %d %v", tokens, sseq, dseq, ok, s, d, want)
			}
		} else if ok {
			t.Fatalf("%q accepted with %d tokens", tokens, len(toks))
		}
		_ = parseNakDelay(body)
	})
}

func TestParseAckTokens(t *testing.T) {
	cases := []struct {
		in         string
		sseq, dseq uint64
		ok         bool
	}{
		{"1.2.3.1795342911414491225.0", 2, 3, true},
		{"1.18446744073709551615.3.4.5", 18446744073709551615, 3, true},
		{"1.18446744073709551616.3.4.5", 0, 0, false},
		{"1.2", 0, 0, false},
		{"1.x.3.4.5", 0, 0, false},
		{"1..3.4.5", 0, 0, false},
	}
	for _, c := range cases {
		s, d, ok := parseAckTokens([]byte(c.in))
		if ok != c.ok || ok && (s != c.sseq || d != c.dseq) {
			t.Errorf("%q: %d %d %v", c.in, s, d, ok)
		}
	}
	if d := parseNakDelay([]byte(` {"delay":500000000}`)); d.Milliseconds() != 500 {
		t.Errorf("delay %v", d)
	}
}

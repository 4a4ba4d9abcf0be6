package protocol

import (
	"testing"
)

// countOps is the cheapest possible Handler, so that allocation and timing
// measurements see the parser alone.
type countOps struct{ n, bytes int }

func (c *countOps) HandleOp(op *Op) error {
	c.n++
	c.bytes += len(op.Data)
	return nil
}

// pipelined returns n PUBs of size-byte payloads back to back, as one read
// from a fast publisher looks.
func pipelined(n, size int) []byte {
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	var in []byte
	for i := 0; i < n; i++ {
		in = AppendPub(in, []byte("orders.eu.new"), nil, payload)
	}
	return in
}

// mixedStream holds one of every server-side op, including large and
// header-carrying messages, and empty lines, for tests that cut it at
// every offset.
func mixedStream() []byte {
	in := AppendConnect(nil, []byte(`{"verbose":false,"headers":true}`))
	in = AppendSub(in, []byte("orders.>"), []byte("q"), []byte("1"))
	in = append(in, pipelined(5, 16)...)
	in = AppendPub(in, []byte("big"), []byte("_INBOX.1"), make([]byte, 300))
	in = AppendHPub(in, []byte("h"), nil, 16, []byte("NATS/1.0\r\nA: 1\r\n\r\nbody"))
	in = append(in, "PING\r\nPONG\npub x 0\r\n\r\n\r\n\n"...) // two empty lines last
	return AppendUnsub(in, []byte("1"), 3)
}

func TestParseAllocsPipelined(t *testing.T) {
	in := pipelined(100, 16)
	p := NewParser(ServerSide, Limits{})
	var h countOps
	allocs := testing.AllocsPerRun(100, func() {
		if err := p.Parse(in, &h); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Parse of pipelined PUBs: %v allocs per run, want 0", allocs)
	}
	if h.n != 101*100 { // AllocsPerRun adds one warm-up run
		t.Fatalf("handled %d ops", h.n)
	}
}

func TestParseAllocsAtEverySplit(t *testing.T) {
	in := mixedStream()
	p := NewParser(ServerSide, Limits{})
	var h countOps
	splitAll := func() {
		for k := 0; k <= len(in); k++ {
			if err := p.Parse(in[:k], &h); err != nil {
				t.Fatal(err)
			}
			if err := p.Parse(in[k:], &h); err != nil {
				t.Fatal(err)
			}
			if p.Pending() != 0 {
				t.Fatalf("split at %d left %d bytes pending", k, p.Pending())
			}
		}
	}
	splitAll() // grows scratch to the largest op once
	if allocs := testing.AllocsPerRun(5, splitAll); allocs != 0 {
		t.Fatalf("Parse split at every offset: %v allocs per run, want 0", allocs)
	}
}

func TestEncoderAllocs(t *testing.T) {
	subj, sid, reply := []byte("orders.eu.new"), []byte("42"), []byte("_INBOX.abc")
	data := make([]byte, 1024)
	for name, enc := range encoders(subj, sid, reply, data) {
		dst := make([]byte, 0, 4096)
		if allocs := testing.AllocsPerRun(100, func() { dst = enc(dst[:0]) }); allocs != 0 {
			t.Errorf("%s into a buffer with room: %v allocs, want 0", name, allocs)
		}
		// Without room, one exact growth, not one per append.
		if raceEnabled {
			continue
		}
		if allocs := testing.AllocsPerRun(100, func() { _ = enc(nil) }); allocs > 1 {
			t.Errorf("%s into nil: %v allocs, want at most 1", name, allocs)
		}
	}
}

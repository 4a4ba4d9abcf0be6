package protocol

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// handlerFunc adapts a function to Handler for one-off tests.
type handlerFunc func(*Op) error

func (f handlerFunc) HandleOp(op *Op) error { return f(op) }

func TestHandlerErrorStopsAndSticks(t *testing.T) {
	stop := errors.New("stop")
	p := NewParser(ServerSide, Limits{})
	calls := 0
	h := handlerFunc(func(op *Op) error {
		calls++
		if op.Kind == OpSub {
			return stop
		}
		return nil
	})
	if err := p.Parse([]byte("PING\r\nSUB a 1\r\nPING\r\n"), h); err != stop {
		t.Fatalf("Parse = %v, want the handler's error unchanged", err)
	}
	if calls != 2 {
		t.Fatalf("handler called %d times after it failed, want 2 in all", calls)
	}
	// The stream is out of step now: later bytes must not be parsed.
	if err := p.Parse([]byte("PING\r\n"), h); err != stop || calls != 2 {
		t.Fatalf("after an error Parse = %v with %d calls, want the same error and no calls", err, calls)
	}
	p.Reset()
	if err := p.Parse([]byte("PING\r\n"), h); err != nil || calls != 3 {
		t.Fatalf("after Reset Parse = %v with %d calls", err, calls)
	}
}

func TestResetDropsPartialOp(t *testing.T) {
	p := NewParser(ServerSide, Limits{})
	var r recorder
	if err := p.Parse([]byte("PUB foo 5\r\nhe"), &r); err != nil || p.Pending() == 0 {
		t.Fatalf("Parse = %v, pending %d", err, p.Pending())
	}
	p.Reset()
	if err := p.Parse([]byte("PING\r\n"), &r); err != nil || p.Pending() != 0 {
		t.Fatalf("Parse after Reset = %v, pending %d", err, p.Pending())
	}
	if got := strings.Join(r.lines, "|"); got != "PING" {
		t.Fatalf("ops = %q, want only PING", got)
	}
}

func TestSetLimitsAppliesToHeldOp(t *testing.T) {
	p := NewParser(ServerSide, Limits{})
	var r recorder
	if err := p.Parse([]byte("PUB foo 10\r\n01234"), &r); err != nil {
		t.Fatal(err)
	}
	p.SetLimits(Limits{MaxPayload: 8})
	if err := p.Parse([]byte("56789\r\n"), &r); !errors.Is(err, ErrMaxPayload) {
		t.Fatalf("Parse = %v, want ErrMaxPayload under the new limit", err)
	}
}

func TestSetLimitsShrinksLineOfHeldOp(t *testing.T) {
	p := NewParser(ServerSide, Limits{})
	var r recorder
	if err := p.Parse([]byte("SUB abcdefghijklmnop"), &r); err != nil {
		t.Fatal(err)
	}
	p.SetLimits(Limits{MaxControlLine: 10})
	if err := p.Parse([]byte(" 1\r\n"), &r); !errors.Is(err, ErrMaxControlLine) {
		t.Fatalf("Parse = %v, want ErrMaxControlLine", err)
	}
}

func TestDefaultMaxControlLine(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want error
	}{{DefaultMaxControlLine, nil}, {DefaultMaxControlLine + 1, ErrMaxControlLine}} {
		line := "SUB " + strings.Repeat("x", tc.n-len("SUB  1")) + " 1"
		if len(line) != tc.n {
			t.Fatalf("test line is %d bytes, want %d", len(line), tc.n)
		}
		p := NewParser(ServerSide, Limits{})
		var r recorder
		// Without its \r\n, then with it, so both checks are exercised.
		if err := p.Parse([]byte(line), &r); !errors.Is(err, tc.want) {
			t.Errorf("%d-byte partial line: Parse = %v, want %v", tc.n, err, tc.want)
		}
		p.Reset()
		if err := p.Parse([]byte(line+"\r\n"), &r); !errors.Is(err, tc.want) {
			t.Errorf("%d-byte line: Parse = %v, want %v", tc.n, err, tc.want)
		}
	}
}

// A line that never ends is refused once it passes the limit, whatever the
// reads look like, so the parser holds at most about MaxControlLine bytes.
func TestEndlessLineIsBounded(t *testing.T) {
	p := NewParser(ServerSide, Limits{MaxControlLine: 100})
	var r recorder
	if err := p.Parse([]byte("SUB "), &r); err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("x"), 7)
	for i := 0; i < 100; i++ {
		err := p.Parse(chunk, &r)
		if err != nil {
			if !errors.Is(err, ErrMaxControlLine) {
				t.Fatalf("Parse = %v, want ErrMaxControlLine", err)
			}
			return
		}
		if p.Pending() > 102 {
			t.Fatalf("holding %d bytes of a line limited to 100", p.Pending())
		}
	}
	t.Fatal("an endless line was never refused")
}

func TestLargePayloadInManyReads(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	in := AppendPub(nil, []byte("big"), nil, payload)
	in = append(in, "PING\r\n"...)
	p := NewParser(ServerSide, Limits{})
	var got []byte
	var kinds []Kind
	h := handlerFunc(func(op *Op) error {
		kinds = append(kinds, op.Kind)
		if op.Kind == OpPub {
			got = append([]byte(nil), op.Data...)
		}
		return nil
	})
	for off := 0; off < len(in); off += 4000 {
		if err := p.Parse(in[off:min(off+4000, len(in))], h); err != nil {
			t.Fatal(err)
		}
	}
	if len(kinds) != 2 || kinds[0] != OpPub || kinds[1] != OpPing || !bytes.Equal(got, payload) {
		t.Fatalf("got ops %v and a %d-byte payload", kinds, len(got))
	}
}

// A handler that appends to a slice it was given must not overwrite the
// bytes of the next op in the read buffer.
func TestOpSlicesCannotOverwriteBuffer(t *testing.T) {
	in := []byte("PUB a r 2\r\nhi\r\nPUB b 2\r\nyo\r\n")
	p := NewParser(ServerSide, Limits{})
	var subjects []string
	h := handlerFunc(func(op *Op) error {
		subjects = append(subjects, string(op.Subject))
		_ = append(op.Subject, "XXXX"...)
		_ = append(op.Reply, "XXXX"...)
		_ = append(op.Data, "XXXX"...)
		return nil
	})
	if err := p.Parse(in, h); err != nil {
		t.Fatal(err)
	}
	if strings.Join(subjects, ",") != "a,b" {
		t.Fatalf("subjects = %v", subjects)
	}
}

func TestOpHeaderAndPayload(t *testing.T) {
	p := NewParser(ServerSide, Limits{})
	in := AppendHPub(nil, []byte("s"), nil, 12, []byte("NATS/1.0\r\n\r\nbody"))
	err := p.Parse(in, handlerFunc(func(op *Op) error {
		if string(op.Header()) != "NATS/1.0\r\n\r\n" || string(op.Payload()) != "body" || op.HdrLen != 12 {
			t.Errorf("header %q payload %q", op.Header(), op.Payload())
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
}

func TestKindString(t *testing.T) {
	for k := OpConnect; k <= OpErr; k++ {
		if lookupVerb([]byte(k.String())) != k {
			t.Errorf("Kind %d prints as %q, which does not parse back", k, k.String())
		}
	}
	if Kind(0).String() != "Kind(?)" {
		t.Errorf("Kind(0) = %q", Kind(0).String())
	}
}

func TestVerbCannotBeSpoofedByControlBytes(t *testing.T) {
	for _, tok := range []string{"\x0bOK", "\x00pub", "p\x00ub", "PUBX", "P", "CONNECTS"} {
		if k := lookupVerb([]byte(tok)); k != 0 {
			t.Errorf("lookupVerb(%q) = %v", tok, k)
		}
	}
}

func TestParseNumber(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "007": 7, "1048576": 1 << 20, "9223372036854775807": 1<<63 - 1,
		"9223372036854775808": -1, "99999999999999999999": -1, "": -1, "-1": -1,
		"+1": -1, "1 ": -1, "1e3": -1, "0x10": -1,
	} {
		if got := parseNumber([]byte(in)); got != want {
			t.Errorf("parseNumber(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestUnknownSideAcceptsNothing(t *testing.T) {
	p := NewParser(Side(7), Limits{})
	if err := p.Parse([]byte("PING\r\n"), &recorder{}); !errors.Is(err, ErrUnknownOp) {
		t.Fatalf("Parse = %v, want ErrUnknownOp", err)
	}
}

// TestBadInput: after a parse error the parser keeps the start of the op
// that failed (for the server's log), at most 64 bytes of it.
func TestBadInput(t *testing.T) {
	long := strings.Repeat("X", 100)
	for _, tc := range []struct {
		name   string
		reads  []string
		want   string
		more   bool
		errors bool
	}{
		{"unknown op after a good one", []string{"PING\r\nFOO bar\r\n"}, "FOO bar\r\n", false, true},
		{"bad payload end", []string{"PUB foo 2\r\nhix\r\n"}, "PUB foo 2\r\nhix\r\n", false, true},
		{"bad payload end split", []string{"PUB foo 2\r\nh", "ix\r\n"}, "PUB foo 2\r\nhix\r", false, true},
		{"bad payload end early", []string{"PUB foo 2\r\n", "hi\n"}, "PUB foo 2\r\nhi\n", false, true},
		{"unknown verb split", []string{"FO", "O bar\r\n"}, "FOO bar\r\n", false, true},
		{"long garbage", []string{long}, long[:64], true, true},
		{"no error", []string{"PING\r\n\r\n"}, "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewParser(ServerSide, Limits{})
			var err error
			for _, r := range tc.reads {
				if err = p.Parse([]byte(r), &recorder{}); err != nil {
					break
				}
			}
			if (err != nil) != tc.errors {
				t.Fatalf("Parse error %v", err)
			}
			got, more := p.BadInput()
			if string(got) != tc.want || more != tc.more {
				t.Fatalf("BadInput = %q, %v; want %q, %v", got, more, tc.want, tc.more)
			}
			p.Reset()
			if got, more := p.BadInput(); len(got) != 0 || more {
				t.Fatalf("after Reset: %q, %v", got, more)
			}
		})
	}
}

package protocol

import (
	"testing"
)

// Each route encoder's output parses back, on a route parser, to the op
// it encoded.
func TestRouteEncodersRoundTrip(t *testing.T) {
	hdr := []byte("NATS/1.0\r\n\r\n")
	cases := []struct {
		wire []byte
		want string
	}{
		{AppendRSub(nil, []byte("$G"), []byte("foo.*"), nil, 0), `RS+ account="$G" subject="foo.*"`},
		{AppendRSub(nil, []byte("A"), []byte("foo"), []byte("q"), 12), `RS+ account="A" subject="foo" queue="q" weight=12`},
		{AppendRUnsub(nil, []byte("$G"), []byte("foo"), nil), `RS- account="$G" subject="foo"`},
		{AppendRUnsub(nil, []byte("$G"), []byte("foo"), []byte("q")), `RS- account="$G" subject="foo" queue="q"`},
		{AppendRMsg(nil, []byte("$G"), []byte("foo"), nil, nil, 0, []byte("hi")), `RMSG account="$G" subject="foo" data="hi"`},
		{AppendRMsg(nil, []byte("$G"), []byte("foo"), []byte("r"), nil, 0, []byte("hi")), `RMSG account="$G" subject="foo" reply="r" data="hi"`},
		{AppendRMsg(nil, []byte("$G"), []byte("foo"), []byte("r"), []string{"q1", "q2"}, 0, nil),
			`RMSG account="$G" subject="foo" reply="r" queues="q1 q2" data=""`},
		{AppendRMsg(nil, []byte("$G"), []byte("foo"), nil, []string{"q1"}, 0, []byte("x")),
			`RMSG account="$G" subject="foo" queues="q1" data="x"`},
		{AppendRMsg(nil, []byte("$G"), []byte("foo"), nil, []string{"q1"}, len(hdr), append(hdr, "x"...)),
			`HRMSG account="$G" subject="foo" queues="q1" hdr="NATS/1.0\r\n\r\n" payload="x"`},
	}
	for _, c := range cases {
		p := NewParser(RouteSide, Limits{})
		var r recorder
		if err := p.Parse(c.wire, &r); err != nil {
			t.Fatalf("%q: %v", c.wire, err)
		}
		if len(r.lines) != 1 || r.lines[0] != c.want {
			t.Errorf("%q parsed as %q, want %q", c.wire, r.lines, c.want)
		}
	}
}

func TestNextFieldWalksQueues(t *testing.T) {
	var got []string
	for rest := []byte(" q1\tq2  q3 "); ; {
		var f []byte
		if f, rest = NextField(rest); len(f) == 0 {
			break
		}
		got = append(got, string(f))
	}
	if len(got) != 3 || got[0] != "q1" || got[2] != "q3" {
		t.Fatalf("got %q", got)
	}
}

// Encoding and parsing routed messages allocates nothing once buffers are
// warm: the route side of the hot path costs what the client side does.
func TestRouteAllocs(t *testing.T) {
	queues := []string{"workers"}
	buf := make([]byte, 0, 64<<10)
	p := NewParser(RouteSide, Limits{})
	var h countOps
	allocs := testing.AllocsPerRun(100, func() {
		buf = buf[:0]
		for i := 0; i < 100; i++ {
			buf = AppendRMsg(buf, []byte("$G"), []byte("orders.eu.new"), []byte("_INBOX.x"), queues, 0, []byte("0123456789abcdef"))
		}
		if err := p.Parse(buf, &h); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("RMSG encode and parse: %v allocs per run, want 0", allocs)
	}
}

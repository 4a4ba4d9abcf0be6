package server

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// nullConn is a net.Conn that is never read and discards writes; it lets the
// hot path be measured without a socket.
type nullConn struct{ net.Conn }

func (nullConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (nullConn) Write(b []byte) (int, error)      { return len(b), nil }
func (nullConn) SetWriteDeadline(time.Time) error { return nil }
func (nullConn) Close() error                     { return nil }

// hotPath wires a publisher and subscribers straight to the router, with no
// goroutines: parse → match → enqueue runs on the caller, and drain plays
// the writer.
type hotPath struct {
	srv  *Server
	pub  *conn
	subs []*conn
}

func newHotPath(t testing.TB, nsubs int, subject string) *hotPath {
	s, err := New(&Options{Host: "127.0.0.1", Port: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &hotPath{srv: s, pub: newConn(s, nullConn{}, 1)}
	h.pub.opts.Verbose = false
	for i := 0; i < nsubs; i++ {
		c := newConn(s, nullConn{}, uint64(i+2))
		c.opts.Verbose = false
		sub := &subscription{conn: c, subject: subject, sid: []byte(fmt.Sprint(i + 1))}
		if err := s.sl.Insert(subject, "", sub); err != nil {
			t.Fatal(err)
		}
		h.subs = append(h.subs, c)
	}
	return h
}

// run feeds buf as one read and then flushes every subscriber, as their
// writers would.
func (h *hotPath) run(t testing.TB, buf []byte) {
	if err := h.pub.parser.Parse(buf, h.pub); err != nil {
		t.Fatal(err)
	}
	h.pub.endOfRead()
	for _, c := range h.subs {
		taken, _, msgs := c.out.take()
		if len(taken) > 0 {
			if err := c.flush(taken, msgs); err != nil {
				t.Fatal(err)
			}
		}
		select { // the kick the writer would have consumed
		case <-c.out.kick:
		default:
		}
	}
}

func pipelinedPubs(subject string, n, size int) []byte {
	payload := strings.Repeat("x", size)
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "PUB %s %d\r\n%s\r\n", subject, size, payload)
	}
	return []byte(sb.String())
}

// TestHotPathAllocations proves the message path allocates nothing per
// message once warm: parse, match (per-connection cache), enqueue, write.
func TestHotPathAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are checked without -race (make test does both)")
	}
	for _, nsubs := range []int{1, 5} {
		t.Run(fmt.Sprintf("subs=%d", nsubs), func(t *testing.T) {
			h := newHotPath(t, nsubs, "hot.path")
			buf := pipelinedPubs("hot.path", 100, 64)
			h.run(t, buf) // warm up: caches, pools, scratch
			if a := testing.AllocsPerRun(200, func() { h.run(t, buf) }); a != 0 {
				t.Fatalf("%v allocations per read of 100 messages, want 0", a)
			}
		})
	}
}

func BenchmarkHotPath(b *testing.B) {
	for _, tc := range []struct{ subs, size int }{{0, 16}, {1, 16}, {1, 1024}, {10, 16}} {
		b.Run(fmt.Sprintf("subs=%d/size=%d", tc.subs, tc.size), func(b *testing.B) {
			h := newHotPath(b, tc.subs, "bench.subject")
			const perRead = 100
			buf := pipelinedPubs("bench.subject", perRead, tc.size)
			h.run(b, buf)
			b.SetBytes(int64(perRead * tc.size))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h.run(b, buf)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perRead), "ns/msg")
		})
	}
}

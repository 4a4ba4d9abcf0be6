package server

import (
	"fmt"
	"testing"

	"github.com/wisp-mq/wisp/protocol"
)

// newTestRoute makes a registered route over a nullConn, without
// goroutines, for measuring the route side of the hot path.
func newTestRoute(t testing.TB, s *Server, id uint64) *route {
	cl := newCluster(s, ClusterOptions{Name: "test", MaxPending: DefaultRouteMaxPending})
	cl.closed = true // nothing it hears of (an INFO's peers) is ever dialled
	r := newRoute(cl, newConn(s, nullConn{}, id), nil)
	r.registered.Store(true)
	r.gotInfo = true
	return r
}

func drain(t testing.TB, c *conn) {
	taken, _, msgs := c.out.take()
	if len(taken) > 0 {
		if err := c.flush(taken, msgs); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-c.out.kick:
	default:
	}
}

// Publishing to a subject another server is interested in (plainly and
// through a queue group member there) allocates nothing per message:
// parse, match, forward into the route's queue, write.
func TestRouteForwardAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are checked without -race (make test does both)")
	}
	h := newHotPath(t, 1, "hot.path")
	r := newTestRoute(t, h.srv, 100)
	for _, q := range []string{"", "workers"} {
		sub := &subscription{conn: r.c, peer: r, acc: h.srv.global, subject: "hot.path", queue: q}
		if err := h.srv.sl.Insert("hot.path", q, sub); err != nil {
			t.Fatal(err)
		}
	}
	buf := pipelinedPubs("hot.path", 100, 64)
	run := func() { h.run(t, buf); drain(t, r.c) }
	run()
	before := r.c.out.msgs
	if a := testing.AllocsPerRun(200, run); a != 0 {
		t.Fatalf("%v allocations per read of 100 forwarded messages, want 0", a)
	}
	if got := r.c.out.msgs - before; got != 201*100 {
		t.Fatalf("route queued %d messages, want one per message (%d)", got, 201*100)
	}
}

// Messages arriving over a route are delivered to local subscribers with
// no allocation per message.
func TestRouteDeliverAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are checked without -race (make test does both)")
	}
	h := newHotPath(t, 3, "hot.path")
	r := newTestRoute(t, h.srv, 100)
	var buf []byte
	for i := 0; i < 100; i++ {
		buf = protocol.AppendRMsg(buf, []byte(GlobalAccount), []byte("hot.path"), nil, nil, 0, []byte(fmt.Sprint("payload-", i)))
	}
	run := func() {
		if err := r.c.parser.Parse(buf, r); err != nil {
			t.Fatal(err)
		}
		r.c.endOfRead()
		for _, c := range h.subs {
			drain(t, c)
		}
	}
	run()
	if a := testing.AllocsPerRun(200, run); a != 0 {
		t.Fatalf("%v allocations per read of 100 routed messages, want 0", a)
	}
}

// BenchmarkRouteForward: a publisher's read of 100 messages, each forwarded
// once to a route with plain interest (what a server does for a subscriber
// on another server), written by the route's writer.
func BenchmarkRouteForward(b *testing.B) {
	h := newHotPath(b, 0, "bench.subject")
	r := newTestRoute(b, h.srv, 100)
	sub := &subscription{conn: r.c, peer: r, acc: h.srv.global, subject: "bench.subject"}
	if err := h.srv.sl.Insert("bench.subject", "", sub); err != nil {
		b.Fatal(err)
	}
	const perRead = 100
	buf := pipelinedPubs("bench.subject", perRead, 128)
	run := func() { h.run(b, buf); drain(b, r.c) }
	run()
	b.SetBytes(perRead * 128)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perRead), "ns/msg")
}

// BenchmarkRouteDeliver: a route's read of 100 RMSGs, each delivered to one
// local subscriber and written by its writer.
func BenchmarkRouteDeliver(b *testing.B) {
	h := newHotPath(b, 1, "bench.subject")
	r := newTestRoute(b, h.srv, 100)
	const perRead = 100
	var buf []byte
	payload := make([]byte, 128)
	for i := 0; i < perRead; i++ {
		buf = protocol.AppendRMsg(buf, []byte(GlobalAccount), []byte("bench.subject"), nil, nil, 0, payload)
	}
	run := func() {
		if err := r.c.parser.Parse(buf, r); err != nil {
			b.Fatal(err)
		}
		r.c.endOfRead()
		drain(b, h.subs[0])
	}
	run()
	b.SetBytes(perRead * 128)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perRead), "ns/msg")
}

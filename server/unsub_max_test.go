package server

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// countMsgs sends PING and counts the MSG lines on sid before the PONG.
func countMsgs(c *rawClient, sid string) int {
	c.t.Helper()
	c.send("PING\r\n")
	n := 0
	for {
		l := c.readLine()
		switch {
		case l == "PONG":
			return n
		case strings.HasPrefix(l, "MSG "):
			if f := strings.Fields(l); f[2] == sid {
				n++
			}
			c.readLine() // the payload
		}
	}
}

// TestUnsubMaxCountsEarlierDeliveries: as with nats-server, the max of
// UNSUB <sid> <max> is the subscription's total, the messages it had before
// the UNSUB included; one that has had max already ends at once.
func TestUnsubMaxCountsEarlierDeliveries(t *testing.T) {
	for _, tc := range []struct {
		max  int
		more int // messages delivered after the UNSUB
	}{{3, 1}, {4, 2}, {2, 0}, {1, 0}} {
		t.Run(fmt.Sprintf("max=%d", tc.max), func(t *testing.T) {
			s := startServer(t, nil)
			sub, pub := dialRaw(t, s), dialRaw(t, s)
			sub.send("CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nPING\r\n")
			sub.expect("PONG")
			pub.send("CONNECT {\"verbose\":false}\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nPING\r\n")
			pub.expect("PONG")
			sub.expect("MSG foo 1 1", "a", "MSG foo 1 1", "b")

			sub.send(fmt.Sprintf("UNSUB 1 %d\r\nPING\r\n", tc.max))
			sub.expect("PONG")
			if tc.more == 0 {
				if n := s.NumSubscriptions(); n != 0 {
					t.Fatalf("subscription kept after UNSUB 1 %d with 2 delivered: %d subscriptions", tc.max, n)
				}
			}
			pub.send("PUB foo 1\r\nc\r\nPUB foo 1\r\nd\r\nPUB foo 1\r\ne\r\nPING\r\n")
			pub.expect("PONG")
			if n := countMsgs(sub, "1"); n != tc.more {
				t.Fatalf("%d messages after UNSUB 1 %d, want %d", n, tc.max, tc.more)
			}
			if n := s.NumSubscriptions(); n != 0 {
				t.Fatalf("%d subscriptions after max reached", n)
			}
		})
	}
}

// TestUnsubMaxCountsOwnStagedDeliveries: messages a connection published to
// itself earlier in the same read come before its UNSUB, so they count.
func TestUnsubMaxCountsOwnStagedDeliveries(t *testing.T) {
	s := startServer(t, nil)
	c := dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nUNSUB 1 1\r\nPUB foo 1\r\nc\r\nPING\r\n")
	c.expect("MSG foo 1 1", "a", "MSG foo 1 1", "b", "PONG")
	if n := s.NumSubscriptions(); n != 0 {
		t.Fatalf("%d subscriptions after max reached", n)
	}
}

// TestAutoUnsubscribeAfterDeliveries: nats.go's AutoUnsubscribe(n) on a
// subscription that has had messages sends UNSUB with the total n; the
// server must end the subscription at n too, not n more later.
func TestAutoUnsubscribeAfterDeliveries(t *testing.T) {
	s := startServer(t, nil)
	nc := connect(t, s)
	sub, err := nc.SubscribeSync("auto")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := nc.Publish("auto", []byte("x")); err != nil {
			t.Fatal(err)
		}
		nextMsg(t, sub)
	}
	if err := sub.AutoUnsubscribe(3); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("auto", []byte("y")); err != nil {
		t.Fatal(err)
	}
	nextMsg(t, sub)
	eventually(t, "the server to end the subscription at 3", func() bool { return s.NumSubscriptions() == 0 })
	if _, err := sub.NextMsg(100 * time.Millisecond); !errors.Is(err, nats.ErrMaxMessages) {
		t.Fatalf("NextMsg after the third message: %v, want %v", err, nats.ErrMaxMessages)
	}
}

// TestStagedDeliveriesCutAtMax: a max set while a producer has messages
// for the subscription staged (an UNSUB racing with the producer's read)
// still holds exactly: the hand-over keeps what fits and drops the rest,
// leaving other subscriptions' messages in the same buffer alone.
func TestStagedDeliveriesCutAtMax(t *testing.T) {
	for _, tc := range []struct {
		name        string
		before      int // messages handed over before the max is set
		max         int64
		wantLimited int
	}{
		{"room for some", 0, 3, 3},
		{"earlier deliveries count", 1, 3, 2},
		{"no room", 2, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(&Options{Host: "127.0.0.1", Port: -1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			pub := newConn(s, nullConn{}, 1)
			pub.opts.Verbose = false
			d := newConn(s, nullConn{}, 2)
			d.opts.Verbose = false
			var subs [2]*subscription
			for i := range subs {
				sid := fmt.Sprint(i + 1)
				subs[i] = &subscription{conn: d, acc: s.global, subject: "foo", sid: []byte(sid)}
				d.subs[sid] = subs[i]
				if err := s.sl.Insert("foo", "", subs[i]); err != nil {
					t.Fatal(err)
				}
			}
			read := func(n int) {
				t.Helper()
				if err := pub.parser.Parse([]byte(strings.Repeat("PUB foo 1\r\nx\r\n", n)), pub); err != nil {
					t.Fatal(err)
				}
			}
			if tc.before > 0 {
				read(tc.before)
				pub.endOfRead()
			}
			read(5) // staged for d, alternating between its two subscriptions
			if !subs[0].setMax(tc.max) {
				subs[0].unsubscribe()
			}
			pub.endOfRead()

			taken, _, _ := d.out.take()
			var got []byte
			for _, ch := range taken {
				got = append(got, ch.b...)
			}
			counts := map[string]int{}
			for rest := got; len(rest) > 0; {
				n, _ := encodedMsgLen(rest)
				counts[strings.Fields(string(rest[:n]))[2]]++
				rest = rest[n:]
			}
			if counts["1"] != tc.before+tc.wantLimited || counts["2"] != tc.before+5 {
				t.Fatalf("queued per sid %v, want 1:%d 2:%d\n%q", counts, tc.before+tc.wantLimited, tc.before+5, got)
			}
			if subs[0].delivered != tc.max || !subs[0].closed.Load() {
				t.Fatalf("limited subscription: delivered %d, closed %v; want %d and closed", subs[0].delivered, subs[0].closed.Load(), tc.max)
			}
			wantOut := int64(2*tc.before + 5 + tc.wantLimited)
			if d.out.msgs != wantOut || s.stats.outMsgs.Load() != wantOut {
				t.Fatalf("counted %d queued and %d delivered, want %d", d.out.msgs, s.stats.outMsgs.Load(), wantOut)
			}
		})
	}
}

// TestUnsubMaxExactAcrossProducers: with the max set before any traffic,
// concurrent publishers deliver exactly max to a subscription, and its
// queue group gives the rest to the other member.
func TestUnsubMaxExactAcrossProducers(t *testing.T) {
	const (
		max   = 37
		total = 4 * 100
	)
	s := startServer(t, nil)
	limited, other := dialRaw(t, s), dialRaw(t, s)
	limited.send("CONNECT {\"verbose\":false}\r\nSUB work q 1\r\nUNSUB 1 37\r\nSUB all 2\r\nUNSUB 2 37\r\nPING\r\n")
	limited.expect("PONG")
	other.send("CONNECT {\"verbose\":false}\r\nSUB work q 1\r\nPING\r\n")
	other.expect("PONG")
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		p := dialRaw(t, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.send("CONNECT {\"verbose\":false}\r\n" + strings.Repeat("PUB work 1\r\nx\r\nPUB all 1\r\ny\r\n", total/4) + "PING\r\n")
			for p.readLine() != "PONG" {
			}
		}()
	}
	wg.Wait()
	limited.send("PING\r\n")
	work, all := 0, 0
	for {
		l := limited.readLine()
		if l == "PONG" {
			break
		}
		if f := strings.Fields(l); len(f) > 0 && f[0] == "MSG" {
			limited.readLine()
			if f[1] == "work" {
				work++
			} else {
				all++
			}
		}
	}
	if all != max || work != max {
		t.Fatalf("limited subscriptions got %d (plain) and %d (queue), want %d each", all, work, max)
	}
	if n := countMsgs(other, "1"); n != total-max {
		t.Fatalf("the other queue member got %d, want %d", n, total-max)
	}
}

// TestSubszDeliveredCounts: /subsz?subs=1 reports each subscription's
// deliveries, with no max set, through fan-out, queue groups, several
// subscriptions on one connection, and in-process publishes.
func TestSubszDeliveredCounts(t *testing.T) {
	s := startMonitored(t, nil)
	a, b := connect(t, s, nats.Name("a")), connect(t, s, nats.Name("b"))
	for _, sub := range []struct {
		nc             *nats.Conn
		subject, queue string
	}{
		{a, "fan.out", ""}, {a, "fan.*", ""}, {b, "fan.out", ""},
		{a, "work", "q"}, {b, "work", "q"}, {b, "idle", ""},
	} {
		var err error
		if sub.queue == "" {
			_, err = sub.nc.Subscribe(sub.subject, func(*nats.Msg) {})
		} else {
			_, err = sub.nc.QueueSubscribe(sub.subject, sub.queue, func(*nats.Msg) {})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, nc := range []*nats.Conn{a, b} {
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	pub := connect(t, s)
	for i := 0; i < 25; i++ {
		pub.Publish("fan.out", []byte("m"))
		pub.Publish("work", []byte("w"))
		pub.Publish("work", []byte("w"))
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ { // in process: no producing connection
		if err := s.Deliver("fan.out", "fan.out", "", nil, []byte("d")); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int64{"a fan.out": 30, "a fan.*": 30, "b fan.out": 30, "b idle": 0}
	eventually(t, "the delivered counts", func() bool {
		var sz Subsz
		monGet(t, s, "/subsz?subs=1", 200, &sz)
		names := map[uint64]string{}
		for _, c := range s.Conns(false) {
			names[c.CID] = c.Name
		}
		var queued int64
		got := map[string]int64{}
		for _, d := range sz.Subs {
			if d.Queue != "" {
				queued += d.Msgs
				continue
			}
			got[names[d.CID]+" "+d.Subject] = d.Msgs
		}
		for k, v := range want {
			if got[k] != v {
				return false
			}
		}
		return queued == 50
	})
}

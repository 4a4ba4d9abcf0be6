package server

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestLameDuckMode(t *testing.T) {
	s := startServer(t, func(o *Options) {
		o.LameDuckDuration = 400 * time.Millisecond
		o.LameDuckGracePeriod = 100 * time.Millisecond
	})
	var ldm atomic.Int32
	var closedAt [5]atomic.Int64
	conns := make([]*nats.Conn, 5)
	for i := range conns {
		i := i
		conns[i] = connect(t, s, nats.NoReconnect(),
			nats.LameDuckModeHandler(func(*nats.Conn) { ldm.Add(1) }),
			nats.ClosedHandler(func(*nats.Conn) { closedAt[i].Store(time.Now().UnixNano()) }))
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- s.LameDuck(context.Background()) }()

	eventually(t, "every client told about lame-duck mode", func() bool { return ldm.Load() == 5 })
	// New connections are refused at once.
	eventually(t, "listener closed", func() bool {
		c, err := net.DialTimeout("tcp", s.Addr().String(), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LameDuck did not return")
	}
	elapsed := time.Since(start)
	if elapsed < 300*time.Millisecond {
		t.Fatalf("lame-duck mode took %v, want about 400ms", elapsed)
	}
	// The closes were spread out, none before the grace period.
	eventually(t, "clients closed", func() bool {
		for i := range closedAt {
			if closedAt[i].Load() == 0 {
				return false
			}
		}
		return true
	})
	first, last := int64(1<<62), int64(0)
	for i := range closedAt {
		first, last = min(first, closedAt[i].Load()), max(last, closedAt[i].Load())
	}
	if d := time.Duration(first - start.UnixNano()); d < 90*time.Millisecond {
		t.Errorf("first close %v after start, before the grace period", d)
	}
	if d := time.Duration(last - first); d < 150*time.Millisecond {
		t.Errorf("closes spread over %v only", d)
	}
	if s.NumConnections() != 0 {
		t.Fatalf("%d connections left", s.NumConnections())
	}
}

func TestLameDuckInfo(t *testing.T) {
	s := startServer(t, func(o *Options) {
		o.LameDuckDuration = time.Second
		o.LameDuckGracePeriod = time.Second
	})
	c := dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false}\r\nPING\r\n")
	c.expect("PONG")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.LameDuck(ctx) }()
	line := c.readLine()
	if want := `"ldm":true`; !strings.HasPrefix(line, "INFO {") || !strings.Contains(line, want) {
		t.Fatalf("got %q, want INFO with %s", line, want)
	}
	cancel() // ends lame-duck mode early: shut down now
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Fatalf("LameDuck: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LameDuck did not return after cancel")
	}
	c.expectClosed()
}

package server

import (
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestSlowConsumerIsCutOff checks that a subscriber that never reads is
// closed once its queue passes max_pending, that a healthy subscriber on the
// same subject gets every message meanwhile, and that the server does not
// buffer without bound.
func TestSlowConsumerIsCutOff(t *testing.T) {
	const maxPending = 8 << 20
	s := startServer(t, func(o *Options) { o.MaxPending = maxPending })

	stuck := dialRaw(t, s) // subscribes, then never reads again
	stuck.send("CONNECT {\"verbose\":false}\r\nSUB flood 1\r\nPING\r\n")
	stuck.expect("PONG")

	healthy := connect(t, s)
	var got atomic.Int64
	healthy.Subscribe("flood", func(*nats.Msg) { got.Add(1) })
	healthy.Flush()

	pub := connect(t, s)
	payload := make([]byte, 1024)
	// 40 MiB in batches of 2 MiB: far beyond max_pending and the socket
	// buffers for the stuck reader. The publisher waits for the healthy
	// subscriber after each batch, so on a loaded machine it never has more
	// than one batch queued and cannot itself be a slow consumer.
	const n, batch = 40000, 2000
	// Live heap (after a GC) is what a leak would grow: the clients in this
	// process make plenty of short-lived garbage that says nothing.
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	peak := uint64(0)
	for i := 0; i < n; i++ {
		if err := pub.Publish("flood", payload); err != nil {
			t.Fatal(err)
		}
		if (i+1)%batch == 0 {
			want := int64(i + 1)
			eventually(t, "healthy subscriber to keep up", func() bool { return got.Load() == want })
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	eventually(t, "slow consumer to be counted", func() bool { return s.stats.slowConsumers.Load() == 1 })
	stuck.expectClosed()
	// The test process holds both clients too; the bound is loose but far
	// below the 40 MiB that would pile up if the stuck queue were unbounded.
	if grow := int64(peak) - int64(before.HeapInuse); grow > 30<<20 {
		t.Fatalf("heap grew by %d MiB while flooding a stuck subscriber", grow>>20)
	}
	if s.NumConnections() != 2 {
		t.Fatalf("%d connections left, want the 2 healthy ones", s.NumConnections())
	}
}

// TestWriteDeadlineCutsOffStuckReader checks the write deadline path: a
// reader that stops reading makes the writer time out.
func TestWriteDeadlineCutsOffStuckReader(t *testing.T) {
	s := startServer(t, func(o *Options) { o.WriteDeadline = 200 * time.Millisecond })
	stuck := dialRaw(t, s)
	stuck.send("CONNECT {\"verbose\":false}\r\nSUB wd 1\r\nPING\r\n")
	stuck.expect("PONG")
	pub := connect(t, s)
	payload := make([]byte, 64<<10)
	for i := 0; i < 400; i++ { // 25 MiB: more than the socket buffers hold
		pub.Publish("wd", payload)
	}
	pub.Flush()
	eventually(t, "slow consumer to be counted", func() bool { return s.stats.slowConsumers.Load() == 1 })
}

// TestPingFloodWithoutReading checks that a client that sends PINGs and
// never reads the PONGs is cut off instead of growing the server's queue.
func TestPingFloodWithoutReading(t *testing.T) {
	s := startServer(t, func(o *Options) { o.MaxPending = 1 << 20; o.WriteDeadline = time.Minute })
	c := dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false}\r\n")
	pings := []byte(strings.Repeat("PING\r\n", 10000))
	for i := 0; i < 200; i++ { // up to 12 MiB of PONGs owed
		c.nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.nc.Write(pings); err != nil {
			break // the server hung up: expected
		}
	}
	eventually(t, "slow consumer to be counted", func() bool { return s.stats.slowConsumers.Load() == 1 })
}

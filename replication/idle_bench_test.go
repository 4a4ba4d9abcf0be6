package replication

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/wisp-mq/wisp/consensus"
)

// BenchmarkIdleGroupTraffic measures what idle raft groups cost the
// network: three hosts with the server's defaults (100 ms tick, a
// heartbeat every tick) run N groups of three replicas with no writes;
// the benchmark reports frames and payload bytes per second between one
// pair of hosts, one way. The host already sends every group's messages
// for a peer in one batch per loop iteration, so the frame rate stays at
// about one per tick whatever N is, and only the bytes grow with N: a few
// bytes per heartbeat (heartbeat.go).
//
//	go test -run '^$' -bench IdleGroupTraffic -benchtime 1x ./replication
func BenchmarkIdleGroupTraffic(b *testing.B) {
	for _, groups := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("groups=%d", groups), func(b *testing.B) {
			for range b.N {
				frames, bytes := idleTraffic(b, groups, 3*time.Second)
				b.ReportMetric(frames, "frames/s")
				b.ReportMetric(bytes, "bytes/s")
				b.ReportMetric(bytes/float64(groups), "bytes/s/group")
			}
		})
	}
}

func idleTraffic(b *testing.B, groups int, d time.Duration) (frames, bytes float64) {
	net := newRouteNet(4<<20, 64<<20)
	names := []string{"a", "b", "c"}
	var peers []uint64
	for _, n := range names {
		peers = append(peers, NodeID(n))
	}
	var hosts []*consensus.Host
	for _, name := range names {
		db, err := pebble.Open("db", &pebble.Options{FS: vfs.NewMem(), Logger: consensus.NewFatalGuard(nil)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		tr := NewTransport(net.end(b, name), name, 4<<20, nil)
		tr.Learn(names...)
		cfg := consensus.DefaultConfig()
		cfg.ID, cfg.Store, cfg.Transport = NodeID(name), consensus.NewStore(db, nil), tr
		h, err := consensus.NewHost(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(h.Stop)
		tr.Attach(h)
		hosts = append(hosts, h)
	}
	for g := 1; g <= groups; g++ {
		for _, h := range hosts {
			if err := h.AddGroup(context.Background(), consensus.GroupConfig{ID: uint64(g), Peers: peers, Bootstrap: true, StateMachine: &blobSM{}}); err != nil {
				b.Fatal(err)
			}
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for g := 1; g <= groups; g++ {
		for {
			led := false
			for _, h := range hosts {
				if st, _ := h.Status(uint64(g)); st.IsLeader {
					led = true
				}
			}
			if led {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("group %d has no leader", g)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(time.Second) // elections and their appends are over
	f0, b0, t0 := net.frames.Load(), net.bytes.Load(), time.Now()
	time.Sleep(d)
	secs := time.Since(t0).Seconds()
	// Six directed pairs among three hosts.
	return float64(net.frames.Load()-f0) / secs / 6, float64(net.bytes.Load()-b0) / secs / 6
}

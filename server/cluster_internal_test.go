package server

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestClusterSendReachesHandlerOnly: a cluster-internal message reaches the
// peer's handler for its channel, named by the sender's server name, and
// no client subscribed to everything sees it.
func TestClusterSendReachesHandlerOnly(t *testing.T) {
	servers := startTestCluster(t, 2, func(i int, o *Options) { o.JetStream = i == 1 })
	n1, n2 := servers[0], servers[1]

	type got struct {
		from string
		data []byte
	}
	var mu sync.Mutex
	var received []got
	n2.HandleCluster("raft", func(from string, payload []byte) {
		mu.Lock()
		received = append(received, got{from, bytes.Clone(payload)})
		mu.Unlock()
	})
	sub, err := connectTo(t, n2).SubscribeSync(">")
	if err != nil {
		t.Fatal(err)
	}

	payload := bytes.Repeat([]byte("x\r\n"), 1000) // CRLFs inside are fine: the size frames it
	if err := n1.ClusterSend("n2", "raft", payload); err != nil {
		t.Fatal(err)
	}
	if err := n1.ClusterSend("n2", "other", []byte("no handler")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the handler's message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(received) == 1
	})
	if received[0].from != "n1" || !bytes.Equal(received[0].data, payload) {
		t.Fatalf("got from %q %d bytes", received[0].from, len(received[0].data))
	}
	if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("a client saw a cluster message on %q", m.Subject)
	}

	if err := n1.ClusterSend("nobody", "raft", nil); !errors.Is(err, ErrClusterPeerUnknown) {
		t.Fatalf("send to an unknown server: %v", err)
	}
	if err := n1.ClusterSend("n2", "raft", make([]byte, ClusterFrameMax+1)); err == nil {
		t.Fatal("a message over ClusterFrameMax was accepted")
	}
	// A frame of the largest size crosses (the route's parser takes it).
	big := make([]byte, ClusterFrameMax)
	if err := n1.ClusterSend("n2", "raft", big); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the largest message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(received) == 2 && len(received[1].data) == ClusterFrameMax
	})

	peers := n1.ClusterPeers()
	if len(peers) != 1 || peers[0].Name != "n2" || !peers[0].Streams {
		t.Fatalf("n1's peers = %+v", peers)
	}
	if peers := n2.ClusterPeers(); len(peers) != 1 || peers[0].Name != "n1" || peers[0].Streams {
		t.Fatalf("n2's peers = %+v", peers)
	}
}

// TestClusterSeedsNamesWhoIsThere: each seed route resolves to the name
// of the server found at it, the server's own address to its own name.
func TestClusterSeedsNamesWhoIsThere(t *testing.T) {
	servers := startTestCluster(t, 2, nil)
	n1, n2 := servers[0], servers[1]
	if got := n2.ClusterSeeds(); len(got) != 1 || got[0] != "n1" {
		t.Fatalf("n2's seeds = %q", got)
	}
	own := "nats://" + n1.ClusterAddr().String()
	n3 := startServer(t, func(o *Options) {
		o.ServerName = "n3"
		o.Cluster = ClusterOptions{Name: "test", Host: "127.0.0.1", Port: -1, Routes: []string{own, "nats://127.0.0.1:1"}}
	})
	eventually(t, "n3's first seed", func() bool { return n3.ClusterSeeds()[0] == "n1" })
	if got := n3.ClusterSeeds(); got[1] != "" {
		t.Fatalf("an unreachable seed resolved to %q", got[1])
	}
}

// TestClusterSendBusyRouteRefusesInsteadOfCutting: cluster messages to a
// peer that stopped reading fill the route only to half its limit and are
// then refused (ErrClusterBusy), so the route is never cut as slow for
// them; once the peer reads again messages flow.
func TestClusterSendBusyRouteRefusesInsteadOfCutting(t *testing.T) {
	servers, link := faultCluster(t, func(o *Options) { o.Cluster.MaxPending = 2 << 20 })
	n2, n3 := servers[1], servers[2]
	var got atomic.Int64
	n3.HandleCluster("raft", func(string, []byte) { got.Add(1) })
	for _, p := range link {
		p.SetPaused(true)
	}
	payload := make([]byte, 256<<10)
	busy := false
	for i := 0; i < 2000 && !busy; i++ {
		err := n2.ClusterSend("n3", "raft", payload)
		switch {
		case errors.Is(err, ErrClusterBusy):
			busy = true
		case err != nil:
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if !busy {
		t.Fatal("a peer that reads nothing never made the route busy")
	}
	if n := n2.cl.slowRoutes.Load(); n != 0 {
		t.Fatalf("%d routes cut as slow by cluster messages", n)
	}
	for _, p := range link {
		p.SetPaused(false)
	}
	// Delivery is at most once (a route replaced meanwhile loses what it
	// queued), so keep sending until something arrives; generous bounds
	// for megabytes through the proxy on a loaded machine.
	waitUpTo(t, 30*time.Second, "messages to flow again", func() bool {
		_ = n2.ClusterSend("n3", "raft", []byte("after"))
		return got.Load() > 0
	})
	waitUpTo(t, 30*time.Second, "room on the route again", func() bool { return n2.ClusterSend("n3", "raft", payload) == nil })
	if n := n2.cl.slowRoutes.Load(); n != 0 {
		t.Fatalf("%d routes cut as slow by cluster messages", n)
	}
}

// TestClusterFrameOverLimitClosesRoute: a peer announcing a cluster message
// larger than ClusterFrameMax is cut off by the parser before the bytes
// arrive; nothing reaches the handler.
func TestClusterFrameOverLimitClosesRoute(t *testing.T) {
	s := startServer(t, func(o *Options) {
		o.ServerName = "n1"
		o.Cluster = ClusterOptions{Name: "test", Host: "127.0.0.1", Port: -1}
	})
	var got atomic.Int64
	s.HandleCluster("raft", func(string, []byte) { got.Add(1) })
	nc, err := net.Dial("tcp", s.ClusterAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	fmt.Fprintf(nc, "CONNECT {\"route\":true,\"cluster\":\"test\",\"server_id\":\"X\",\"name\":\"evil\"}\r\n")
	fmt.Fprintf(nc, "INFO {\"server_id\":\"X\",\"server_name\":\"evil\",\"cluster\":\"test\",\"route\":true,\"route_url\":\"127.0.0.1:1\"}\r\n")
	eventually(t, "the route registered", func() bool { return s.NumRoutes() == 1 })
	fmt.Fprintf(nc, "RMSG %s raft %d\r\n", ClusterAccount, ClusterFrameMax+1)
	eventually(t, "the route closed", func() bool { return s.NumRoutes() == 0 })
	if got.Load() != 0 {
		t.Fatal("the handler got an oversized message")
	}
}

// waitUpTo polls cond every 10 ms until it holds or d passes.
func waitUpTo(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// BenchmarkClusterSend: queueing one cluster-internal message for a peer,
// as replication does per raft message. Sends the route refuses as busy
// (its writer behind) count too: they cost the same lookup.
func BenchmarkClusterSend(b *testing.B) {
	servers := startTestCluster(b, 2, nil)
	payload := make([]byte, 128)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := servers[0].ClusterSend("n2", "bench", payload); err != nil && !errors.Is(err, ErrClusterBusy) {
			b.Fatal(err)
		}
	}
}

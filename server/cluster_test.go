package server

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// startTestCluster starts n servers of cluster "test" on loopback ports.
// Every server but the first knows only the first as its seed; gossip must
// do the rest. It returns once every server has a route to every other.
func startTestCluster(t testing.TB, n int, edit func(i int, o *Options)) []*Server {
	t.Helper()
	servers := make([]*Server, 0, n)
	var seed string
	for i := 0; i < n; i++ {
		s := startServer(t, func(o *Options) {
			o.ServerName = fmt.Sprintf("n%d", i+1)
			o.Cluster = ClusterOptions{Name: "test", Host: "127.0.0.1", Port: -1}
			if seed != "" {
				o.Cluster.Routes = []string{seed}
			}
			if edit != nil {
				edit(i, o)
			}
		})
		if i == 0 {
			seed = "nats://" + s.ClusterAddr().String()
		}
		servers = append(servers, s)
	}
	waitMesh(t, servers)
	return servers
}

// waitMesh waits until each server has a route to every other one.
func waitMesh(t testing.TB, servers []*Server) {
	t.Helper()
	eventually(t, "full mesh", func() bool {
		for _, s := range servers {
			if s.NumRoutes() != len(servers)-1 {
				return false
			}
		}
		return true
	})
}

func connectTo(t testing.TB, s *Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		t.Fatalf("connect to %s: %v", s.Name(), err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// waitInterest waits until s sees interest in subject from routes other
// servers: plain subscriptions and each queue group count once per
// server. Servers are counted, not route objects: while two servers settle
// on one route (both dialled at once), the one about to close can still
// hold the peer's interest, and counting it twice would let a test go on
// before a third server's interest arrived.
func waitInterest(t testing.TB, s *Server, subject string, routes int) {
	t.Helper()
	eventually(t, "interest in "+subject+" on "+s.Name(), func() bool {
		r := s.sl.Match([]byte(subject))
		seen := map[string]bool{}
		add := func(group string, sub *subscription) {
			if sub.peer != nil && sub.peer.registered.Load() {
				seen[group+"\x00"+sub.peer.remoteName()] = true
			}
		}
		for _, sub := range r.Plain {
			add("", sub)
		}
		for _, g := range r.Groups {
			for _, sub := range g.Members {
				add(sub.queue, sub)
			}
		}
		return len(seen) >= routes
	})
}

func TestClusterGossipFromOneSeed(t *testing.T) {
	servers := startTestCluster(t, 3, nil)
	for _, s := range servers {
		s.cl.mu.Lock()
		for id, r := range s.cl.routes {
			if id == s.id || r.remote.ServerName == s.name {
				t.Errorf("%s has a route to itself", s.name)
			}
		}
		s.cl.mu.Unlock()
	}
}

func TestClusterPubSubAcrossNodes(t *testing.T) {
	servers := startTestCluster(t, 3, nil)
	sub := connectTo(t, servers[2])
	got := make(chan *nats.Msg, 100)
	if _, err := sub.ChanSubscribe("orders.*", got); err != nil {
		t.Fatal(err)
	}
	sub.Flush()
	waitInterest(t, servers[0], "orders.x", 1)
	pub := connectTo(t, servers[0])
	for i := 0; i < 50; i++ {
		pub.Publish("orders.x", []byte(fmt.Sprint(i)))
	}
	pub.Flush()
	for i := 0; i < 50; i++ {
		select {
		case m := <-got:
			if string(m.Data) != fmt.Sprint(i) {
				t.Fatalf("message %d: got %q (order across a route)", i, m.Data)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d did not arrive", i)
		}
	}
	// Exactly once: nothing more arrives (no second hop, no second route).
	select {
	case m := <-got:
		t.Fatalf("extra message %q", m.Data)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestClusterQueueGroupExactlyOnceAndSpread(t *testing.T) {
	servers := startTestCluster(t, 3, nil)
	var mu sync.Mutex
	counts := map[string]int{}
	total := 0
	for _, s := range servers {
		nc := connectTo(t, s)
		name := s.Name()
		if _, err := nc.QueueSubscribe("work", "workers", func(*nats.Msg) {
			mu.Lock()
			counts[name]++
			total++
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
		nc.Flush()
	}
	for _, s := range servers {
		waitInterest(t, s, "work", 2)
	}
	pub := connectTo(t, servers[0])
	const n = 600
	for i := 0; i < n; i++ {
		pub.Publish("work", []byte("x"))
	}
	pub.Flush()
	eventually(t, "all delivered", func() bool { mu.Lock(); defer mu.Unlock(); return total >= n })
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if total != n {
		t.Fatalf("delivered %d, want exactly %d", total, n)
	}
	for _, s := range servers {
		// Uniform over three members: each gets about 200; 100 is far
		// below any plausible draw.
		if counts[s.Name()] < 100 {
			t.Errorf("spread %v: %s got too few", counts, s.Name())
		}
	}
}

func TestClusterRequestReplyAndNoResponders(t *testing.T) {
	servers := startTestCluster(t, 3, nil)
	resp := connectTo(t, servers[1])
	if _, err := resp.Subscribe("svc", func(m *nats.Msg) { m.Respond(append([]byte("re:"), m.Data...)) }); err != nil {
		t.Fatal(err)
	}
	resp.Flush()
	waitInterest(t, servers[2], "svc", 1)
	req := connectTo(t, servers[2])
	m, err := req.Request("svc", []byte("hi"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != "re:hi" {
		t.Fatalf("reply %q", m.Data)
	}
	if _, err := req.Request("nobody.home", nil, 5*time.Second); err != nats.ErrNoResponders {
		t.Fatalf("request without responders: %v, want ErrNoResponders", err)
	}
}

func TestClusterInterestWithdrawn(t *testing.T) {
	servers := startTestCluster(t, 2, nil)
	nc := connectTo(t, servers[1])
	sub, err := nc.SubscribeSync("gone")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	waitInterest(t, servers[0], "gone", 1)
	sub.Unsubscribe()
	nc.Flush()
	eventually(t, "interest withdrawn", func() bool {
		return len(servers[0].sl.Match([]byte("gone")).Plain) == 0
	})
	req := connectTo(t, servers[0])
	if _, err := req.Request("gone", nil, 5*time.Second); err != nats.ErrNoResponders {
		t.Fatalf("after unsubscribe: %v, want ErrNoResponders", err)
	}
}

// remoteID is the peer's server id, read under the cluster's lock.
func (r *route) remoteID() string {
	r.cl.mu.Lock()
	defer r.cl.mu.Unlock()
	return r.remote.ServerID
}

// routeToID is the registered route to server id, or nil.
func (cl *cluster) routeToID(id string) *route {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.routes[id]
}

package server

import (
	"maps"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-mq/wisp/internal/testproxy"
)

// faultCluster starts n1, n2, n3 so that the n2–n3 link, and only it,
// runs through proxies (each of n2 and n3 advertises its proxy; n1 dials
// them directly before it hears of the proxies).
func faultCluster(t *testing.T, edit ...func(o *Options)) (servers []*Server, link []*testproxy.Proxy) {
	ports := freePorts(t, 3)
	p2 := testproxy.New(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])))
	p3 := testproxy.New(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2])))
	tweak := func(o *Options) {
		for _, e := range edit {
			e(o)
		}
	}
	n1 := startServer(t, func(o *Options) {
		o.ServerName = "n1"
		o.Cluster = ClusterOptions{Name: "test", Host: "127.0.0.1", Port: ports[0]}
		tweak(o)
	})
	seed := []string{"nats://" + n1.ClusterAddr().String()}
	n2 := startServer(t, func(o *Options) {
		o.ServerName = "n2"
		o.Cluster = ClusterOptions{Name: "test", Host: "127.0.0.1", Port: ports[1], Routes: seed, Advertise: p2.Addr()}
		tweak(o)
	})
	waitMesh(t, []*Server{n1, n2})
	n3 := startServer(t, func(o *Options) {
		o.ServerName = "n3"
		o.Cluster = ClusterOptions{Name: "test", Host: "127.0.0.1", Port: ports[2], Routes: seed, Advertise: p3.Addr()}
		tweak(o)
	})
	servers = []*Server{n1, n2, n3}
	waitMesh(t, servers)
	waitSettled(t, servers)
	return servers, []*testproxy.Proxy{p2, p3}
}

// waitSettled waits until no route of servers changes for longer than
// routeSettleTime. A server may still be dialling a peer it heard of by
// gossip before that peer's own route arrived; such a late route replaces
// the one in use, and the messages on their way over the old one are
// lost (core delivery is at most once). The fault tests count messages,
// so they start once the mesh is quiet.
func waitSettled(t *testing.T, servers []*Server) {
	t.Helper()
	snapshot := func() map[*route]bool {
		m := map[*route]bool{}
		for _, s := range servers {
			s.cl.mu.Lock()
			for _, r := range s.cl.routes {
				m[r] = true
			}
			s.cl.mu.Unlock()
		}
		return m
	}
	prev := snapshot()
	for range 20 {
		time.Sleep(routeSettleTime + 500*time.Millisecond)
		cur := snapshot()
		if maps.Equal(prev, cur) {
			return
		}
		prev = cur
	}
	t.Fatal("the cluster's routes kept changing")
}

// Cutting one link leaves the others working; the cut link comes back by
// itself, with interest made while it was down known on both sides.
func TestClusterFaultCutAndHealOneLink(t *testing.T) {
	servers, link := faultCluster(t)
	n1, n2, n3 := servers[0], servers[1], servers[2]
	for _, p := range link {
		p.SetCut(true)
	}
	eventually(t, "n2–n3 cut", func() bool { return n2.NumRoutes() == 1 && n3.NumRoutes() == 1 })
	if n1.NumRoutes() != 2 {
		t.Fatalf("n1 lost a route: %d", n1.NumRoutes())
	}
	// Messages to servers still connected keep flowing.
	c2, c3 := connectTo(t, n2), connectTo(t, n3)
	s2, _ := c2.SubscribeSync("during.cut")
	s3, _ := c3.SubscribeSync("during.cut")
	late, _ := c3.SubscribeSync("made.during.cut") // interest n2 must learn after healing
	c2.Flush()
	c3.Flush()
	waitInterest(t, n1, "during.cut", 2)
	pub := connectTo(t, n1)
	pub.Publish("during.cut", []byte("x"))
	pub.Flush()
	for _, s := range []*nats.Subscription{s2, s3} {
		if _, err := s.NextMsg(5 * time.Second); err != nil {
			t.Fatalf("during the cut: %v", err)
		}
	}
	// Heal: the link comes back by itself.
	for _, p := range link {
		p.SetCut(false)
	}
	waitMesh(t, servers)
	waitInterest(t, n2, "made.during.cut", 1)
	c2.Publish("made.during.cut", []byte("y"))
	c2.Flush()
	if _, err := late.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("after healing: %v", err)
	}
	if _, err := late.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatal("a second copy after healing")
	}
}

// A slow link delays messages on it without reordering them or holding
// up the other links.
func TestClusterFaultDelayedLink(t *testing.T) {
	servers, link := faultCluster(t)
	n1, n2, n3 := servers[0], servers[1], servers[2]
	for _, p := range link {
		p.SetDelay(20 * time.Millisecond)
	}
	c3 := connectTo(t, n3)
	slow, _ := c3.SubscribeSync("delayed")
	c3.Flush()
	c1 := connectTo(t, n1)
	fast, _ := c1.SubscribeSync("delayed")
	c1.Flush()
	waitInterest(t, n2, "delayed", 2)
	pub := connectTo(t, n2)
	for i := 0; i < 20; i++ {
		pub.Publish("delayed", []byte{byte(i)})
	}
	pub.Flush()
	for _, s := range []*nats.Subscription{fast, slow} {
		for i := 0; i < 20; i++ {
			m, err := s.NextMsg(10 * time.Second)
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			if m.Data[0] != byte(i) {
				t.Fatalf("message %d arrived as %d", i, m.Data[0])
			}
		}
	}
}

// A peer that stops reading: the route to it fills to its own pending
// limit and is cut, counted and logged, while the publisher's messages to
// other servers keep flowing; once the peer reads again the route is
// redialled and carries messages again.
func TestClusterFaultStuckPeerCutAndRedialled(t *testing.T) {
	servers, link := faultCluster(t, func(o *Options) { o.Cluster.MaxPending = 1 << 20 })
	n1, n2, n3 := servers[0], servers[1], servers[2]
	c1, c3 := connectTo(t, n1), connectTo(t, n3)
	s1, _ := c1.SubscribeSync("stuck.>")
	s3, _ := c3.SubscribeSync("stuck.>")
	c1.Flush()
	c3.Flush()
	waitInterest(t, n2, "stuck.x", 2)
	for _, p := range link {
		p.SetPaused(true)
	}
	pub := connectTo(t, n2)
	payload := make([]byte, 16<<10)
	for i := 0; i < 5000 && n2.cl.slowRoutes.Load() == 0; i++ {
		pub.Publish("stuck.x", payload)
		if i%64 == 0 {
			pub.Flush()
		}
	}
	eventually(t, "the stuck route cut", func() bool { return n2.cl.slowRoutes.Load() >= 1 })
	// The other route kept flowing: n1's subscriber gets a message sent now.
	pub.Publish("stuck.after", []byte("x"))
	pub.Flush()
	for {
		m, err := s1.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("n1 subscriber: %v", err)
		}
		if m.Subject == "stuck.after" {
			break
		}
	}
	for _, p := range link {
		p.SetPaused(false)
	}
	waitMesh(t, servers)
	waitInterest(t, n2, "stuck.y", 2)
	pub.Publish("stuck.y", []byte("y"))
	pub.Flush()
	for {
		m, err := s3.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("n3 subscriber after the redial: %v", err)
		}
		if m.Subject == "stuck.y" {
			break
		}
	}
}

// A peer whose host dies without closing the TCP connection (the link
// goes silent both ways) is found by the route's keepalive PINGs, whose
// interval is capped below the clients' (here shortened for the test):
// the route is closed as stale while the other routes stay, and comes back
// once the link carries traffic again.
func TestClusterFaultSilentPeerFoundByPing(t *testing.T) {
	servers, link := faultCluster(t, func(o *Options) { o.Cluster.pingMax = 200 * time.Millisecond })
	n1, n2, n3 := servers[0], servers[1], servers[2]
	if o := n2.o(); o.PingInterval != DefaultPingInterval {
		t.Fatalf("ping interval %v: the test is about the route's cap", o.PingInterval)
	}
	for _, p := range link {
		p.SetPaused(true)
	}
	deadline := time.Now().Add(30 * time.Second)
	for n2.NumRoutes() != 1 || n3.NumRoutes() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("silent route still up after 30s: n2 has %d routes, n3 %d", n2.NumRoutes(), n3.NumRoutes())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n1.NumRoutes() != 2 {
		t.Fatalf("n1 lost a route: %d", n1.NumRoutes())
	}
	for _, p := range link {
		p.SetPaused(false)
	}
	deadline = time.Now().Add(30 * time.Second)
	for n2.NumRoutes() != 2 || n3.NumRoutes() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("route not back after the link healed: n2 has %d routes, n3 %d", n2.NumRoutes(), n3.NumRoutes())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package server

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// freePorts returns n loopback ports that were free a moment ago, for
// servers that must know each other's ports before they start. They are
// drawn below Linux's ephemeral range (32768 and up), which the kernel
// also hands to outgoing connections: a port released from there can be
// taken by another test's client before the server binds it.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var lns []net.Listener
	var ports []int
	for try := 0; len(ports) < n && try < 1000; try++ {
		p := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue // in use: draw again
		}
		lns = append(lns, ln)
		ports = append(ports, p)
	}
	for _, ln := range lns {
		ln.Close()
	}
	if len(ports) < n {
		t.Fatalf("found only %d free ports of %d", len(ports), n)
	}
	return ports
}

// Every server lists every server (itself too) as a seed, so all dial at
// once: each pair must still end with exactly one route, the same one on
// both sides.
func TestClusterSimultaneousDialsSettleOnOneRoute(t *testing.T) {
	ports := freePorts(t, 3)
	var seeds []string
	for _, p := range ports {
		seeds = append(seeds, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var servers []*Server
	for i, p := range ports {
		servers = append(servers, startServer(t, func(o *Options) {
			o.ServerName = fmt.Sprintf("n%d", i+1)
			o.Cluster = ClusterOptions{Name: "test", Host: "127.0.0.1", Port: p, Routes: seeds}
		}))
	}
	// The route each side uses is one connection: local and remote
	// addresses agree.
	eventually(t, "one route per pair, the same on both sides", func() bool {
		for _, s := range servers {
			if s.NumRoutes() != len(servers)-1 {
				return false
			}
			for _, r := range s.cl.registered() {
				other := serverByID(servers, r.remoteID())
				back := other.cl.routeToID(s.id)
				if back == nil || back.c.nc.LocalAddr().String() != r.c.nc.RemoteAddr().String() {
					return false
				}
			}
		}
		return true
	})
	checkPubSubEverywhere(t, servers)
}

func serverByID(servers []*Server, id string) *Server {
	for _, s := range servers {
		if s.id == id {
			return s
		}
	}
	return nil
}

// checkPubSubEverywhere subscribes on every server and publishes from
// every server: each subscriber gets each message exactly once.
func checkPubSubEverywhere(t *testing.T, servers []*Server) {
	t.Helper()
	// It counts messages, so it starts on a quiet mesh: a late duplicate
	// route (slow TLS handshakes under load make them likelier) replaces
	// the one in use and loses what was on its way (waitSettled).
	waitSettled(t, servers)
	var subs []*nats.Subscription
	for _, s := range servers {
		nc := connectTo(t, s)
		sub, err := nc.SubscribeSync("mesh.>")
		if err != nil {
			t.Fatal(err)
		}
		nc.Flush()
		subs = append(subs, sub)
	}
	for _, s := range servers {
		waitInterest(t, s, "mesh.x", len(servers)-1)
	}
	for _, s := range servers {
		nc := connectTo(t, s)
		nc.Publish("mesh."+s.Name(), []byte(s.Name()))
		nc.Flush()
	}
	for i, sub := range subs {
		seen := map[string]int{}
		for range servers {
			m, err := sub.NextMsg(10 * time.Second)
			if err != nil {
				t.Fatalf("subscriber on %s: %v (got %v)", servers[i].Name(), err, seen)
			}
			seen[string(m.Data)]++
		}
		if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
			t.Fatalf("subscriber on %s got an extra %q", servers[i].Name(), m.Data)
		}
		if len(seen) != len(servers) {
			t.Fatalf("subscriber on %s saw %v", servers[i].Name(), seen)
		}
	}
}

func TestClusterFiveNodes(t *testing.T) {
	servers := startTestCluster(t, 5, nil)
	checkPubSubEverywhere(t, servers)
}

// A server whose name another server of the cluster already has is
// refused, with the reason in the log of both sides.
func TestClusterDuplicateServerNameRefused(t *testing.T) {
	servers := startTestCluster(t, 2, nil)
	// A third server whose log is kept: the duplicate dials it.
	n3, n3Log := startServerLog(t, func(o *Options) {
		o.ServerName = "n3"
		o.Cluster = ClusterOptions{Name: "test", Host: "127.0.0.1", Port: -1, Routes: []string{"nats://" + servers[0].ClusterAddr().String()}}
	})
	eventually(t, "n3 in the mesh", func() bool { return n3.NumRoutes() == 2 && servers[1].NumRoutes() == 2 })
	dup, dupLog := startServerLog(t, func(o *Options) {
		o.ServerName = "n2"
		o.Cluster = ClusterOptions{Name: "test", Host: "127.0.0.1", Port: -1, Routes: []string{"nats://" + n3.ClusterAddr().String()}}
	})
	eventually(t, "the refusal logged on both sides", func() bool {
		return strings.Contains(n3Log.String(), "server name already in use in the cluster") &&
			strings.Contains(dupLog.String(), "this server's name is already in use there")
	})
	if !strings.Contains(n3Log.String(), "name=n2") || !strings.Contains(dupLog.String(), "name=n2") {
		t.Fatalf("the log lines do not name the server:\n%s\n%s", n3Log, dupLog)
	}
	for _, s := range append(servers, n3) {
		if n := s.NumRoutes(); n != 2 {
			t.Fatalf("%s has %d routes, want 2 (the duplicate refused)", s.Name(), n)
		}
	}
	// The duplicate keeps redialling its seed, and holds the route from
	// reading n3's INFO until n3's refusal arrives: wait for a moment
	// between two attempts.
	eventually(t, "the duplicate without routes", func() bool { return dup.NumRoutes() == 0 })
}

// rawRoute dials a route port and speaks the route protocol by hand.
type rawRoute struct {
	nc net.Conn
	br *bufio.Reader
}

func dialRoute(t *testing.T, s *Server) *rawRoute {
	t.Helper()
	nc, err := net.Dial("tcp", s.ClusterAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	r := &rawRoute{nc: nc, br: bufio.NewReader(nc)}
	if line := r.readLine(t); !strings.HasPrefix(line, "INFO ") || !strings.Contains(line, `"route":true`) {
		t.Fatalf("route port opened with %q", line)
	}
	return r
}

func (r *rawRoute) send(s string) { r.nc.Write([]byte(s)) }

func (r *rawRoute) readLine(t *testing.T) string {
	t.Helper()
	line, err := r.br.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v (so far %q)", err, line)
	}
	return strings.TrimRight(line, "\r\n")
}

// expectErrAndClose reads until an -ERR line, checks it, then expects EOF.
func (r *rawRoute) expectErrAndClose(t *testing.T, want string) {
	t.Helper()
	for {
		line := r.readLine(t)
		if strings.HasPrefix(line, "-ERR") {
			if line != "-ERR '"+want+"'" {
				t.Fatalf("got %q, want -ERR '%s'", line, want)
			}
			break
		}
	}
	if _, err := r.br.ReadString('\n'); err == nil {
		t.Fatal("connection still open after -ERR")
	}
}

// Bad input on the route port gets a clear -ERR and a close, and the
// cluster carries on.
func TestClusterRoutePortRefusesBadInput(t *testing.T) {
	servers := startTestCluster(t, 2, func(i int, o *Options) {
		o.Cluster.Username, o.Cluster.Password = "route", "pw"
		if i > 0 {
			o.Cluster.Routes = []string{"nats://route:pw@" + strings.TrimPrefix(o.Cluster.Routes[0], "nats://")}
		}
	})
	cases := []struct{ name, send, want string }{
		{"garbage", "HELLO there\r\n", "Unknown Protocol Operation"},
		{"client op", "PUB foo 2\r\nhi\r\n", "Unknown Protocol Operation"},
		{"client connect", `CONNECT {"verbose":false,"lang":"go","version":"1.0"}` + "\r\n", errTextRouteExpected},
		{"wrong cluster", `CONNECT {"route":true,"cluster":"other","user":"route","pass":"pw"}` + "\r\n", errTextClusterMismatch},
		{"wrong credentials", `CONNECT {"route":true,"cluster":"test","user":"route","pass":"nope"}` + "\r\n", errTextRouteAuth},
		{"no credentials", `CONNECT {"route":true,"cluster":"test"}` + "\r\n", errTextRouteAuth},
		{"ops before handshake", "RS+ $G foo\r\n", errTextRouteHandshake},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRoute(t, servers[0])
			r.send(tc.send)
			r.expectErrAndClose(t, tc.want)
		})
	}
	// A client library pointed at the route port fails to connect.
	if nc, err := nats.Connect("nats://"+servers[0].ClusterAddr().String(), nats.NoReconnect(), nats.Timeout(3*time.Second)); err == nil {
		nc.Close()
		t.Fatal("nats.go connected to a route port")
	}
	if servers[0].NumRoutes() != 1 {
		t.Fatal("the real route was affected")
	}
	checkPubSubEverywhere(t, servers)
}

// A server that dials the client port by mistake finds out and does not
// send route traffic there.
func TestClusterRouteToClientPortRefused(t *testing.T) {
	s := startServer(t, nil)
	other := startServer(t, func(o *Options) {
		o.Cluster = ClusterOptions{Name: "test", Host: "127.0.0.1", Port: -1, Routes: []string{s.ClientURL()}}
	})
	time.Sleep(300 * time.Millisecond)
	if other.NumRoutes() != 0 {
		t.Fatal("a route was registered to a client port")
	}
}

// A route whose queue grows past its own pending limit (a peer that stopped
// reading) is closed, logged and counted; local delivery goes on.
func TestClusterStuckRouteIsCut(t *testing.T) {
	s, log := startServerLog(t, func(o *Options) {
		o.ServerName = "n1"
		o.Cluster = ClusterOptions{Name: "test", Host: "127.0.0.1", Port: -1, MaxPending: 1 << 20}
	})
	r := dialRoute(t, s)
	r.send(`CONNECT {"route":true,"cluster":"test","server_id":"STUCK","name":"stuck"}` + "\r\n" +
		`INFO {"server_id":"STUCK","server_name":"stuck","cluster":"test","route":true,"route_url":"127.0.0.1:1"}` + "\r\n" +
		"RS+ $G stuck.>\r\n")
	eventually(t, "stuck route registered", func() bool { return s.NumRoutes() == 1 })
	waitInterest(t, s, "stuck.x", 1)
	local := connectTo(t, s)
	got, _ := local.SubscribeSync("stuck.x")
	local.Flush()
	pub := connectTo(t, s)
	payload := make([]byte, 32<<10)
	for i := 0; i < 4000 && s.cl.slowRoutes.Load() == 0; i++ {
		pub.Publish("stuck.x", payload)
		if i%100 == 0 {
			pub.Flush()
		}
	}
	pub.Flush()
	const cut = "route too slow, closed to be redialled"
	eventually(t, "stuck route cut, counted and logged", func() bool {
		return s.cl.slowRoutes.Load() == 1 && s.NumRoutes() == 0 && strings.Contains(log.String(), cut)
	})
	if l := log.String(); !strings.Contains(l[strings.Index(l, cut):], "server=stuck") {
		t.Errorf("the cut is not logged with the peer's name:\n%s", l)
	}
	pub.Publish("stuck.x", []byte("after"))
	pub.Flush()
	for {
		m, err := got.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("local subscriber: %v", err)
		}
		if string(m.Data) == "after" {
			break
		}
	}
}

// With [cluster.authorization], servers found by gossip are dialled with
// the seed's credentials, so three servers that know only the first still
// form a full mesh; a server without them never joins.
func TestClusterAuthorizationWithGossip(t *testing.T) {
	servers := startTestCluster(t, 3, func(i int, o *Options) {
		o.Cluster.Username, o.Cluster.Password = "route", "pw"
		if i > 0 {
			o.Cluster.Routes = []string{"nats://route:pw@" + strings.TrimPrefix(o.Cluster.Routes[0], "nats://")}
		}
	})
	checkPubSubEverywhere(t, servers)
	intruder := startServer(t, func(o *Options) {
		o.ServerName = "intruder"
		o.Cluster = ClusterOptions{Name: "test", Host: "127.0.0.1", Port: -1,
			Routes: []string{"nats://route:wrong@" + servers[0].ClusterAddr().String()}}
	})
	time.Sleep(500 * time.Millisecond)
	if intruder.NumRoutes() != 0 || servers[0].NumRoutes() != 2 {
		t.Fatalf("intruder has %d routes, n1 %d", intruder.NumRoutes(), servers[0].NumRoutes())
	}
}

// The client port never takes route traffic: a route's CONNECT makes a
// plain client at most, and route ops on it are unknown operations that
// close the connection, without adding interest or delivering anything.
func TestClusterClientPortRefusesRouteOps(t *testing.T) {
	servers := startTestCluster(t, 2, nil)
	s := servers[0]
	local := connectTo(t, s)
	got, _ := local.SubscribeSync("foo")
	local.Flush()
	before := s.sl.Count()
	for _, op := range []string{"RS+ $G foo\r\n", "RMSG $G foo 2\r\nhi\r\n", "HRMSG $G foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", "RS- $G foo\r\n"} {
		c := dialRaw(t, s)
		c.send(`CONNECT {"route":true,"cluster":"test","server_id":"X","verbose":false}` + "\r\nPING\r\n")
		c.expect("PONG")
		c.send(op)
		c.expect("-ERR 'Unknown Protocol Operation'")
		c.expectClosed()
	}
	if n := s.NumRoutes(); n != 1 {
		t.Fatalf("%d routes, want the one to n2", n)
	}
	if n := s.sl.Count(); n != before {
		t.Fatalf("%d subscriptions, was %d", n, before)
	}
	if m, err := got.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("the local subscriber got %q from the client port", m.Data)
	}
}

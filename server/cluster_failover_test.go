package server

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// INFO carries the cluster name and every server's client URL, and a
// client learns of servers that join after it connected.
func TestClusterConnectURLs(t *testing.T) {
	servers := startTestCluster(t, 2, nil)
	nc := connectTo(t, servers[0])
	eventually(t, "discovered n2", func() bool {
		return slices.Contains(nc.DiscoveredServers(), servers[1].ClientURL())
	})
	if c := nc.ConnectedClusterName(); c != "test" {
		t.Fatalf("cluster %q", c)
	}
	third := startServer(t, func(o *Options) {
		o.ServerName = "n3"
		o.Cluster = ClusterOptions{Name: "test", Host: "127.0.0.1", Port: -1, Routes: []string{"nats://" + servers[1].ClusterAddr().String()}}
	})
	waitMesh(t, append(servers, third))
	eventually(t, "discovered n3 through an async INFO", func() bool {
		return slices.Contains(nc.DiscoveredServers(), third.ClientURL())
	})
}

// A client whose server dies moves to another server it learned from
// connect_urls, and its subscriptions work there.
func TestClusterClientFailover(t *testing.T) {
	servers := startTestCluster(t, 3, nil)
	reconnected := make(chan struct{}, 1)
	nc := connectTo(t, servers[0], nats.ReconnectWait(50*time.Millisecond), nats.MaxReconnects(-1),
		nats.ReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} }))
	eventually(t, "discovered servers", func() bool { return len(nc.DiscoveredServers()) == 2 })
	sub, err := nc.SubscribeSync("after.failover")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	servers[0].Shutdown(ctx)
	select {
	case <-reconnected:
	case <-time.After(15 * time.Second):
		t.Fatal("client did not fail over")
	}
	// Publish from the server the client did not move to, so the
	// message crosses a route to reach it.
	var other *Server
	switch nc.ConnectedUrl() {
	case servers[1].ClientURL():
		other = servers[2]
	case servers[2].ClientURL():
		other = servers[1]
	default:
		t.Fatalf("reconnected to %s", nc.ConnectedUrl())
	}
	nc.Flush()
	waitInterest(t, other, "after.failover", 1)
	pub := connectTo(t, other)
	pub.Publish("after.failover", []byte("ok"))
	pub.Flush()
	if _, err := sub.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("after failover: %v", err)
	}
}

// A server that stops and starts again on the same route port rejoins by
// itself, with its interest known again everywhere.
func TestClusterNodeRejoins(t *testing.T) {
	ports := freePorts(t, 3)
	var seeds []string
	for _, p := range ports {
		seeds = append(seeds, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	opts := func(i int) func(o *Options) {
		return func(o *Options) {
			o.ServerName = fmt.Sprintf("n%d", i+1)
			o.Cluster = ClusterOptions{Name: "test", Host: "127.0.0.1", Port: ports[i], Routes: seeds}
		}
	}
	var servers []*Server
	for i := range ports {
		servers = append(servers, startServer(t, opts(i)))
	}
	waitMesh(t, servers)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	servers[2].Shutdown(ctx)
	eventually(t, "route to n3 dropped", func() bool { return servers[0].NumRoutes() == 1 && servers[1].NumRoutes() == 1 })
	servers[2] = startServer(t, opts(2))
	waitMesh(t, servers)
	checkPubSubEverywhere(t, servers)
}

func getText(t *testing.T, s *Server, path string) string {
	t.Helper()
	code, body := httpGet(t, "http://"+s.MonitorAddr().String()+path)
	if code != 200 {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	return body
}

func getJSON(t *testing.T, s *Server, path string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(getText(t, s, path)), v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// /routez, /varz's cluster object and /metrics report the routes and
// their traffic.
func TestClusterMonitoring(t *testing.T) {
	servers := startTestCluster(t, 2, func(i int, o *Options) { o.HTTPPort = -1 })
	sub := connectTo(t, servers[1])
	s, _ := sub.SubscribeSync("mon.x")
	sub.Flush()
	waitInterest(t, servers[0], "mon.x", 1)
	pub := connectTo(t, servers[0])
	for i := 0; i < 10; i++ {
		pub.Publish("mon.x", []byte("12345"))
	}
	pub.Flush()
	for i := 0; i < 10; i++ {
		if _, err := s.NextMsg(5 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	var rz Routez
	getJSON(t, servers[0], "/routez", &rz)
	if rz.NumRoutes != 1 || rz.Routes[0].RemoteName != "n2" || rz.Routes[0].OutMsgs != 10 || rz.Routes[0].OutBytes != 50 {
		t.Fatalf("/routez %+v", rz)
	}
	var rz2 Routez
	getJSON(t, servers[1], "/routez", &rz2)
	if rz2.Routes[0].InMsgs != 10 || rz2.Routes[0].RemoteName != "n1" || rz.Routes[0].NumSubs != 2+servers[1].routableSystemSubs() { // mon.x, n2's response subject "_R_.<tag>.>", and its $SYS responders
		t.Fatalf("/routez of n2 %+v (n1's %+v)", rz2, rz)
	}
	var v Varz
	getJSON(t, servers[0], "/varz", &v)
	if v.Routes != 1 || v.Cluster.Name != "test" || v.Cluster.ClusterPort == 0 {
		t.Fatalf("/varz routes %d cluster %+v", v.Routes, v.Cluster)
	}
	body := getText(t, servers[0], "/metrics")
	for _, want := range []string{"wisp_routes 1", `wisp_route_out_msgs_total{remote_id="` + servers[1].ID() + `",remote_name="n2"} 10`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// clientInfo reads the INFO a new client of s gets.
func clientInfo(t *testing.T, s *Server) serverInfo {
	t.Helper()
	c := dialNoInfo(t, s)
	line := c.readLine()
	var si serverInfo
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "INFO ")), &si); err != nil {
		t.Fatalf("INFO %q: %v", line, err)
	}
	return si
}

// Lame duck mode: the server's clients are told (ldm) and move to the
// other servers, and those stop giving its URL to their clients.
func TestClusterLameDuck(t *testing.T) {
	servers := startTestCluster(t, 2, func(i int, o *Options) {
		o.LameDuckDuration, o.LameDuckGracePeriod = 2*time.Second, 100*time.Millisecond
	})
	if si := clientInfo(t, servers[1]); !slices.Contains(si.ConnectURLs, strings.TrimPrefix(servers[0].ClientURL(), "nats://")) {
		t.Fatalf("n2's connect_urls %v lack n1", si.ConnectURLs)
	}
	ldm := make(chan struct{}, 1)
	moved := make(chan string, 1)
	nc := connectTo(t, servers[0], nats.ReconnectWait(50*time.Millisecond),
		nats.LameDuckModeHandler(func(*nats.Conn) { ldm <- struct{}{} }),
		nats.ReconnectHandler(func(c *nats.Conn) { moved <- c.ConnectedUrl() }))
	eventually(t, "n2 discovered", func() bool { return len(nc.DiscoveredServers()) == 1 })
	go servers[0].LameDuck(context.Background())
	select {
	case <-ldm:
	case <-time.After(10 * time.Second):
		t.Fatal("no lame duck notice")
	}
	eventually(t, "n1 left n2's connect_urls", func() bool {
		return !slices.Contains(clientInfo(t, servers[1]).ConnectURLs, strings.TrimPrefix(servers[0].ClientURL(), "nats://"))
	})
	select {
	case url := <-moved:
		if url != servers[1].ClientURL() {
			t.Fatalf("moved to %s", url)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the client did not move to n2")
	}
}

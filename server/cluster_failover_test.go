package server

import (
	"context"
	"fmt"
	"slices"
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

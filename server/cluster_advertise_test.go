package server

import (
	"context"
	"strings"
	"testing"
	"time"
)

// With no_advertise, a client's INFO names the cluster but gives no
// connect_urls, neither at connect nor when a server joins, so clients
// keep to the servers they were given.
func TestClusterNoAdvertise(t *testing.T) {
	servers := startTestCluster(t, 2, func(i int, o *Options) { o.Cluster.NoAdvertise = true })
	if si := clientInfo(t, servers[0]); si.Cluster != "test" || len(si.ConnectURLs) != 0 {
		t.Fatalf("INFO cluster %q connect_urls %q", si.Cluster, si.ConnectURLs)
	}
	nc := connectTo(t, servers[0])
	third := startServer(t, func(o *Options) {
		o.ServerName = "n3"
		o.Cluster = ClusterOptions{Name: "test", Host: "127.0.0.1", Port: -1, NoAdvertise: true,
			Routes: []string{"nats://" + servers[0].ClusterAddr().String()}}
	})
	waitMesh(t, append(servers, third))
	// The INFO a new client gets comes after the join, as would any async
	// INFO about it.
	if si := clientInfo(t, servers[0]); len(si.ConnectURLs) != 0 {
		t.Fatalf("connect_urls %q after a join", si.ConnectURLs)
	}
	nc.Flush()
	if d := nc.DiscoveredServers(); len(d) != 0 {
		t.Fatalf("the client discovered %q", d)
	}
}

// connect_retries bounds the redials of a server learned by gossip that
// nobody reaches any more: with 1, the second failed dial gives up.
func TestClusterConnectRetriesForGossipedServer(t *testing.T) {
	n1 := startServer(t, func(o *Options) {
		o.ServerName = "n1"
		o.Cluster = ClusterOptions{Name: "test", Host: "127.0.0.1", Port: -1, ConnectRetries: 1}
	})
	seed := []string{"nats://" + n1.ClusterAddr().String()}
	var servers []*Server
	var logs []*lockedBuffer
	for _, name := range []string{"n2", "n3"} {
		s, log := startServerLog(t, func(o *Options) {
			o.ServerName = name
			o.Cluster = ClusterOptions{Name: "test", Host: "127.0.0.1", Port: -1, Routes: seed, ConnectRetries: 1}
		})
		servers, logs = append(servers, s), append(logs, log)
	}
	waitMesh(t, []*Server{n1, servers[0], servers[1]})
	// n2 and n3 learned each other by gossip; the one that dialled the
	// route keeps it. With the seed gone, no one else reaches the other.
	shutdown := func(s *Server) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	}
	shutdown(n1)
	eventually(t, "n2 and n3 without n1", func() bool { return servers[0].NumRoutes() == 1 && servers[1].NumRoutes() == 1 })
	dialler, gone := 0, 1
	if r := servers[0].cl.routeToID(servers[1].id); r == nil || r.dialed == nil {
		dialler, gone = 1, 0
	}
	shutdown(servers[gone])
	const want = "giving up on a route learned by gossip"
	eventually(t, "the dialler giving up", func() bool { return strings.Contains(logs[dialler].String(), want) })
	line := logs[dialler].String()
	line = line[strings.Index(line, want):]
	line = line[:strings.IndexByte(line, '\n')]
	if !strings.Contains(line, "attempts=2") {
		t.Fatalf("gave up with %q, want after 2 attempts", line)
	}
}

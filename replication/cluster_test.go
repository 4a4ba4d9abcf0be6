package replication

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/wisp-mq/wisp/server"
)

// serverNet is the Network over a real server (as cmd/wisp wires it).
type serverNet struct{ s *server.Server }

func (n serverNet) Send(peer, channel string, payload []byte) error {
	return n.s.ClusterSend(peer, channel, payload)
}
func (n serverNet) Handle(channel string, h func(string, []byte)) { n.s.HandleCluster(channel, h) }
func (n serverNet) Seeds() []string                               { return n.s.ClusterSeeds() }
func (n serverNet) Peers() []Peer {
	var out []Peer
	for _, p := range n.s.ClusterPeers() {
		out = append(out, Peer{Name: p.Name, Streams: p.Streams})
	}
	return out
}

// testNode is one server of a test cluster with its replication node; fs
// outlives restarts, as a disk would.
type testNode struct {
	name  string
	port  int
	fs    vfs.FS
	srv   *server.Server
	node  *Node
	seeds []string
	// advertise, when set, is the route address the server gives others.
	advertise string
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports, release := holdPorts(t, n)
	release()
	return ports
}

// holdPorts takes n free ports and holds them until release, so that
// listeners opened meanwhile (a test's proxies) cannot take them.
func holdPorts(t *testing.T, n int) (ports []int, release func()) {
	t.Helper()
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, func() {
		for _, ln := range lns {
			ln.Close()
		}
	}
}

func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("WISP_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// startTestCluster starts n servers whose --routes list all n route URLs
// (their own included), each with streams on and a replication node.
func startTestCluster(t *testing.T, n int) []*testNode {
	t.Helper()
	ports := freePorts(t, n)
	var seeds []string
	for _, p := range ports {
		seeds = append(seeds, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	nodes := make([]*testNode, n)
	for i := range n {
		nodes[i] = &testNode{name: fmt.Sprintf("n%d", i+1), port: ports[i], fs: vfs.NewMem(), seeds: seeds}
		nodes[i].start(t)
	}
	t.Cleanup(func() {
		for _, tn := range nodes {
			tn.stop(t)
		}
	})
	return nodes
}

func (tn *testNode) start(t *testing.T) {
	t.Helper()
	o := &server.Options{Host: "127.0.0.1", Port: -1, ServerName: tn.name, JetStream: true,
		Cluster: server.ClusterOptions{Name: "meta", Host: "127.0.0.1", Port: tn.port, Routes: tn.seeds, Advertise: tn.advertise}}
	log := testLogger().With("node", tn.name)
	s, err := server.New(o, log)
	if err != nil {
		t.Fatal(err)
	}
	// The port was free a moment ago; on a busy machine retry a little.
	for i := 0; ; i++ {
		if err = s.Start(); err == nil {
			break
		}
		if i == 50 {
			t.Fatalf("start %s: %v", tn.name, err)
		}
		time.Sleep(100 * time.Millisecond)
		if s, err = server.New(o, log); err != nil {
			t.Fatal(err)
		}
	}
	node, err := Start(Options{Name: tn.name, Dir: "/data", FS: tn.fs, Net: serverNet{s}, MaxFrame: server.ClusterFrameMax,
		Logger: log, TickInterval: 50 * time.Millisecond, HelloInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tn.srv, tn.node = s, node
}

func (tn *testNode) stop(t *testing.T) {
	t.Helper()
	if tn.node == nil {
		return
	}
	if err := tn.node.Close(); err != nil {
		t.Errorf("close %s: %v", tn.name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tn.srv.Shutdown(ctx); err != nil {
		t.Errorf("shutdown %s: %v", tn.name, err)
	}
	tn.node, tn.srv = nil, nil
}

func (tn *testNode) status() MetaStatus {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return tn.node.MetaStatus(ctx)
}

// waitFor polls cond every 20 ms for up to 60 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// agreedLeader waits until every running node in nodes names the same
// leader, which is one of them and says it leads, and returns it.
func agreedLeader(t *testing.T, nodes []*testNode) *testNode {
	t.Helper()
	var leader *testNode
	waitFor(t, "one meta leader that every server names", func() bool {
		leader = nil
		name := ""
		for _, tn := range nodes {
			st := tn.status()
			if !st.Started || st.Leader == "" || (name != "" && st.Leader != name) {
				return false
			}
			name = st.Leader
			if st.IsLeader {
				if leader != nil {
					return false
				}
				leader = tn
			}
		}
		return leader != nil && leader.name == name
	})
	return leader
}

func without(nodes []*testNode, x *testNode) []*testNode {
	return slices.DeleteFunc(slices.Clone(nodes), func(tn *testNode) bool { return tn == x })
}

// assignUntil records an assignment through whichever server leads,
// retrying across elections.
func assignUntil(t *testing.T, nodes []*testNode, stream string, peers []string) {
	t.Helper()
	waitFor(t, "the assignment of "+stream+" to commit", func() bool {
		for _, tn := range nodes {
			if !tn.status().IsLeader {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := tn.node.Meta().Assign(ctx, stream, peers)
			cancel()
			return err == nil
		}
		return false
	})
}

func waitAssigned(t *testing.T, nodes []*testNode, stream string) {
	t.Helper()
	waitFor(t, "every server to apply "+stream, func() bool {
		for _, tn := range nodes {
			if _, ok := tn.node.Meta().Assignments()[stream]; !ok {
				return false
			}
		}
		return true
	})
}

package replication

import (
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/wisp-mq/wisp/internal/testproxy"
)

// startProxiedCluster starts n servers whose every route runs through a
// proxy of its own, one per ordered pair of servers (links[i][j] carries
// what server i dials to reach server j), so a test can cut any server off
// at the TCP level. Each server's seeds are its own address and its
// proxies to the others; all advertise an address nobody listens on, so
// gossip never dials around the proxies.
func startProxiedCluster(t *testing.T, n int) ([]*testNode, [][]*testproxy.Proxy) {
	t.Helper()
	ports, release := holdPorts(t, n)
	links := make([][]*testproxy.Proxy, n)
	for i := range n {
		links[i] = make([]*testproxy.Proxy, n)
		for j := range n {
			if i != j {
				links[i][j] = testproxy.New(t, fmt.Sprintf("127.0.0.1:%d", ports[j]))
			}
		}
	}
	release()
	nodes := make([]*testNode, n)
	for i := range n {
		seeds := []string{fmt.Sprintf("nats://127.0.0.1:%d", ports[i])}
		for j := range n {
			if i != j {
				seeds = append(seeds, "nats://"+links[i][j].Addr())
			}
		}
		nodes[i] = &testNode{name: fmt.Sprintf("n%d", i+1), port: ports[i], fs: vfs.NewMem(), seeds: seeds, advertise: "127.0.0.1:1"}
		nodes[i].start(t)
	}
	t.Cleanup(func() {
		for _, tn := range nodes {
			tn.stop(t)
		}
	})
	return nodes, links
}

// TestMetaTCPPartitionedServerNeverLeads: a server whose routes are all
// cut at the TCP level never becomes a leader while the other two keep
// theirs and commit; healed, it reconnects and catches up. Then the
// leader is cut off: it steps down and the other two elect another.
func TestMetaTCPPartitionedServerNeverLeads(t *testing.T) {
	nodes, links := startProxiedCluster(t, 3)
	cut := func(i int, on bool) {
		for j := range nodes {
			if j != i {
				links[i][j].SetCut(on)
				links[j][i].SetCut(on)
			}
		}
	}
	index := func(x *testNode) int {
		for i, tn := range nodes {
			if tn == x {
				return i
			}
		}
		return -1
	}
	leader := agreedLeader(t, nodes)
	f := (index(leader) + 1) % 3
	follower := nodes[f]
	cut(f, true)
	rest := without(nodes, follower)
	assignUntil(t, rest, "DURING", []string{"n1"})
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if follower.status().IsLeader {
			t.Fatal("the partitioned server became a leader")
		}
	}
	if follower.srv.NumRoutes() != 0 {
		t.Fatalf("the partitioned server still has %d routes", follower.srv.NumRoutes())
	}
	cut(f, false)
	waitAssigned(t, nodes, "DURING")
	leader = agreedLeader(t, nodes)

	l := index(leader)
	cut(l, true)
	waitFor(t, "the cut-off leader to step down", func() bool { return !leader.status().IsLeader })
	if next := agreedLeader(t, without(nodes, leader)); next == leader {
		t.Fatal("the cut-off server leads the majority")
	}
	cut(l, false)
	agreedLeader(t, nodes)
}

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// clusterNode is one wisp process of a test cluster.
type clusterNode struct {
	name                      string
	args                      []string
	client, route, monitoring int
	cmd                       *exec.Cmd
	log                       *syncBuffer
}

func (n *clusterNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.client) }

func (n *clusterNode) start(t *testing.T, bin string) {
	n.cmd, n.log = startBin(t, bin, n.args...)
}

// numRoutes reads /routez; -1 when the node does not answer.
func (n *clusterNode) numRoutes() int {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/routez", n.monitoring))
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var rz struct {
		NumRoutes int `json:"num_routes"`
	}
	if json.NewDecoder(resp.Body).Decode(&rz) != nil {
		return -1
	}
	return rz.NumRoutes
}

// startBinaryCluster starts three wisp processes named prefix1..prefix3
// with exactly the flags a nats-server cluster takes (streams on, each its
// own store), every route listed on every server.
func startBinaryCluster(t *testing.T, bin, prefix, cluster string) []*clusterNode {
	t.Helper()
	dir := t.TempDir()
	nodes := make([]*clusterNode, 3)
	var routes []string
	for i := range nodes {
		n := &clusterNode{name: fmt.Sprintf("%s%d", prefix, i+1), client: freePort(t), route: freePort(t), monitoring: freePort(t)}
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", n.route))
		nodes[i] = n
	}
	for _, n := range nodes {
		n.args = []string{"-a", "127.0.0.1", "-p", fmt.Sprint(n.client), "-n", n.name,
			"--cluster_name", cluster, "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", n.route),
			"--routes", strings.Join(routes, ","), "-m", fmt.Sprint(n.monitoring),
			"-js", "-sd", filepath.Join(dir, n.name)}
		n.start(t, bin)
	}
	return nodes
}

// TestBinaryCluster starts three wisp processes with exactly the flags a
// nats-server cluster takes, and checks them as a client sees them: routed
// pub/sub, a queue group across nodes, request/reply, failover when a node
// is killed, and the node rejoining after a restart.
func TestBinaryCluster(t *testing.T) {
	bin := buildWisp(t)
	nodes := startBinaryCluster(t, bin, "n", "C")
	full := func() bool {
		for _, n := range nodes {
			if n.numRoutes() != 2 {
				return false
			}
		}
		return true
	}
	waitFor(t, "a full mesh of three processes", full)

	// Routed pub/sub and a queue group across the nodes.
	sub := connect(t, nodes[2].url())
	defer sub.Close()
	plain, _ := sub.SubscribeSync("bin.>")
	var mu sync.Mutex
	perNode := map[string]int{}
	for _, n := range nodes {
		nc := connect(t, n.url())
		defer nc.Close()
		name := n.name
		nc.QueueSubscribe("bin.work", "w", func(*nats.Msg) { mu.Lock(); perNode[name]++; mu.Unlock() })
		nc.Flush()
	}
	sub.Flush()
	pub := connect(t, nodes[0].url())
	defer pub.Close()
	waitFor(t, "interest on n1", func() bool {
		m, err := pub.Request("bin.ping", nil, 200*time.Millisecond)
		_ = m
		return err == nats.ErrTimeout // a subscriber exists (no 503), nobody answers
	})
	for i := 0; i < 300; i++ {
		pub.Publish("bin.work", []byte("x"))
	}
	pub.Flush()
	waitFor(t, "queue messages", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return perNode["n1"]+perNode["n2"]+perNode["n3"] == 300
	})
	mu.Lock()
	for _, n := range nodes {
		if perNode[n.name] == 0 {
			t.Errorf("queue group spread %v: %s got nothing", perNode, n.name)
		}
	}
	mu.Unlock()
	for {
		m, err := plain.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("plain subscriber on n3: %v", err)
		}
		if m.Subject == "bin.work" {
			break
		}
	}

	// SIGKILL the node a client is on: it fails over and keeps working.
	reconnected := make(chan string, 1)
	victim := connect(t, nodes[0].url())
	defer victim.Close()
	victim.SetReconnectHandler(func(nc *nats.Conn) { reconnected <- nc.ConnectedUrl() })
	waitFor(t, "discovered servers", func() bool { return len(victim.DiscoveredServers()) == 2 })
	echo, _ := victim.Subscribe("bin.echo", func(m *nats.Msg) { m.Respond(m.Data) })
	defer echo.Unsubscribe()
	victim.Flush()
	nodes[0].cmd.Process.Kill()
	nodes[0].cmd.Wait()
	select {
	case url := <-reconnected:
		if url == nodes[0].url() {
			t.Fatalf("reconnected to the killed node")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("client did not fail over")
	}
	asker := connect(t, nodes[1].url())
	defer asker.Close()
	waitFor(t, "the moved responder answers", func() bool {
		m, err := asker.Request("bin.echo", []byte("hi"), time.Second)
		return err == nil && string(m.Data) == "hi"
	})

	// The killed node rejoins by itself.
	nodes[0].start(t, bin)
	waitFor(t, "the restarted node back in the mesh", full)
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wisp-mq/wisp/conf"
)

// metaOf reads a node's /jsz meta_cluster; ok is false when the node does
// not answer or has none.
func (n *clusterNode) metaOf() (mc struct {
	Name     string `json:"name"`
	Leader   string `json:"leader"`
	Size     int    `json:"cluster_size"`
	Replicas []struct {
		Name    string `json:"name"`
		Current bool   `json:"current"`
	} `json:"replicas"`
}, ok bool) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/jsz", n.monitoring))
	if err != nil {
		return mc, false
	}
	defer resp.Body.Close()
	var jz struct {
		Meta *json.RawMessage `json:"meta_cluster"`
	}
	if json.NewDecoder(resp.Body).Decode(&jz) != nil || jz.Meta == nil {
		return mc, false
	}
	return mc, json.Unmarshal(*jz.Meta, &mc) == nil
}

// TestBinaryClusterMeta: three wisp processes started with nats-server's
// cluster flags form one meta group; /jsz shows it as nats-server does
// (meta_cluster with the leader and cluster size), /metrics has its raft
// figures; SIGKILL of the leader gets a new one elected among the others,
// and the killed node, restarted, rejoins under one leader.
func TestBinaryClusterMeta(t *testing.T) {
	bin := buildWisp(t)
	nodes := startBinaryCluster(t, bin, "m", "M")
	// agreed returns the leader every node in ns names, "" if they do not
	// agree yet.
	agreed := func(ns []*clusterNode) string {
		leader := ""
		for _, n := range ns {
			mc, ok := n.metaOf()
			if !ok || mc.Leader == "" || mc.Size != 3 || mc.Name != "M" || (leader != "" && mc.Leader != leader) {
				return ""
			}
			leader = mc.Leader
		}
		return leader
	}
	var leader string
	waitLong(t, "one meta leader named by all three", func() bool { leader = agreed(nodes); return leader != "" })

	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", nodes[0].monitoring))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `wisp_raft_term{group="meta"}`) {
		t.Fatal("no raft term in /metrics")
	}

	var victim *clusterNode
	var rest []*clusterNode
	for _, n := range nodes {
		if n.name == leader {
			victim = n
		} else {
			rest = append(rest, n)
		}
	}
	victim.cmd.Process.Kill()
	victim.cmd.Wait()
	var next string
	waitLong(t, "a new meta leader among the other two", func() bool {
		next = agreed(rest)
		return next != "" && next != victim.name
	})

	victim.start(t, bin)
	waitLong(t, "the restarted node back under one leader", func() bool {
		if agreed(nodes) == "" {
			return false
		}
		mc, _ := victim.metaOf()
		return len(mc.Replicas) == 2
	})
}

// waitLong polls cond for up to 60 s: elections after a kill take a few
// election timeouts, longer on a loaded machine.
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestClusteredStreamsNeedAServerName: the raft id comes from the server
// name, so a clustered server with streams refuses to start without one.
func TestClusteredStreamsNeedAServerName(t *testing.T) {
	cfg := &conf.Config{JetStream: true}
	cfg.Server.Cluster.Port = 6222
	if err := checkReplication(cfg); err == nil || !strings.Contains(err.Error(), "server name") {
		t.Fatalf("no name: %v", err)
	}
	cfg.Server.ServerName = "n1"
	if err := checkReplication(cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Server.ServerName, cfg.Server.Cluster.Port = "", 0 // not clustered: no name needed
	if err := checkReplication(cfg); err != nil {
		t.Fatal(err)
	}
}

package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/wisp-mq/wisp/replication"
)

// TestClusterMetaReportPeers: /jsz's meta_cluster (the same section the
// nats CLI reads from $SYS.REQ.SERVER.PING.JSZ) gives the members' raft
// ids and the quorum: `nats server report jetstream` shows them as the ID
// and "Quorum Sz" columns, and `nats server raft peer-remove NAME` finds
// the server's id there and sends it as peer_id, which is the decimal raft
// id $JS.API.SERVER.REMOVE takes. A member stopped is offline at once
// for the others (its route is gone), as the CLI's "Online" column reads.
func TestClusterMetaReportPeers(t *testing.T) {
	nodes := startStreamCluster(t, "mp", 3)
	leader := waitMetaLeader(t, nodes)
	id := func(name string) string { return strconv.FormatUint(replication.NodeID(name), 10) }
	type peer struct {
		Name    string `json:"name"`
		Peer    string `json:"peer"`
		Offline bool   `json:"offline"`
	}
	type meta struct {
		Leader       string `json:"leader"`
		Peer         string `json:"peer"`
		Size         int    `json:"cluster_size"`
		QuorumNeeded int    `json:"quorum_needed"`
		Replicas     []peer `json:"replicas"`
	}
	c := &http.Client{Timeout: 2 * time.Second}
	metaOf := func(n *streamNode) (meta, bool) {
		resp, err := c.Get("http://" + n.srv.MonitorAddr().String() + "/jsz")
		if err != nil {
			return meta{}, false
		}
		defer resp.Body.Close()
		var jz struct {
			Meta *meta `json:"meta_cluster"`
		}
		if json.NewDecoder(resp.Body).Decode(&jz) != nil || jz.Meta == nil {
			return meta{}, false
		}
		return *jz.Meta, true
	}
	for _, n := range nodes {
		var mc meta
		waitLong(t, n.name+"'s meta_cluster with its two peers online", func() bool {
			var ok bool
			mc, ok = metaOf(n)
			return ok && mc.Leader == leader && len(mc.Replicas) == 2 && !mc.Replicas[0].Offline && !mc.Replicas[1].Offline
		})
		if mc.Size != 3 || mc.QuorumNeeded != 2 {
			t.Errorf("%s: cluster_size %d quorum_needed %d, want 3 and 2", n.name, mc.Size, mc.QuorumNeeded)
		}
		if mc.Peer != id(leader) {
			t.Errorf("%s: peer %q, want the leader %s's raft id %s", n.name, mc.Peer, leader, id(leader))
		}
		for _, r := range mc.Replicas {
			if r.Name == "" || r.Name == n.name || r.Peer != id(r.Name) {
				t.Errorf("%s: replica %+v, want another member with its raft id %s", n.name, r, id(r.Name))
			}
		}
	}

	// A replicated stream's replicas in /jsz are online too, on every
	// server (a follower lists itself among them).
	_, js := jsConnect(t, nodes[0].url())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		var reps []peer
		waitLong(t, n.name+"'s stream_detail with R3's two replicas", func() bool {
			resp, err := c.Get("http://" + n.srv.MonitorAddr().String() + "/jsz")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			var jz struct {
				Streams []struct {
					Name    string `json:"name"`
					Cluster *struct {
						Replicas []peer `json:"replicas"`
					} `json:"cluster"`
				} `json:"stream_detail"`
			}
			if json.NewDecoder(resp.Body).Decode(&jz) != nil || len(jz.Streams) != 1 || jz.Streams[0].Cluster == nil {
				return false
			}
			reps = jz.Streams[0].Cluster.Replicas
			return len(reps) == 2
		})
		for _, r := range reps {
			if r.Offline {
				t.Errorf("%s: R3's replica %s offline: %+v", n.name, r.Name, reps)
			}
		}
	}

	// Stop a follower: the leader shows it offline, the other one online.
	var gone *streamNode
	var lead *streamNode
	for _, n := range nodes {
		if n.name == leader {
			lead = n
		} else if gone == nil {
			gone = n
		}
	}
	gone.stop()
	var mc meta
	waitLong(t, gone.name+" offline on the leader", func() bool {
		var ok bool
		mc, ok = metaOf(lead)
		if !ok || len(mc.Replicas) != 2 {
			return false
		}
		for _, r := range mc.Replicas {
			if r.Name == gone.name {
				return r.Offline
			}
		}
		return false
	})
	for _, r := range mc.Replicas {
		if r.Name != gone.name && r.Offline {
			t.Errorf("%s offline on the leader, want only %s: %+v", r.Name, gone.name, mc.Replicas)
		}
	}
}

// TestStreamInfoReplicaOffline: with a follower's server stopped, stream
// info names that replica offline (and not current), as `nats server
// check jetstream` and `nats stream info` read it; the other follower
// stays online. Before, a stopped replica was only "seen a while ago", and
// the CLI's health check passed.
//
// The leader's answer also says since when it leads (leader_since, which
// the CLI shows beside the leader's name).
func TestStreamInfoReplicaOffline(t *testing.T) {
	start := time.Now()
	nodes := startStreamCluster(t, "so", 3)
	waitMetaLeader(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, js := jsConnect(t, nodes[0].url())
	if _, err := js.CreateStream(ctx, jetstreamR3("OFF", "off.>")); err != nil {
		t.Fatal(err)
	}
	var leader string
	waitLong(t, "OFF's leader", func() bool { leader = streamLeader(nodes, js, "OFF"); return leader != "" })
	var lead, gone *streamNode
	for _, n := range nodes {
		if n.name == leader {
			lead = n
		} else if gone == nil {
			gone = n
		}
	}
	type replica struct {
		Name    string `json:"name"`
		Current bool   `json:"current"`
		Offline bool   `json:"offline"`
	}
	nc, _ := jsConnect(t, lead.url())
	var since *time.Time
	replicas := func() ([]replica, bool) {
		m, err := nc.Request("$JS.API.STREAM.INFO.OFF", nil, 5*time.Second)
		if err != nil {
			return nil, false
		}
		var info struct {
			Cluster *struct {
				Leader      string     `json:"leader"`
				LeaderSince *time.Time `json:"leader_since"`
				Replicas    []replica  `json:"replicas"`
			} `json:"cluster"`
		}
		if json.Unmarshal(m.Data, &info) != nil || info.Cluster == nil || info.Cluster.Leader != leader {
			return nil, false
		}
		since = info.Cluster.LeaderSince
		return info.Cluster.Replicas, len(info.Cluster.Replicas) == 2
	}
	var reps []replica
	waitLong(t, "both replicas current and online", func() bool {
		var ok bool
		reps, ok = replicas()
		return ok && reps[0].Current && reps[1].Current && !reps[0].Offline && !reps[1].Offline
	})
	if since == nil || since.Before(start) || since.After(time.Now()) {
		t.Errorf("leader_since %v: want a time since the test started", since)
	}
	gone.stop()
	waitLong(t, gone.name+" offline in stream info", func() bool {
		var ok bool
		if reps, ok = replicas(); !ok {
			return false
		}
		for _, r := range reps {
			if r.Name == gone.name {
				return r.Offline && !r.Current
			}
		}
		return false
	})
	for _, r := range reps {
		if r.Name != gone.name && r.Offline {
			t.Errorf("%s offline too: %+v", r.Name, reps)
		}
	}
}

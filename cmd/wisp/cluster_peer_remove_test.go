package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/replication"
	"github.com/wisp-mq/wisp/server"
)

// peerRemoveReply is STREAM.PEER.REMOVE's answer.
type peerRemoveReply struct {
	Type    string `json:"type"`
	Success bool   `json:"success"`
	Error   *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

func removePeer(t *testing.T, nc *nats.Conn, stream, body string) peerRemoveReply {
	t.Helper()
	m, err := nc.Request("$JS.API.STREAM.PEER.REMOVE."+stream, []byte(body), 30*time.Second)
	if err != nil {
		t.Fatalf("peer remove %s: %v", body, err)
	}
	var r peerRemoveReply
	if err := json.Unmarshal(m.Data, &r); err != nil {
		t.Fatalf("peer remove answer %q: %v", m.Data, err)
	}
	if r.Type != "io.nats.jetstream.api.v1.stream_remove_peer_response" {
		t.Errorf("answer type %q", r.Type)
	}
	return r
}

func wantRemoveError(t *testing.T, r peerRemoveReply, code int, what string) {
	t.Helper()
	if r.Success || r.Error == nil || r.Error.ErrCode != code {
		t.Fatalf("%s: answered %+v (error %+v), want error %d", what, r, r.Error, code)
	}
}

// groupOf is the stream's peers as the leader's stream info reports
// them (leader and replicas), sorted, with whether every replica is
// current.
func groupOf(nc *nats.Conn, stream string) ([]string, bool) {
	m, err := nc.Request("$JS.API.STREAM.INFO."+stream, nil, 5*time.Second)
	if err != nil {
		return nil, false
	}
	var info struct {
		Cluster *struct {
			Leader   string `json:"leader"`
			Replicas []struct {
				Name    string `json:"name"`
				Current bool   `json:"current"`
			} `json:"replicas"`
		} `json:"cluster"`
	}
	if json.Unmarshal(m.Data, &info) != nil || info.Cluster == nil || info.Cluster.Leader == "" {
		return nil, false
	}
	names := []string{info.Cluster.Leader}
	current := true
	for _, r := range info.Cluster.Replicas {
		names = append(names, r.Name)
		current = current && r.Current
	}
	slices.Sort(names)
	return names, current
}

// localCount is how many messages node's own replica of stream holds, -1
// when it holds none.
func localCount(n *streamNode, stream string) int {
	for _, st := range n.layers.global().Stats().Streams {
		if st.Name == stream {
			return int(st.Messages)
		}
	}
	return -1
}

// TestStreamPeerRemove: four servers, an R3 stream with acknowledged
// messages. Removing a follower puts the fourth server in its place: it
// catches up to every acknowledged message, the removed server drops its
// copy, and publishes go on. Removing the leader hands leadership over
// first. With no server left to take a place the removal is refused and
// nothing changes; so are a server that is not a peer and a bad request.
func TestStreamPeerRemove(t *testing.T) {
	nodes := startStreamCluster(t, "pr", 4)
	waitMetaLeader(t, nodes)
	nc, js := jsConnect(t, nodes[0].url())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstreamR3("ORDERS", "orders.>")); err != nil {
		t.Fatal(err)
	}
	acked := publishAcked(t, js, "orders", 0, 50)
	var before []string
	waitLong(t, "the stream's group", func() bool { before, _ = groupOf(nc, "ORDERS"); return len(before) == 3 })
	leader := streamLeader(nodes, js, "ORDERS")
	var gone, spare string
	for _, n := range nodes {
		switch {
		case !slices.Contains(before, n.name):
			spare = n.name
		case n.name != leader && gone == "":
			gone = n.name
		}
	}

	// Refusals first: nothing may change.
	wantRemoveError(t, removePeer(t, nc, "ORDERS", `{"peer":"`+spare+`"}`), 10040, "a server that is not a peer")
	wantRemoveError(t, removePeer(t, nc, "ORDERS", `{"peer":"nosuch"}`), 10040, "an unknown server")
	wantRemoveError(t, removePeer(t, nc, "ORDERS", `{}`), 10003, "no peer named")
	wantRemoveError(t, removePeer(t, nc, "NOSUCH", `{"peer":"`+gone+`"}`), 10059, "an unknown stream")
	// A one-replica stream lives on its server alone: it cannot move.
	if _, err := js.CreateStream(ctx, jetstreamR1("LOCAL", "local.>")); err != nil {
		t.Fatal(err)
	}
	wantRemoveError(t, removePeer(t, nc, "LOCAL", `{"peer":"`+nodes[0].name+`"}`), 10075, "the server of a one-replica stream")
	wantRemoveError(t, removePeer(t, nc, "LOCAL", `{"peer":"`+nodes[1].name+`"}`), 10040, "another server for a one-replica stream")

	// A follower, asked through the server being removed.
	ncGone, _ := jsConnect(t, nodeNamed(nodes, gone).url())
	if r := removePeer(t, ncGone, "ORDERS", `{"peer":"`+gone+`"}`); !r.Success {
		t.Fatalf("removing follower %s: %+v (error %+v)", gone, r, r.Error)
	}
	want := slices.DeleteFunc(slices.Clone(before), func(p string) bool { return p == gone })
	want = append(want, spare)
	slices.Sort(want)
	waitLong(t, fmt.Sprintf("peers %v, all current", want), func() bool {
		got, current := groupOf(nc, "ORDERS")
		return slices.Equal(got, want) && current
	})
	waitLong(t, "the replacement caught up", func() bool { return localCount(nodeNamed(nodes, spare), "ORDERS") == len(acked) })
	waitLong(t, "the removed server dropped its copy", func() bool { return localCount(nodeNamed(nodes, gone), "ORDERS") == -1 })
	for i, seq := range publishAcked(t, js, "orders", 50, 20) {
		acked[i] = seq
	}
	checkHolds(t, js, "ORDERS", acked)
	waitLong(t, "the replacement took the new messages", func() bool { return localCount(nodeNamed(nodes, spare), "ORDERS") == len(acked) })

	// The leader: another replica leads, and the removed server's place
	// goes to the only server outside the group.
	leader = streamLeader(nodes, js, "ORDERS")
	if r := removePeer(t, nc, "ORDERS", `{"peer":"`+leader+`"}`); !r.Success {
		t.Fatalf("removing leader %s: %+v (error %+v)", leader, r, r.Error)
	}
	want = slices.DeleteFunc(slices.Clone(want), func(p string) bool { return p == leader })
	want = append(want, gone)
	slices.Sort(want)
	waitLong(t, fmt.Sprintf("peers %v after the leader's removal, all current", want), func() bool {
		got, current := groupOf(nc, "ORDERS")
		return slices.Equal(got, want) && current
	})
	waitLong(t, "the second replacement caught up", func() bool { return localCount(nodeNamed(nodes, gone), "ORDERS") == len(acked) })
	checkHolds(t, js, "ORDERS", acked)

	// No server left to take a place (the one outside the group is
	// down): refused, the group unchanged.
	nodeNamed(nodes, leader).stop()
	var ncUp *nats.Conn
	for _, n := range nodes {
		if n.running {
			ncUp, _ = jsConnect(t, n.url())
			break
		}
	}
	var victim string
	for _, p := range want {
		if p != streamLeader(nodes, js, "ORDERS") {
			victim = p
			break
		}
	}
	wantRemoveError(t, removePeer(t, ncUp, "ORDERS", `{"peer":"`+victim+`"}`), 10075, "no server to take the place")
	if got, _ := groupOf(ncUp, "ORDERS"); !slices.Equal(got, want) {
		t.Fatalf("a refused removal changed the group: %v, want %v", got, want)
	}
}

// A server without a cluster answers that clustering is required.
func TestStreamPeerRemoveNotClustered(t *testing.T) {
	cfg := &conf.Config{JetStream: true, StoreDir: t.TempDir()}
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.Port = -1
	srv, _ := startWithStreams(t, cfg)
	nc, js := jsConnect(t, srv.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstreamR1("ORDERS", "orders.>")); err != nil {
		t.Fatal(err)
	}
	wantRemoveError(t, removePeer(t, nc, "ORDERS", `{"peer":"x"}`), 10010, "not clustered")
}

func jetstreamR3(name, subject string) jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Replicas: 3}
}

func jetstreamR1(name, subject string) jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: name, Subjects: []string{subject}}
}

// TestServerRemove: four servers, an R3 stream; one of its followers
// stops and is removed from the cluster. The stream gets the fourth
// server in its place, which catches up to every acknowledged message,
// and the meta group no longer counts the removed server. Removing a
// server whose stream has nowhere to go is refused, the server stays.
func TestServerRemove(t *testing.T) {
	nodes := startStreamCluster(t, "sr", 4)
	waitMetaLeader(t, nodes)
	nc, js := jsConnect(t, nodes[0].url())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstreamR3("ORDERS", "orders.>")); err != nil {
		t.Fatal(err)
	}
	acked := publishAcked(t, js, "orders", 0, 40)
	var before []string
	waitLong(t, "the stream's group", func() bool { before, _ = groupOf(nc, "ORDERS"); return len(before) == 3 })
	var gone, spare string
	for _, n := range nodes {
		switch {
		case !slices.Contains(before, n.name):
			spare = n.name
		case n.name != streamLeader(nodes, js, "ORDERS") && n.name != nodes[0].name && gone == "":
			gone = n.name
		}
	}
	nodeNamed(nodes, gone).stop()
	via := nodes[0]
	remove := removeServer(via.node, via.layers)

	if err := remove(ctx, "nosuch", ""); !errors.Is(err, server.ErrServerNotMember) {
		t.Fatalf("removing an unknown server: %v", err)
	}
	if err := remove(ctx, gone, ""); err != nil {
		t.Fatalf("removing %s: %v", gone, err)
	}
	want := slices.DeleteFunc(slices.Clone(before), func(p string) bool { return p == gone })
	want = append(want, spare)
	slices.Sort(want)
	waitLong(t, fmt.Sprintf("peers %v, all current", want), func() bool {
		got, current := groupOf(nc, "ORDERS")
		return slices.Equal(got, want) && current
	})
	waitLong(t, "the replacement caught up", func() bool { return localCount(nodeNamed(nodes, spare), "ORDERS") == len(acked) })
	checkHolds(t, js, "ORDERS", acked)
	waitLong(t, "every server dropped the removed one from the meta group", func() bool {
		for _, n := range nodes {
			if !n.running {
				continue
			}
			if _, err := n.node.MetaMember(ctx, gone, ""); !errors.Is(err, replication.ErrNotMetaMember) {
				return false
			}
			if st := n.node.MetaStatus(ctx); st.Size != 3 {
				return false
			}
		}
		return true
	})

	// The three left all hold the stream: removing one finds no place
	// for its replica, so it is refused and the server stays.
	err := remove(ctx, spare, "")
	// The stream's code stays out of the text: the removal's own code
	// follows it in the answer, and clients print both.
	if err == nil || !strings.Contains(err.Error(), "peer remap failed") || strings.Contains(err.Error(), "(10075)") {
		t.Fatalf("removing a server whose stream cannot move: %v", err)
	}
	if m, err := via.node.MetaMember(ctx, spare, ""); err != nil || m != spare {
		t.Fatalf("%s after a refused removal: %q, %v", spare, m, err)
	}
	if got, _ := groupOf(nc, "ORDERS"); !slices.Equal(got, want) {
		t.Fatalf("a refused removal changed the group: %v, want %v", got, want)
	}
}

// TestStreamPeerRemoveFromSnapshot: the replacement of a removed
// follower starts empty and the leader's log is compacted, so it is sent
// the snapshot taken at the membership change, whose state must name the
// snapshot's index (the change itself is raft's own entry, which the
// stream's store records as applied) for the replacement to install it.
func TestStreamPeerRemoveFromSnapshot(t *testing.T) {
	nodes := startStreamClusterWith(t, "ps", 4, 16)
	waitMetaLeader(t, nodes)
	nc, js := jsConnect(t, nodes[0].url())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstreamR3("ORDERS", "orders.>")); err != nil {
		t.Fatal(err)
	}
	acked := publishAcked(t, js, "orders", 0, 50)
	var before []string
	waitLong(t, "the stream's group", func() bool { before, _ = groupOf(nc, "ORDERS"); return len(before) == 3 })
	leader := streamLeader(nodes, js, "ORDERS")
	var gone, spare string
	for _, n := range nodes {
		switch {
		case !slices.Contains(before, n.name):
			spare = n.name
		case n.name != leader && gone == "":
			gone = n.name
		}
	}
	if r := removePeer(t, nc, "ORDERS", `{"peer":"`+gone+`"}`); !r.Success {
		t.Fatalf("removing follower %s: %+v (error %+v)", gone, r, r.Error)
	}
	waitLong(t, "the replacement caught up", func() bool { return localCount(nodeNamed(nodes, spare), "ORDERS") == len(acked) })
	checkHolds(t, js, "ORDERS", acked)
}

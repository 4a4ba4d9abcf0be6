package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// metricValue reads one sample (name with its labels, as /metrics prints
// it) from a node's /metrics; ok is false when the sample is missing.
func metricValue(t *testing.T, n *streamNode, sample string) (float64, bool) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + n.srv.MonitorAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("%s: %v", sample, err)
	}
	return v, true
}

// TestReplicatedStreamCatchUpSnapshotMetrics: a replica stopped while the
// others took messages (and compacted their logs past it) catches up
// through a streamed snapshot, and /metrics shows it: the replica counts a
// snapshot received and installed and its bytes, a peer counts one sent
// and its bytes, none failed, and no transfer is left in progress.
func TestReplicatedStreamCatchUpSnapshotMetrics(t *testing.T) {
	nodes := startStreamClusterWith(t, "sm", 3, 32)
	waitMetaLeader(t, nodes)
	_, js := jsConnect(t, nodes[0].url()+","+nodes[1].url()+","+nodes[2].url())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SM", Subjects: []string{"sm.>"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	publishAcked(t, js, "sm", 0, 1)
	leader := streamLeader(nodes, js, "SM")
	var away *streamNode
	for _, n := range nodes {
		if n.name != leader {
			away = n
			break
		}
	}
	for _, n := range nodes {
		for _, name := range []string{"wisp_raft_snapshots_sent_total", "wisp_raft_snapshots_received_total",
			"wisp_raft_snapshot_bytes_sent_total", "wisp_raft_snapshot_bytes_received_total",
			"wisp_raft_snapshots_send_failed_total", "wisp_raft_snapshots_receive_failed_total",
			"wisp_raft_snapshot_installs_total", "wisp_raft_snapshot_installs_failed_total",
			`wisp_raft_snapshots_in_progress{direction="send"}`, `wisp_raft_snapshots_in_progress{direction="receive"}`} {
			if _, ok := metricValue(t, n, name); !ok {
				t.Fatalf("%s: no %s in /metrics", n.name, name)
			}
		}
	}
	away.stop()
	const msgs, size = 128, 8 << 10 // 1 MiB: several chunks of state
	publishRandom(ctx, t, js, "sm", msgs, size)
	away.start(t)
	waitLong(t, "the replica caught up", func() bool { return localCount(away, "SM") == msgs+1 })

	// The counters are the replica's own since it restarted.
	get := func(n *streamNode, name string) float64 {
		v, ok := metricValue(t, n, name)
		if !ok {
			t.Fatalf("%s: no %s in /metrics", n.name, name)
		}
		return v
	}
	if v := get(away, "wisp_raft_snapshots_received_total"); v < 1 {
		t.Fatalf("the replica received %v snapshots", v)
	}
	if v := get(away, "wisp_raft_snapshot_installs_total"); v < 1 {
		t.Fatalf("the replica installed %v snapshots", v)
	}
	if v := get(away, "wisp_raft_snapshot_bytes_received_total"); v < msgs*size {
		t.Fatalf("the replica received %v snapshot bytes: want the stream's %d at least", v, msgs*size)
	}
	for _, name := range []string{"wisp_raft_snapshots_receive_failed_total", "wisp_raft_snapshot_installs_failed_total"} {
		if v := get(away, name); v != 0 {
			t.Fatalf("the replica: %s %v", name, v)
		}
	}
	var sent, bytes float64
	for _, n := range nodes {
		if n == away {
			continue
		}
		sent += get(n, "wisp_raft_snapshots_sent_total")
		bytes += get(n, "wisp_raft_snapshot_bytes_sent_total")
	}
	if sent < 1 || bytes < msgs*size {
		t.Fatalf("the peers sent %v snapshots of %v bytes", sent, bytes)
	}
	// Every transfer has ended: the gauges fall back to zero.
	waitLong(t, "no snapshot transfer in progress", func() bool {
		for _, n := range nodes {
			if get(n, `wisp_raft_snapshots_in_progress{direction="send"}`) != 0 ||
				get(n, `wisp_raft_snapshots_in_progress{direction="receive"}`) != 0 {
				return false
			}
		}
		return true
	})
}

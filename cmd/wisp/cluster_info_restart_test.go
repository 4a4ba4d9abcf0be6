package main

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestReplicatedStreamInfoAfterFullRestart: once every server of an R3
// stream restarted, its store has written fewer batches since it opened
// than the raft index it holds. Stream info waits for the store's batch
// its state may be as new as; a replica's own Applied (the raft index)
// taken for that batch number made info wait for a batch that would
// never come, and every stream info hung.
func TestReplicatedStreamInfoAfterFullRestart(t *testing.T) {
	nodes := startStreamCluster(t, "ir", 3)
	waitMetaLeader(t, nodes)
	_, js := jsConnect(t, nodes[0].url())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "IR", Subjects: []string{"ir.>"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	acked := publishAcked(t, js, "ir", 0, 60)
	for _, n := range nodes {
		n.stop()
	}
	for _, n := range nodes {
		n.start(t)
	}
	waitMetaLeader(t, nodes)
	waitLong(t, "the stream's leader", func() bool { return streamLeader(nodes, js, "IR") != "" })
	for _, n := range nodes {
		_, njs := jsConnect(t, n.url())
		ictx, icancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := njs.Stream(ictx, "IR")
		icancel()
		if err != nil {
			t.Fatalf("stream info asked of %s after the restart: %v", n.name, err)
		}
		if got := s.CachedInfo().State.Msgs; got != uint64(len(acked)) {
			t.Fatalf("stream info from %s: %d messages, want %d", n.name, got, len(acked))
		}
	}
}

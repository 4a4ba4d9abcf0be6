package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/wisp-mq/wisp/replication"
)

// TestReplicatedStreamCatchUpStreamsItsState: a replica stopped while the
// others took 12 MiB of messages (and compacted their logs past it) comes
// back through a snapshot whose stream is streamed beside it: it holds
// every message, received as chunks no larger than the chunk bound, from
// a sender that never had more than the window unacknowledged, however
// large the stream.
func TestReplicatedStreamCatchUpStreamsItsState(t *testing.T) {
	nodes := startStreamClusterWith(t, "ss", 3, 32)
	waitMetaLeader(t, nodes)
	_, js := jsConnect(t, nodes[0].url()+","+nodes[1].url()+","+nodes[2].url())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BIG", Subjects: []string{"big.>"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	publishAcked(t, js, "big", 0, 1)
	leader := streamLeader(nodes, js, "BIG")
	var away *streamNode
	for _, n := range nodes {
		if n.name != leader {
			away = n
			break
		}
	}
	away.stop()
	const msgs, size = 256, 48 << 10 // 12 MiB, random: the archive does not compress it
	publishRandom(ctx, t, js, "big", msgs, size)
	away.start(t)
	waitLong(t, "the replica caught up", func() bool { return localCount(away, "BIG") == msgs+1 })

	rx := away.node.Transport().StateStats()
	if rx.Received < msgs*size {
		t.Fatalf("the replica received %d bytes of state: want the stream's %d at least", rx.Received, msgs*size)
	}
	if rx.PeakChunk > replication.StateChunkMax {
		t.Fatalf("a chunk of %d bytes: over the bound %d", rx.PeakChunk, replication.StateChunkMax)
	}
	var sent int64
	for _, n := range nodes {
		if n == away {
			continue
		}
		tx := n.node.Transport().StateStats()
		sent += tx.Sent
		if tx.PeakInFlight > replication.StateWindow+replication.StateChunkMax {
			t.Fatalf("%s had %d bytes unacknowledged: over the window %d", n.name, tx.PeakInFlight, replication.StateWindow)
		}
	}
	if sent < msgs*size {
		t.Fatalf("%d bytes of state sent", sent)
	}
}

// publishRandom publishes msgs random payloads of size bytes to
// prefix.<i>, each with a message id, retrying each for up to a minute
// (a group may be electing): random data does not compress, so the
// stream's state is as large as what was sent.
func publishRandom(ctx context.Context, t *testing.T, js jetstream.JetStream, prefix string, msgs, size int) {
	t.Helper()
	payload := make([]byte, size)
	for i := range msgs {
		rand.Read(payload)
		deadline := time.Now().Add(60 * time.Second)
		for {
			pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := js.Publish(pctx, fmt.Sprintf("%s.%d", prefix, i), payload, jetstream.WithMsgID(fmt.Sprint(prefix, "-", i)))
			pcancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %d: %v", i, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

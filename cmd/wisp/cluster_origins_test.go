package main

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// waitStreamMsgs waits until stream, asked through js, holds want
// messages, its last at sequence last.
func waitStreamMsgs(t *testing.T, js jetstream.JetStream, stream string, want, last uint64) {
	t.Helper()
	var st jetstream.StreamState
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := js.Stream(ctx, stream)
		cancel()
		if err == nil {
			st = s.CachedInfo().State
			if st.Msgs == want && st.LastSeq == last {
				return
			}
			if st.Msgs > want {
				t.Fatalf("%s holds %d messages, more than the %d its origin has", stream, st.Msgs, want)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %+v (err %v), want %d messages up to %d", stream, st, err, want, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stepDownStream moves a replicated stream's leadership and waits until
// another server leads it.
func stepDownStream(t *testing.T, nodes []*streamNode, js jetstream.JetStream, name string) {
	t.Helper()
	var before string
	waitLong(t, name+"'s leader", func() bool { before = streamLeader(nodes, js, name); return before != "" })
	_, jsL := jsConnect(t, nodeNamed(nodes, before).url())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc := jsL.Conn()
	if _, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.LEADER.STEPDOWN."+name, nil); err != nil {
		t.Fatal(err)
	}
	waitLong(t, name+"'s new leader", func() bool {
		l := streamLeader(nodes, js, name)
		return l != "" && l != before
	})
}

// TestReplicatedOrigins: an R3 mirror of an R3 stream and a one-replica
// stream sourcing from it copy every message exactly once, also across
// leader changes of the origin and of the mirror.
func TestReplicatedOrigins(t *testing.T) {
	nodes := startStreamCluster(t, "org", 3)
	waitMetaLeader(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, js1 := jsConnect(t, nodes[0].url())
	_, js2 := jsConnect(t, nodes[1].url())
	_, js3 := jsConnect(t, nodes[2].url())
	if _, err := js1.CreateStream(ctx, jetstream.StreamConfig{Name: "ORIG", Subjects: []string{"orig.>"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	publishAcked(t, js1, "orig", 0, 5)
	if _, err := js2.CreateStream(ctx, jetstream.StreamConfig{Name: "MIR", Mirror: &jetstream.StreamSource{Name: "ORIG"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := js3.CreateStream(ctx, jetstream.StreamConfig{Name: "SRC", Sources: []*jetstream.StreamSource{{Name: "ORIG"}}}); err != nil {
		t.Fatal(err)
	}
	waitStreamMsgs(t, js1, "MIR", 5, 5)
	waitStreamMsgs(t, js3, "SRC", 5, 5)

	publishAcked(t, js2, "orig", 5, 5)
	waitStreamMsgs(t, js3, "MIR", 10, 10)
	waitStreamMsgs(t, js3, "SRC", 10, 10)

	stepDownStream(t, nodes, js1, "ORIG")
	publishAcked(t, js3, "orig", 10, 5)
	waitStreamMsgs(t, js2, "MIR", 15, 15)
	waitStreamMsgs(t, js3, "SRC", 15, 15)

	stepDownStream(t, nodes, js1, "MIR")
	publishAcked(t, js1, "orig", 15, 5)
	waitStreamMsgs(t, js2, "MIR", 20, 20)
	waitStreamMsgs(t, js3, "SRC", 20, 20)
}

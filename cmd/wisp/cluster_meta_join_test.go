package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestFourthServerJoinsAndHoldsAnR3Stream: three servers form a cluster
// and hold an R3 stream; a fourth stream-enabled server then starts with
// routes to them. The meta leader adds it to the meta group (every
// server counts four members), and the next R3 stream, created through
// the newcomer, is placed on it (it holds the fewest streams): it is a
// replica of that stream and holds every acknowledged message.
func TestFourthServerJoinsAndHoldsAnR3Stream(t *testing.T) {
	nodes := startStreamCluster(t, "jn", 3)
	waitMetaLeader(t, nodes)
	_, js := jsConnect(t, nodes[0].url())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstreamR3("FIRST", "first.>")); err != nil {
		t.Fatal(err)
	}

	n4 := &streamNode{name: "jn4", port: freePort(t), rt: freePort(t),
		dir: filepath.Join(t.TempDir(), "jn4"), cluster: nodes[0].cluster}
	n4.routes = append(slices.Clone(nodes[0].routes), fmt.Sprintf("nats://127.0.0.1:%d", n4.rt))
	n4.start(t)
	t.Cleanup(n4.stop)
	all := append(slices.Clone(nodes), n4)
	waitLong(t, "four members of the meta group on every server", func() bool {
		for _, n := range all {
			sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
			st := n.node.MetaStatus(sctx)
			scancel()
			if !st.Started || st.Size != 4 || st.Leader == "" {
				return false
			}
		}
		return true
	})
	waitMetaLeader(t, all)

	nc4, js4 := jsConnect(t, n4.url())
	if _, err := js4.CreateStream(ctx, jetstreamR3("SECOND", "second.>")); err != nil {
		t.Fatal(err)
	}
	var peers []string
	waitLong(t, "SECOND's group", func() bool { peers, _ = groupOf(nc4, "SECOND"); return len(peers) == 3 })
	if !slices.Contains(peers, "jn4") {
		t.Fatalf("SECOND placed on %v: want the new server among them", peers)
	}
	acked := publishAcked(t, js4, "second", 0, 20)
	checkHolds(t, js4, "SECOND", acked)
	waitLong(t, "the new server's replica holds every message", func() bool { return localCount(n4, "SECOND") == len(acked) })
}

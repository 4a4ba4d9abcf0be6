package replication

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
)

// metaVotersAre reports whether tn's replica of the meta group has
// exactly the voters named.
func metaVotersAre(tn *testNode, want []string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ids, err := tn.node.Host().Voters(ctx, MetaGroup)
	if err != nil || len(ids) != len(want) {
		return false
	}
	for _, w := range want {
		if !slices.Contains(ids, NodeID(w)) {
			return false
		}
	}
	return true
}

// TestNewServerJoinsTheMetaGroup: a three-server cluster forms its meta
// group and places a stream; a fourth stream-enabled server then joins
// the cluster (its routes name the others). The meta leader adds it: every
// server, the newcomer included, sees four voters and names it among the
// members, it has not bootstrapped a group of its own, and the next
// three-replica stream is placed on it (it holds the fewest streams) and
// replicates there.
func TestNewServerJoinsTheMetaGroup(t *testing.T) {
	ports := freePorts(t, 4)
	var seeds []string
	for _, p := range ports {
		seeds = append(seeds, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var nodes []*testNode
	t.Cleanup(func() {
		for _, tn := range nodes {
			tn.stop(t)
		}
	})
	layers := map[string]*blobLayer{}
	add := func(i int, seeds []string) *testNode {
		tn := &testNode{name: fmt.Sprintf("n%d", i+1), port: ports[i], fs: vfs.NewMem(), seeds: seeds}
		tn.start(t)
		layers[tn.name] = &blobLayer{sms: map[string]*blobSM{}}
		tn.node.AttachStreams(layers[tn.name])
		nodes = append(nodes, tn)
		return tn
	}
	for i := range 3 {
		add(i, seeds[:3])
	}
	meta := agreedLeader(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := meta.node.PlaceStream(ctx, "FIRST", 3, []byte(`{"name":"FIRST"}`), time.Now()); err != nil {
		t.Fatal(err)
	}

	n4 := add(3, seeds)
	all := []string{"n1", "n2", "n3", "n4"}
	waitFor(t, "every server to see four meta voters", func() bool {
		for _, tn := range nodes {
			if !tn.node.Meta().Started() || !metaVotersAre(tn, all) {
				return false
			}
		}
		return true
	})
	if n4.node.Meta().bootstrapped() {
		t.Fatal("the joining server bootstrapped a meta group of its own")
	}
	waitFor(t, "every server to name four members", func() bool {
		for _, tn := range nodes {
			st := tn.status()
			if st.Size != 4 || len(st.Replicas) != 3 || st.Leader == "" {
				return false
			}
		}
		return true
	})

	// The next stream goes to the three holding the fewest: n4 and two of
	// the others.
	leader := agreedLeader(t, nodes)
	if err := leader.node.PlaceStream(ctx, "SECOND", 3, []byte(`{"name":"SECOND"}`), time.Now()); err != nil {
		t.Fatal(err)
	}
	a, _ := leader.node.meta.sm.assignment("SECOND")
	if !slices.Contains(a.Peers, "n4") || len(a.Peers) != 3 {
		t.Fatalf("SECOND placed on %v: want n4 among three", a.Peers)
	}
	waitFor(t, "a proposal on SECOND to commit", func() bool {
		l := streamLeaderOf(nodes, a.Group)
		if l == nil {
			return false
		}
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		defer pcancel()
		_, err := l.node.Host().Propose(a.Group, []byte("x")).Wait(pctx)
		return err == nil
	})
	waitFor(t, "n4 to hold SECOND's entry", func() bool { return layers["n4"].count("SECOND") == 1 })
}

package replication

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
)

// TestMetaThreeServersFormOneGroup: three fresh servers started with the
// same routes bootstrap one meta group, elect one leader that all name,
// and replicate assignments.
func TestMetaThreeServersFormOneGroup(t *testing.T) {
	nodes := startTestCluster(t, 3)
	agreedLeader(t, nodes)
	// The first election needs two bootstrapped members; a third slow
	// enough to see it may join instead, which is as good.
	booted := 0
	for _, tn := range nodes {
		if tn.node.Meta().bootstrapped() {
			booted++
		}
		st := tn.status()
		if st.Size != 3 || len(st.Replicas) != 2 {
			t.Fatalf("%s: %+v", tn.name, st)
		}
	}
	if booted < 2 {
		t.Fatalf("%d servers bootstrapped the group", booted)
	}
	assignUntil(t, nodes, "ORDERS", []string{"n1", "n2", "n3"})
	waitAssigned(t, nodes, "ORDERS")
	waitFor(t, "the leader to see every replica current", func() bool {
		var st MetaStatus
		for _, tn := range nodes { // whoever leads now (an election may have moved it)
			if s := tn.status(); s.IsLeader {
				st = s
			}
		}
		for _, r := range st.Replicas {
			if !r.Current || r.Lag != 0 || r.Name == "" || r.Active < 0 {
				return false
			}
		}
		return st.IsLeader && st.Commit > 0 && st.LeaderChanges > 0
	})
}

// TestMetaLeaderShutdownAndRejoin: when the leader stops, the other two
// elect a new one; the old leader, restarted on its disk, rejoins and
// catches up with what was committed while it was away.
func TestMetaLeaderShutdownAndRejoin(t *testing.T) {
	nodes := startTestCluster(t, 3)
	old := agreedLeader(t, nodes)
	assignUntil(t, nodes, "A", []string{"n1"})
	old.stop(t)
	rest := without(nodes, old)
	next := agreedLeader(t, rest)
	if next.name == old.name {
		t.Fatal("a stopped server is still the leader")
	}
	assignUntil(t, rest, "B", []string{"n2"})

	old.start(t)
	// It knows the members by name from its disk, before any route is up.
	if got := old.node.Meta().ownHello().Set; !slices.Equal(got, []string{"n1", "n2", "n3"}) {
		t.Fatalf("restarted server's members: %q", got)
	}
	if old.node.Meta().bootstrapped() {
		t.Fatal("a restarted server bootstrapped the meta group again")
	}
	agreedLeader(t, nodes)
	waitAssigned(t, nodes, "B")
}

// TestMetaWipedServerRecoversInsteadOfBootstrapping: a server that lost its
// raft store sees the others are past term 0 and joins without
// bootstrapping.
func TestMetaWipedServerRecoversInsteadOfBootstrapping(t *testing.T) {
	nodes := startTestCluster(t, 3)
	agreedLeader(t, nodes)
	assignUntil(t, nodes, "A", []string{"n1"})
	victim := nodes[2]
	victim.stop(t)
	victim.fs = vfs.NewMem() // a new, empty disk
	victim.start(t)
	waitAssigned(t, nodes, "A")
	if victim.node.Meta().bootstrapped() {
		t.Fatal("a wiped server bootstrapped the meta group")
	}
	agreedLeader(t, nodes)
}

// TestMetaPartitionedServerNeverLeads: a server cut off from the other
// two never becomes a leader while they keep theirs and commit; a leader
// cut off steps down and the majority elects another; at no time do two
// servers lead in one term.
func TestMetaPartitionedServerNeverLeads(t *testing.T) {
	nodes := startTestCluster(t, 3)
	leader := agreedLeader(t, nodes)
	isolate := func(x *testNode, on bool) {
		for _, tn := range nodes {
			if tn != x {
				tn.node.Transport().SetBlocked(x.name, on)
				x.node.Transport().SetBlocked(tn.name, on)
			}
		}
	}
	// Sample every server while faults come and go: never two leaders in
	// one term.
	checkTerms := func() {
		leaders := map[uint64]string{}
		for _, tn := range nodes {
			st := tn.status()
			if st.IsLeader {
				if other, ok := leaders[st.Term]; ok && other != tn.name {
					t.Fatalf("two leaders in term %d: %s and %s", st.Term, other, tn.name)
				}
				leaders[st.Term] = tn.name
			}
		}
	}

	var follower *testNode
	for _, tn := range nodes {
		if tn != leader {
			follower = tn
			break
		}
	}
	isolate(follower, true)
	rest := without(nodes, follower)
	assignUntil(t, rest, "DURING", []string{"n1"})
	// Several election timeouts (0.5 s each) on its own.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if follower.status().IsLeader {
			t.Fatal("the partitioned server became a leader")
		}
		checkTerms()
	}
	isolate(follower, false)
	waitAssigned(t, nodes, "DURING")
	agreedLeader(t, nodes)

	// Now cut off whoever leads: it steps down (check-quorum), the others
	// elect a new leader.
	leader = agreedLeader(t, nodes)
	isolate(leader, true)
	rest = without(nodes, leader)
	waitFor(t, "the cut-off leader to step down", func() bool {
		checkTerms()
		return !leader.status().IsLeader
	})
	next := agreedLeader(t, rest)
	if next == leader {
		t.Fatal("the cut-off server leads the majority")
	}
	checkTerms()
	isolate(leader, false)
	agreedLeader(t, nodes)
}

// TestMetaStepDown: asked on a follower or on the leader, the meta leader
// hands over to another member.
func TestMetaStepDown(t *testing.T) {
	nodes := startTestCluster(t, 3)
	for round := range 2 { // from a follower, then from the leader
		leader := agreedLeader(t, nodes)
		asker := leader
		if round == 0 {
			asker = without(nodes, leader)[0]
		}
		waitFor(t, "the step-down to take", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return asker.node.Meta().RequestStepDown(ctx) == nil
		})
		// The asker saw another leader; every server follows.
		waitFor(t, "every server to name a new leader", func() bool {
			name := ""
			for _, tn := range nodes {
				st := tn.status()
				if st.Leader == "" || st.Leader == leader.name || (name != "" && st.Leader != name) {
					return false
				}
				name = st.Leader
			}
			return true
		})
	}
}

// TestMetaDifferentRoutesNeverBootstrap: servers whose seed routes give
// different member sets (here n2 and n3 each know only n1, which knows
// nobody) never form a group, rather than two: n2 would count {n1, n2}
// and n3 {n1, n3}.
func TestMetaDifferentRoutesNeverBootstrap(t *testing.T) {
	ports := freePorts(t, 3)
	url := func(i int) string { return fmt.Sprintf("nats://127.0.0.1:%d", ports[i]) }
	seeds := [][]string{nil, {url(0), url(1)}, {url(0), url(2)}}
	var nodes []*testNode
	for i := range 3 {
		tn := &testNode{name: fmt.Sprintf("n%d", i+1), port: ports[i], fs: vfs.NewMem(), seeds: seeds[i]}
		tn.start(t)
		nodes = append(nodes, tn)
	}
	t.Cleanup(func() {
		for _, tn := range nodes {
			tn.stop(t)
		}
	})
	waitFor(t, "a full mesh", func() bool {
		for _, tn := range nodes {
			if tn.srv.NumRoutes() != 2 {
				return false
			}
		}
		return true
	})
	// Many hello rounds (100 ms each).
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		for _, tn := range nodes {
			if tn.node.Meta().Started() {
				t.Fatalf("%s started a meta group from routes the others do not share", tn.name)
			}
		}
	}
}

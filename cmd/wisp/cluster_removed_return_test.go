package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// metaTerms is every running server's meta term and leader: equal
// before and after, no election happened.
func metaTerms(nodes []*streamNode) map[string]string {
	out := map[string]string{}
	for _, n := range nodes {
		if n.running {
			st := n.node.MetaStatus(context.Background())
			out[n.name] = fmt.Sprintf("term %d leader %s", st.Term, st.Leader)
		}
	}
	return out
}

// allURLs lists every node's client URL, for a client that must survive
// any one of them stopping.
func allURLs(nodes []*streamNode) string {
	var u []string
	for _, n := range nodes {
		u = append(u, n.url())
	}
	return strings.Join(u, ",")
}

// otherThan is the first node that is not n.
func otherThan(nodes []*streamNode, n *streamNode) *streamNode {
	for _, o := range nodes {
		if o != n {
			return o
		}
	}
	return nil
}

// TestRemovedServerComesBack: four servers, an R3 stream; one of its
// followers stops and is removed from the cluster. Started again with its
// old store, it takes part in nothing: the meta group's and the stream's
// leaders and terms stay as they were (no election), it is not a member
// again, and it does not answer for the stream it was removed from.
// Started again with an empty store, it joins as a new member.
func TestRemovedServerComesBack(t *testing.T) {
	nodes := startStreamCluster(t, "rb", 4)
	meta := waitMetaLeader(t, nodes)
	nc, js := jsConnect(t, allURLs(nodes))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := jetstreamR3("ORDERS", "orders.>")
	cfg.AllowDirect = true
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	acked := publishAcked(t, js, "orders", 0, 20)
	var before []string
	waitLong(t, "the stream's group", func() bool { before, _ = groupOf(nc, "ORDERS"); return len(before) == 3 })
	var gone *streamNode
	leader := streamLeader(nodes, js, "ORDERS")
	for _, n := range nodes {
		// Of the stream's two followers, at most one leads the meta group.
		if slices.Contains(before, n.name) && n.name != leader && n.name != meta {
			gone = n
			break
		}
	}
	via := otherThan(nodes, gone)
	gone.stop()
	remove := removeServer(via.node, via.layers)
	if err := remove(ctx, gone.name, ""); err != nil {
		t.Fatalf("removing %s: %v", gone.name, err)
	}
	waitLong(t, "the stream whole again", func() bool {
		got, current := groupOf(nc, "ORDERS")
		return len(got) == 3 && !slices.Contains(got, gone.name) && current
	})
	for i, seq := range publishAcked(t, js, "orders", 20, 20) {
		acked[i] = seq
	}
	terms := metaTerms(nodes)
	group, _ := groupOf(nc, "ORDERS")
	sleader := streamLeader(nodes, js, "ORDERS")

	gone.start(t)
	waitLong(t, gone.name+" to find it was removed", gone.node.Meta().Removed)
	waitLong(t, gone.name+" to drop the stream it was removed from", func() bool { return localCount(gone, "ORDERS") == -1 })
	// Several election timeouts with it running.
	time.Sleep(3 * time.Second)
	delete(terms, gone.name)
	now := metaTerms(nodes)
	delete(now, gone.name)
	if !maps.Equal(now, terms) {
		t.Fatalf("the meta group changed while the removed server ran: %v, before %v", now, terms)
	}
	if st := gone.node.MetaStatus(ctx); st.Started && st.Size != 0 && st.Term != 0 {
		t.Logf("%s's meta status: %+v", gone.name, st)
	}
	if g, _ := groupOf(nc, "ORDERS"); !slices.Equal(g, group) {
		t.Fatalf("the stream's group is %v, was %v", g, group)
	}
	if l := streamLeader(nodes, js, "ORDERS"); l != sleader {
		t.Fatalf("the stream's leader is %s, was %s", l, sleader)
	}
	if m, err := via.node.MetaMember(ctx, gone.name, ""); err == nil {
		t.Fatalf("%s is a member again", m)
	}
	checkHolds(t, js, "ORDERS", acked)

	// With an empty store it joins as a new member, recovering before it
	// votes (which costs the meta group one election: see
	// docs/clustering.md).
	gone.stop()
	if err := os.RemoveAll(gone.dir); err != nil {
		t.Fatal(err)
	}
	gone.start(t)
	waitLong(t, gone.name+" a member again", func() bool {
		for _, n := range nodes {
			if st := n.node.MetaStatus(ctx); st.Size != 4 || st.Leader == "" {
				return false
			}
		}
		return !gone.node.Meta().Removed()
	})
	for i, seq := range publishAcked(t, js, "orders", 40, 5) {
		acked[i] = seq
	}
	checkHolds(t, js, "ORDERS", acked)
}

// TestRunningServerRemovedTakesNoPart: a server removed from the cluster
// while it runs applies its own removal: it says so, drops the stream it
// held and takes part in nothing, and the meta group's leader and term
// stay as they were; restarted with its store it stays out.
func TestRunningServerRemovedTakesNoPart(t *testing.T) {
	nodes := startStreamCluster(t, "rr", 4)
	meta := waitMetaLeader(t, nodes)
	nc, js := jsConnect(t, allURLs(nodes))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstreamR3("ORDERS", "orders.>")); err != nil {
		t.Fatal(err)
	}
	acked := publishAcked(t, js, "orders", 0, 10)
	var before []string
	waitLong(t, "the stream's group", func() bool { before, _ = groupOf(nc, "ORDERS"); return len(before) == 3 })
	var gone *streamNode
	leader := streamLeader(nodes, js, "ORDERS")
	for _, n := range nodes {
		if slices.Contains(before, n.name) && n.name != leader && n.name != meta {
			gone = n
			break
		}
	}
	via := otherThan(nodes, gone)
	terms := metaTerms(nodes)
	delete(terms, gone.name)
	if err := removeServer(via.node, via.layers)(ctx, gone.name, ""); err != nil {
		t.Fatalf("removing %s: %v", gone.name, err)
	}
	waitLong(t, gone.name+" to find it was removed", gone.node.Meta().Removed)
	waitLong(t, gone.name+" to drop the stream", func() bool { return localCount(gone, "ORDERS") == -1 })
	waitLong(t, "the stream whole again", func() bool {
		got, current := groupOf(nc, "ORDERS")
		return len(got) == 3 && !slices.Contains(got, gone.name) && current
	})
	now := metaTerms(nodes)
	delete(now, gone.name)
	if !maps.Equal(now, terms) {
		t.Fatalf("the meta group changed: %v, before %v", now, terms)
	}
	gone.stop()
	gone.start(t)
	waitLong(t, gone.name+" to find again it was removed", gone.node.Meta().Removed)
	for i, seq := range publishAcked(t, js, "orders", 10, 5) {
		acked[i] = seq
	}
	checkHolds(t, js, "ORDERS", acked)
	now = metaTerms(nodes)
	delete(now, gone.name)
	if !maps.Equal(now, terms) {
		t.Fatalf("the meta group changed after the restart: %v, before %v", now, terms)
	}
}

package main

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/wisp-mq/wisp/replication"
)

// TestClusterUpdateWithUnknownOutcomeIsSettled: an update moving an R3
// stream from one subject to another passes its check in the meta group,
// then its entry is proposed while the stream's two followers are gone,
// so its leader loses its leadership before it commits: whether it
// applies is not known when the update is answered. Once the followers
// are back (the old leader elected again first, so that the update's
// entry commits), the subject the stream no longer captures is freed
// (another stream may take it) without any further update of the
// stream, and the one it captures now stays taken.
func TestClusterUpdateWithUnknownOutcomeIsSettled(t *testing.T) {
	// Slow ticks (an election timeout of about 5 s): the stream's leader
	// still leads for a while after its followers are gone, long enough
	// for the update to be proposed there.
	nodes := startStreamClusterOf(t, "stl", 5, func(n *streamNode) {
		n.tuneRepl = func(o *replication.Options) { o.TickInterval = 500 * time.Millisecond }
	})
	waitMetaLeader(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	byName := map[string]*streamNode{}
	for _, n := range nodes {
		byName[n.name] = n
	}
	_, js := jsConnect(t, nodes[0].url())
	cfg := jetstream.StreamConfig{Name: "SETTLE", Subjects: []string{"settle.a.>"}, Replicas: 3}
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	publishAcked(t, js, "settle.a", 0, 1)
	var leader string
	waitLong(t, "SETTLE's leader", func() bool { leader = streamLeader(nodes, js, "SETTLE"); return leader != "" })
	peers, _ := nodes[0].node.Assignment("SETTLE")
	var followers []*streamNode
	for _, p := range peers {
		if p != leader {
			followers = append(followers, byName[p])
		}
	}
	if len(followers) != 2 {
		t.Fatalf("SETTLE on %v, led by %s", peers, leader)
	}
	_, jsl := jsConnect(t, byName[leader].url())

	var wg sync.WaitGroup
	for _, f := range followers {
		wg.Add(1)
		go func() { defer wg.Done(); f.stop() }()
	}
	wg.Wait()
	moved := cfg
	moved.Subjects = []string{"settle.b.>"}
	uctx, ucancel := context.WithTimeout(ctx, 30*time.Second)
	_, err := jsl.UpdateStream(uctx, moved)
	ucancel()
	if err == nil {
		t.Fatal("the update succeeded without the stream's followers")
	}
	if strings.Contains(err.Error(), "does not lead the stream") {
		t.Skipf("the leader had stepped down before the update was proposed (%v): its outcome is known", err)
	}
	t.Logf("update with its outcome unknown: %v", err)
	// One follower back: the old leader, whose log holds the update's
	// entry, is the only server the other can elect, and the entry
	// commits under its next term. The stream then captures settle.b.>,
	// which the meta group must keep taken.
	followers[0].start(t)
	waitLong(t, "SETTLE led by "+leader+" again", func() bool { return streamLeader(nodes, js, "SETTLE") == leader })
	followers[1].start(t)
	var now []string
	waitLong(t, "SETTLE's subjects", func() bool {
		c, done := context.WithTimeout(ctx, 5*time.Second)
		defer done()
		s, err := js.Stream(c, "SETTLE")
		if err != nil {
			return false
		}
		now = s.CachedInfo().Config.Subjects
		return true
	})
	if !slices.Equal(now, []string{"settle.b.>"}) {
		t.Fatalf("SETTLE's subjects once its leader is back: %v, want settle.b.>", now)
	}
	waitLong(t, "settle.a.> taken by another stream", func() bool {
		c, done := context.WithTimeout(ctx, 5*time.Second)
		defer done()
		_, err := js.CreateStream(c, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"settle.a.>"}})
		return err == nil
	})
	c, done := context.WithTimeout(ctx, 10*time.Second)
	defer done()
	if _, err := js.CreateStream(c, jetstream.StreamConfig{Name: "THIRD", Subjects: now}); apiCode(err) != 10065 {
		t.Fatalf("a create on SETTLE's subjects %v: %v, want error 10065", now, err)
	}
}

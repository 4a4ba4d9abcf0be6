package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/wisp-mq/wisp/replication"
	"github.com/wisp-mq/wisp/server"
)

// moveMetaLeader makes the server named to lead the meta group.
func moveMetaLeader(t *testing.T, nodes []*streamNode, to string) {
	t.Helper()
	for try := 0; ; try++ {
		leader := waitMetaLeader(t, nodes)
		if leader == to {
			return
		}
		if try == 20 {
			t.Fatalf("%s does not take the meta leadership (%s keeps it)", to, leader)
		}
		for _, n := range nodes {
			if n.name == leader && n.running {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if err := n.node.Host().TransferLeadership(ctx, replication.MetaGroup, replication.NodeID(to)); err != nil {
					t.Logf("meta leadership transfer to %s: %v", to, err)
				}
				cancel()
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestClusterStreamsWhileMetaLeaderLacksTheAccount: account A is
// configured on two servers of three, and the third leads the meta
// group. Creating and deleting streams of A still gets an answer: an R2
// stream is placed on the two servers with A, works, and is deleted; a
// one-replica stream whose server is down is deleted too (its delete
// goes to the meta group); and an R3 stream, which only two servers
// could hold, is refused with 10005.
func TestClusterStreamsWhileMetaLeaderLacksTheAccount(t *testing.T) {
	accounts := []server.AccountConfig{{Name: "A", Users: []server.User{{Username: "a", Password: "pa"}}}}
	i := 0
	nodes := startStreamClusterOf(t, "ml", 3, func(n *streamNode) {
		if i < 2 {
			n.accounts = accounts
		}
		i++
	})
	moveMetaLeader(t, nodes, "ml3")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	_, js1 := jsConnect(t, nodes[0].url(), nats.UserInfo("a", "pa"))
	_, js2 := jsConnect(t, nodes[1].url(), nats.UserInfo("a", "pa"))
	// Each request on its own deadline, well under the test's: a request
	// without an answer shows as a timeout here.
	op := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 15*time.Second) }

	c, done := op()
	_, err := js1.CreateStream(c, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Replicas: 2})
	done()
	if err != nil {
		t.Fatalf("R2 create while ml3 (without A) leads the meta group: %v", err)
	}
	peers, ok := nodes[0].node.Assignment("A ORDERS")
	if !ok || !slices.Equal(peers, []string{"ml1", "ml2"}) {
		t.Fatalf("ORDERS placed on %v (%v), want ml1 and ml2", peers, ok)
	}
	publishAcked(t, js2, "orders", 0, 3)
	c, done = op()
	s, err := js1.Stream(c, "ORDERS")
	done()
	if err != nil || s.CachedInfo().State.Msgs != 3 {
		t.Fatalf("ORDERS after 3 publishes: %v", err)
	}
	c, done = op()
	err = js2.DeleteStream(c, "ORDERS")
	done()
	if err != nil {
		t.Fatalf("R2 delete while ml3 leads the meta group: %v", err)
	}
	waitLong(t, "ORDERS gone from every server", func() bool {
		for _, n := range nodes {
			if _, ok := n.node.Assignment("A ORDERS"); ok {
				return false
			}
		}
		return true
	})

	// More replicas than servers with the account: refused, not placed on ml3.
	c, done = op()
	_, err = js1.CreateStream(c, jetstream.StreamConfig{Name: "WIDE", Subjects: []string{"wide"}, Replicas: 3})
	done()
	if apiCode(err) != 10005 || !strings.Contains(err.Error(), "no suitable peers for placement") {
		t.Fatalf("R3 create with A on two servers: %v, want 10005 no suitable peers for placement", err)
	}
	if _, ok := nodes[0].node.Assignment("A WIDE"); ok {
		t.Fatal("WIDE was placed after all")
	}

	// A one-replica stream on ml2, deleted while ml2 is down: the delete
	// is done through the meta group, from ml1.
	c, done = op()
	_, err = js2.CreateStream(c, jetstream.StreamConfig{Name: "LOCAL", Subjects: []string{"local"}})
	done()
	if err != nil {
		t.Fatal(err)
	}
	nodes[1].stop()
	moveMetaLeader(t, nodes, "ml3")
	c, done = op()
	err = js1.DeleteStream(c, "LOCAL")
	done()
	if err != nil {
		t.Fatalf("delete of a one-replica stream whose server is down, while ml3 leads: %v", err)
	}
	if _, ok := nodes[0].node.Assignment("A LOCAL"); ok {
		t.Fatal("LOCAL is still assigned")
	}
}

// TestClusterPlacementOnlyOnServersWithTheAccount: of four servers, three
// have account A and two have account B. Streams of A are placed only on
// the three (the fourth, holding the fewest streams, would be chosen
// otherwise); an R3 stream of B is refused with 10005, an R2 one placed
// on the two servers with B.
func TestClusterPlacementOnlyOnServersWithTheAccount(t *testing.T) {
	a := server.AccountConfig{Name: "A", Users: []server.User{{Username: "a", Password: "pa"}}}
	b := server.AccountConfig{Name: "B", Users: []server.User{{Username: "b", Password: "pb"}}}
	i := 0
	nodes := startStreamClusterOf(t, "pl", 4, func(n *streamNode) {
		switch i {
		case 0, 1:
			n.accounts = []server.AccountConfig{a, b}
		case 2:
			n.accounts = []server.AccountConfig{a}
		}
		i++
	})
	waitMetaLeader(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	_, jsa := jsConnect(t, nodes[0].url(), nats.UserInfo("a", "pa"))
	_, jsb := jsConnect(t, nodes[1].url(), nats.UserInfo("b", "pb"))
	for _, name := range []string{"S1", "S2", "S3"} {
		c, done := context.WithTimeout(ctx, 15*time.Second)
		_, err := jsa.CreateStream(c, jetstream.StreamConfig{Name: name, Subjects: []string{strings.ToLower(name) + ".>"}, Replicas: 3})
		done()
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		if peers, _ := nodes[0].node.Assignment("A " + name); !slices.Equal(peers, []string{"pl1", "pl2", "pl3"}) {
			t.Fatalf("%s of account A placed on %v, want pl1 pl2 pl3", name, peers)
		}
	}
	publishAcked(t, jsa, "s3", 0, 2)

	c, done := context.WithTimeout(ctx, 15*time.Second)
	_, err := jsb.CreateStream(c, jetstream.StreamConfig{Name: "B3", Subjects: []string{"b3"}, Replicas: 3})
	done()
	if apiCode(err) != 10005 {
		t.Fatalf("R3 create in B, on two servers of four: %v, want 10005", err)
	}
	c, done = context.WithTimeout(ctx, 15*time.Second)
	_, err = jsb.CreateStream(c, jetstream.StreamConfig{Name: "B2", Subjects: []string{"b2.>"}, Replicas: 2})
	done()
	if err != nil {
		t.Fatal(err)
	}
	if peers, _ := nodes[0].node.Assignment("B B2"); !slices.Equal(peers, []string{"pl1", "pl2"}) {
		t.Fatalf("B2 placed on %v, want pl1 pl2", peers)
	}
	publishAcked(t, jsb, "b2", 0, 2)
}

package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/wisp-mq/wisp/server"
)

// TestReplicatedStreamsInAccounts: two accounts each create an R3
// stream called ORDERS; each is placed, replicated and answered from any
// server in its own account, and deleting one leaves the other.
func TestReplicatedStreamsInAccounts(t *testing.T) {
	accounts := []server.AccountConfig{
		{Name: "A", Users: []server.User{{Username: "a", Password: "pa"}}},
		{Name: "B", Users: []server.User{{Username: "b", Password: "pb"}}},
	}
	nodes := startStreamClusterOf(t, "acc", 3, func(n *streamNode) { n.accounts = accounts })
	waitMetaLeader(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	as := func(i int, user, pass string) jetstream.JetStream {
		_, js := jsConnect(t, nodes[i].url(), nats.UserInfo(user, pass))
		return js
	}
	a1, a2, a3 := as(0, "a", "pa"), as(1, "a", "pa"), as(2, "a", "pa")
	b1, b2, b3 := as(0, "b", "pb"), as(1, "b", "pb"), as(2, "b", "pb")

	for _, js := range []jetstream.JetStream{a1, b2} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Replicas: 3}); err != nil {
			t.Fatal(err)
		}
	}
	publishAcked(t, a2, "orders.a", 0, 3)
	publishAcked(t, b3, "orders.b", 0, 1)
	cons, err := a3.CreateOrUpdateConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := cons.Fetch(3, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for m := range msgs.Messages() {
		if !strings.HasPrefix(m.Subject(), "orders.a.") {
			t.Fatalf("account A's consumer got %s", m.Subject())
		}
		got++
	}
	if got != 3 {
		t.Fatalf("account A's consumer got %d messages", got)
	}
	for i, js := range []jetstream.JetStream{a1, a2, a3, b1, b2, b3} {
		want := uint64(3)
		if i >= 3 {
			want = 1
		}
		s, err := js.Stream(ctx, "ORDERS")
		if err != nil {
			t.Fatal(err)
		}
		info := s.CachedInfo()
		if info.State.Msgs != want || info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
			t.Fatalf("client %d: ORDERS %+v cluster %+v", i, info.State, info.Cluster)
		}
	}
	if err := b1.DeleteStream(ctx, "ORDERS"); err != nil {
		t.Fatal(err)
	}
	for _, js := range []jetstream.JetStream{a1, a2, a3} {
		names := js.StreamNames(ctx)
		if got := collectNames(t, names.Name(), names.Err); !slices.Equal(got, []string{"ORDERS"}) {
			t.Fatalf("account A's streams after B's was deleted: %v", got)
		}
	}
	waitLong(t, "B's stream gone on every server", func() bool {
		for _, n := range nodes {
			if svc := n.layers.account("B"); svc == nil || len(svc.Stats().Streams) != 0 {
				return false
			}
		}
		return true
	})
	if s, err := a2.Stream(ctx, "ORDERS"); err != nil || s.CachedInfo().State.Msgs != 3 {
		t.Fatalf("account A's ORDERS after B's was deleted: %v", err)
	}
}

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/wisp-mq/wisp/server"
)

// TestReplicatedStreamAccountMissingOnOneServer: an R3 stream of account
// A is placed on three servers, and the third is restarted without A in
// its configuration (placement only chooses servers that have the
// account, so this is how a replica comes to be on a server without
// it). The stream runs on the other two; the third says once, at WARN,
// naming the account, the stream and itself, that it cannot hold its
// replica, instead of logging an error every second.
func TestReplicatedStreamAccountMissingOnOneServer(t *testing.T) {
	accounts := []server.AccountConfig{{Name: "A", Users: []server.User{{Username: "a", Password: "pa"}}}}
	logs := make([]*syncBuffer, 3)
	i := 0
	nodes := startStreamClusterOf(t, "am", 3, func(n *streamNode) {
		logs[i] = newSyncBuffer()
		n.logTo = logs[i]
		n.accounts = accounts
		i++
	})
	waitMetaLeader(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, js := jsConnect(t, nodes[0].url(), nats.UserInfo("a", "pa"))
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	publishAcked(t, js, "orders", 0, 2)
	nodes[2].stop()
	nodes[2].accounts = nil
	logs[2] = newSyncBuffer()
	nodes[2].logTo = logs[2]
	nodes[2].start(t)
	waitMetaLeader(t, nodes)
	publishAcked(t, js, "orders", 2, 2)
	// Long enough for the every-second reconcile to have run several times.
	time.Sleep(5 * time.Second)

	out := logs[2].String()
	t.Logf("am3's log:\n%s", out)
	var about []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "ORDERS") {
			about = append(about, l)
		}
	}
	if len(about) != 1 {
		t.Fatalf("am3 logged %d lines about ORDERS in 5s, want 1:\n%s", len(about), strings.Join(about, "\n"))
	}
	l := about[0]
	for _, want := range []string{"level=WARN", "account=A", "server=am3", "stream=ORDERS"} {
		if !strings.Contains(l, want) {
			t.Fatalf("the line lacks %s: %s", want, l)
		}
	}
	for _, b := range logs[:2] {
		if n := strings.Count(b.String(), "ORDERS"); n > 2 {
			t.Fatalf("a server with the account logged %d lines about ORDERS:\n%s", n, b.String())
		}
	}
}

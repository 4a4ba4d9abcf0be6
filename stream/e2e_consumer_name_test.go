package stream_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Consumers created without a name get one from the server; two of them on
// one stream must be two consumers, each receiving every message.
func TestE2EServerNamedConsumersAreDistinct(t *testing.T) {
	n := startNode(t, t.TempDir())
	mkStream(t, n, jetstream.StreamConfig{Name: "SN", Subjects: []string{"sn.*"}}, 0)

	const consumers, msgs = 3, 5
	names := map[string]bool{}
	subs := make([]*nats.Subscription, consumers)
	for i := range subs {
		inbox := fmt.Sprintf("sn-inbox.%d", i)
		sub, err := n.nc.SubscribeSync(inbox)
		if err != nil {
			t.Fatal(err)
		}
		subs[i] = sub
		var r rawInfo
		apiCall(t, n, "CONSUMER.CREATE.SN",
			`{"stream_name":"SN","config":{"deliver_subject":"`+inbox+`","ack_policy":"none"}}`, &r)
		if r.Error != nil || r.Name == "" {
			t.Fatalf("create %d: error %+v name %q", i, r.Error, r.Name)
		}
		if len(r.Name) != 8 || names[r.Name] {
			t.Fatalf("create %d: name %q is not a fresh 8-character name (have %v)", i, r.Name, names)
		}
		names[r.Name] = true
	}

	// The legacy API's AddConsumer without a name uses the same endpoint.
	legacy, err := n.nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	ci, err := legacy.AddConsumer("SN", &nats.ConsumerConfig{AckPolicy: nats.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	if names[ci.Name] {
		t.Fatalf("legacy ephemeral got an existing name %q", ci.Name)
	}
	var list struct {
		Total     int      `json:"total"`
		Consumers []string `json:"consumers"`
	}
	apiCall(t, n, "CONSUMER.NAMES.SN", `{}`, &list)
	if list.Total != consumers+1 {
		t.Fatalf("consumer names %v, want %d consumers", list.Consumers, consumers+1)
	}

	for i := range msgs {
		if _, err := n.js.Publish(ctx(t), "sn.x", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i, sub := range subs {
		for j := range msgs {
			m, err := sub.NextMsg(10 * time.Second)
			if err != nil {
				t.Fatalf("consumer %d: message %d: %v", i, j, err)
			}
			if string(m.Data) != fmt.Sprint(j) {
				t.Fatalf("consumer %d: message %d is %q", i, j, m.Data)
			}
		}
	}
}

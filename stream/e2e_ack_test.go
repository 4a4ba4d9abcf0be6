package stream_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func pullConsumer(t *testing.T, s jetstream.Stream, cfg jetstream.ConsumerConfig) jetstream.Consumer {
	t.Helper()
	c, err := s.CreateOrUpdateConsumer(ctx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func meta(t *testing.T, m jetstream.Msg) *jetstream.MsgMetadata {
	t.Helper()
	md, err := m.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	return md
}

func TestE2ERedeliveryAfterAckWait(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "R", Subjects: []string{"r"}}, 2)
	c := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "D", AckWait: 500 * time.Millisecond})
	start := time.Now()
	got := fetchAll(t, c, 2, time.Second)
	if len(got) != 2 {
		t.Fatalf("got %d", len(got))
	}
	got[1].Ack()
	// Nothing comes back before ack_wait.
	if again := fetchAll(t, c, 1, 250*time.Millisecond); len(again) != 0 && time.Since(start) < 500*time.Millisecond {
		t.Fatalf("redelivered after %v", time.Since(start))
	}
	again := fetchAll(t, c, 1, 2*time.Second)
	if len(again) != 1 {
		t.Fatal("no redelivery")
	}
	if el := time.Since(start); el < 500*time.Millisecond {
		t.Fatalf("redelivered after only %v", el)
	}
	md := meta(t, again[0])
	if md.Sequence.Stream != 1 || md.NumDelivered != 2 || md.Sequence.Consumer != 3 {
		t.Fatalf("redelivery meta %+v", md)
	}
	ci := info(t, c)
	if ci.NumRedelivered != 1 || ci.NumAckPending != 1 || ci.AckFloor.Stream != 0 || ci.Delivered.Consumer != 3 {
		t.Fatalf("info %+v", ci)
	}
	again[0].Ack()
	waitFor(t, func() bool {
		ci := info(t, c)
		return ci.NumAckPending == 0 && ci.AckFloor.Stream == 2 && ci.NumRedelivered == 0
	})
}

func TestE2ENakTermProgress(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "N", Subjects: []string{"n"}}, 3)
	// Margins are wide (1s against fetch windows of 150ms) so that a loaded,
	// race-instrumented machine cannot blur the timings apart.
	c := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "D", AckWait: time.Second})
	terminated := make(chan *nats.Msg, 4)
	sub, _ := n.nc.ChanSubscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.>", terminated)
	defer sub.Unsubscribe()
	got := fetchAll(t, c, 3, time.Second)
	if len(got) != 3 {
		t.Fatalf("got %d", len(got))
	}
	// 1: nak now -> back at once. 2: nak with delay. 3: term.
	got[0].Nak()
	got[1].NakWithDelay(time.Second)
	got[2].Term()
	first := fetchAll(t, c, 3, 150*time.Millisecond)
	if len(first) != 1 || meta(t, first[0]).Sequence.Stream != 1 || meta(t, first[0]).NumDelivered != 2 {
		t.Fatalf("after nak: %d", len(first))
	}
	first[0].Ack()
	delayed := fetchAll(t, c, 1, 3*time.Second)
	if len(delayed) != 1 || meta(t, delayed[0]).Sequence.Stream != 2 {
		for _, m := range delayed {
			t.Logf("%+v", meta(t, m))
		}
		t.Fatalf("nak delay: %d", len(delayed))
	}
	// In progress keeps it alive past ack_wait.
	for i := 0; i < 5; i++ {
		time.Sleep(300 * time.Millisecond)
		if err := delayed[0].InProgress(); err != nil {
			t.Fatal(err)
		}
	}
	if none := fetchAll(t, c, 1, 200*time.Millisecond); len(none) != 0 {
		t.Fatalf("redelivered while in progress: %+v", meta(t, none[0]))
	}
	delayed[0].Ack()
	select {
	case m := <-terminated:
		var adv struct {
			Type      string `json:"type"`
			Stream    string `json:"stream"`
			Consumer  string `json:"consumer"`
			StreamSeq uint64 `json:"stream_seq"`
		}
		json.Unmarshal(m.Data, &adv)
		if adv.StreamSeq != 3 || adv.Consumer != "D" || adv.Type != "io.nats.jetstream.advisory.v1.terminated" {
			t.Fatalf("advisory %s", m.Data)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no terminated advisory")
	}
	waitFor(t, func() bool { ci := info(t, c); return ci.NumAckPending == 0 && ci.AckFloor.Stream == 3 })
}

func TestE2EMaxDeliverAdvisoryAndBackoff(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "M", Subjects: []string{"m"}}, 1)
	adv := make(chan *nats.Msg, 4)
	sub, _ := n.nc.ChanSubscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.M.D", adv)
	defer sub.Unsubscribe()
	c := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "D", MaxDeliver: 3,
		BackOff: []time.Duration{100 * time.Millisecond, 300 * time.Millisecond}})
	if ci := info(t, c); ci.Config.AckWait != 100*time.Millisecond {
		t.Fatalf("ack wait from backoff: %v", ci.Config.AckWait)
	}
	var times []time.Time
	for i := 1; i <= 3; i++ {
		got := fetchAll(t, c, 1, 2*time.Second)
		if len(got) != 1 || meta(t, got[0]).NumDelivered != uint64(i) {
			t.Fatalf("delivery %d: %d", i, len(got))
		}
		times = append(times, time.Now())
	}
	if d := times[2].Sub(times[1]); d < 250*time.Millisecond {
		t.Fatalf("second backoff only %v", d)
	}
	select {
	case m := <-adv:
		var a struct {
			StreamSeq  uint64 `json:"stream_seq"`
			Deliveries uint64 `json:"deliveries"`
		}
		json.Unmarshal(m.Data, &a)
		if a.StreamSeq != 1 || a.Deliveries != 3 {
			t.Fatalf("advisory %s", m.Data)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no max deliveries advisory")
	}
	if got := fetchAll(t, c, 1, 300*time.Millisecond); len(got) != 0 {
		t.Fatal("delivered past max_deliver")
	}
	if ci := info(t, c); ci.NumAckPending != 0 || ci.AckFloor.Stream != 1 {
		t.Fatalf("info %+v", ci)
	}
}

func TestE2EMaxAckPending(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "MAP", Subjects: []string{"m"}}, 5)
	c := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "D", MaxAckPending: 2})
	got := fetchAll(t, c, 5, 300*time.Millisecond)
	if len(got) != 2 {
		t.Fatalf("got %d, want 2", len(got))
	}
	got[0].DoubleAck(ctx(t))
	more := fetchAll(t, c, 5, 300*time.Millisecond)
	if len(more) != 1 || meta(t, more[0]).Sequence.Stream != 3 {
		t.Fatalf("after ack: %d", len(more))
	}
	if ci := info(t, c); ci.NumAckPending != 2 || ci.NumPending != 2 {
		t.Fatalf("info %+v", ci)
	}
}

func TestE2EAckAllAndNone(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "AA", Subjects: []string{"a"}}, 5)
	all := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "ALL", AckPolicy: jetstream.AckAllPolicy})
	got := fetchAll(t, all, 5, time.Second)
	got[3].DoubleAck(ctx(t))
	if ci := info(t, all); ci.NumAckPending != 1 || ci.AckFloor.Stream != 4 {
		t.Fatalf("ack all %+v", ci)
	}
	none := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "NONE", AckPolicy: jetstream.AckNonePolicy})
	if got := fetchAll(t, none, 3, time.Second); len(got) != 3 {
		t.Fatalf("none got %d", len(got))
	}
	if ci := info(t, none); ci.NumAckPending != 0 || ci.AckFloor.Stream != 3 || ci.AckFloor.Consumer != 3 || ci.NumPending != 2 {
		t.Fatalf("ack none %+v", ci)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestE2EDeadLetterRecipe is the recipe in docs/consumers.md: a stream
// capturing the max-deliveries advisories collects the failed messages'
// sequences, and the messages themselves are still in their stream.
func TestE2EDeadLetterRecipe(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := ctx(t)
	orders := mkStream(t, n, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.*"}}, 0)
	dlq, err := n.js.CreateStream(c, jetstream.StreamConfig{Name: "DLQ", Subjects: []string{"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.ORDERS.>"}})
	if err != nil {
		t.Fatal(err)
	}
	n.js.Publish(c, "orders.new", []byte("poison"))
	n.js.Publish(c, "orders.new", []byte("fine"))
	cons := pullConsumer(t, orders, jetstream.ConsumerConfig{Durable: "worker", MaxDeliver: 2, AckWait: 200 * time.Millisecond})
	// Bounds fit for a loaded machine: the loop ends as soon as the
	// advisory is captured.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range fetchAll(t, cons, 10, 300*time.Millisecond) {
			if string(m.Data()) == "poison" {
				m.Nak()
			} else {
				m.Ack()
			}
		}
		if si, err := dlq.Info(ctx(t)); err == nil && si.State.Msgs == 1 {
			break
		}
	}
	adv, err := dlq.GetMsg(ctx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	var a struct {
		Stream     string `json:"stream"`
		Consumer   string `json:"consumer"`
		StreamSeq  uint64 `json:"stream_seq"`
		Deliveries uint64 `json:"deliveries"`
	}
	if err := json.Unmarshal(adv.Data, &a); err != nil || a.Stream != "ORDERS" || a.Consumer != "worker" || a.Deliveries != 2 {
		t.Fatalf("advisory %s", adv.Data)
	}
	failed, err := orders.GetMsg(ctx(t), a.StreamSeq)
	if err != nil || string(failed.Data) != "poison" {
		t.Fatalf("failed message: %v %v", failed, err)
	}
	if ci := info(t, cons); ci.NumAckPending != 0 || ci.AckFloor.Stream != 2 {
		t.Fatalf("consumer moved past it: %+v", ci)
	}
}

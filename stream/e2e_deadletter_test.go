package stream_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/stream"
)

const dlKey = "wisp.dead_letter_subject"

// waitLong is waitFor with a bound fit for a loaded machine under -race.
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not in time", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dlStreamMsgs(t *testing.T, s jetstream.Stream) uint64 {
	t.Helper()
	si, err := s.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return si.State.Msgs
}

// fetchOne fetches one message from cons.
func fetchOne(t *testing.T, cons jetstream.Consumer) jetstream.Msg {
	t.Helper()
	got := fetchAll(t, cons, 1, 10*time.Second)
	if len(got) != 1 {
		t.Fatalf("fetched %d, want 1", len(got))
	}
	return got[0]
}

// TestE2EDeadLetterMaxDeliver: a message delivered max_deliver times
// without an ack is copied to the consumer's dead-letter subject, with
// its headers and the dead-letter headers, before it is passed over: the
// max-deliveries advisory comes after the copy is in the dead-letter
// stream, and the message stays in its own stream.
func TestE2EDeadLetterMaxDeliver(t *testing.T) {
	clock := stream.NewFakeClock(time.Now())
	n := startNodeWith(t, stream.Options{StoreDir: t.TempDir(), Clock: clock})
	orders := mkStream(t, n, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.*"}}, 0)
	dlq := mkStream(t, n, jetstream.StreamConfig{Name: "DLQ", Subjects: []string{"dlq.orders"}}, 0)
	msg := nats.NewMsg("orders.eu")
	msg.Header.Set("X-Trace", "t-1")
	msg.Header.Set("Nats-Msg-Id", "order-1")
	msg.Data = []byte("poison")
	if _, err := n.js.PublishMsg(ctx(t), msg); err != nil {
		t.Fatal(err)
	}
	cons := pullConsumer(t, orders, jetstream.ConsumerConfig{Durable: "billing", MaxDeliver: 2, AckWait: time.Second,
		Metadata: map[string]string{dlKey: "dlq.orders"}})
	adv, err := n.nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.ORDERS.billing")
	if err != nil {
		t.Fatal(err)
	}
	fetchOne(t, cons)
	clock.Advance(time.Second)
	if md := meta(t, fetchOne(t, cons)); md.NumDelivered != 2 {
		t.Fatalf("second delivery %+v", md)
	}
	clock.Advance(time.Second)
	a := nextOn(t, adv)
	// The copy was stored before the advisory went out.
	if got := dlStreamMsgs(t, dlq); got != 1 {
		t.Fatalf("dead-letter stream holds %d at the advisory, want 1 (%s)", got, a.Data)
	}
	dl, err := dlq.GetMsg(ctx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"Wisp-DL-Stream": "ORDERS", "Wisp-DL-Consumer": "billing", "Wisp-DL-Sequence": "1",
		"Wisp-DL-Deliveries": "2", "Wisp-DL-Reason": "max_deliver", "Wisp-DL-Subject": "orders.eu",
		"X-Trace": "t-1", "Nats-Msg-Id": "wisp-dl:ORDERS:billing:1:2",
	} {
		if got := dl.Header.Get(k); got != want {
			t.Errorf("dead letter header %s = %q, want %q (%v)", k, got, want, dl.Header)
		}
	}
	if string(dl.Data) != "poison" || dl.Subject != "dlq.orders" || dl.Header.Get("Wisp-DL-Time") == "" {
		t.Fatalf("dead letter %s %q %v", dl.Subject, dl.Data, dl.Header)
	}
	if ci := info(t, cons); ci.NumAckPending != 0 || ci.AckFloor.Stream != 1 {
		t.Fatalf("consumer after the dead letter %+v", ci)
	}
	if got := dlStreamMsgs(t, orders); got != 1 {
		t.Fatalf("orders holds %d, want the message kept", got)
	}
}

// TestE2EDeadLetterTerm: AckTerm with a reason copies the message with
// the reason, then applies the term: on a workqueue stream the message
// is removed only after the copy is stored.
func TestE2EDeadLetterTerm(t *testing.T) {
	n := startNode(t, t.TempDir())
	orders := mkStream(t, n, jetstream.StreamConfig{Name: "WQ", Subjects: []string{"wq.*"}, Retention: jetstream.WorkQueuePolicy}, 0)
	dlq := mkStream(t, n, jetstream.StreamConfig{Name: "DLQ", Subjects: []string{"dlq.>"}}, 0)
	if _, err := n.js.Publish(ctx(t), "wq.a", []byte("bad")); err != nil {
		t.Fatal(err)
	}
	cons := pullConsumer(t, orders, jetstream.ConsumerConfig{Durable: "w", AckPolicy: jetstream.AckExplicitPolicy,
		Metadata: map[string]string{dlKey: "dlq.wq"}})
	adv, err := n.nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.WQ.w")
	if err != nil {
		t.Fatal(err)
	}
	if err := fetchOne(t, cons).TermWithReason("unknown customer\r\nx"); err != nil {
		t.Fatal(err)
	}
	var a struct {
		StreamSeq uint64 `json:"stream_seq"`
		Reason    string `json:"reason"`
	}
	if err := json.Unmarshal(nextOn(t, adv).Data, &a); err != nil || a.StreamSeq != 1 {
		t.Fatalf("terminated advisory %+v %v", a, err)
	}
	if got := dlStreamMsgs(t, dlq); got != 1 {
		t.Fatalf("dead-letter stream holds %d at the advisory, want 1", got)
	}
	dl, err := dlq.GetMsg(ctx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	if dl.Header.Get("Wisp-DL-Reason") != "terminated" || dl.Header.Get("Wisp-DL-Term-Reason") != "unknown customer  x" ||
		dl.Header.Get("Wisp-DL-Deliveries") != "1" || string(dl.Data) != "bad" {
		t.Fatalf("dead letter %v %q", dl.Header, dl.Data)
	}
	waitLong(t, "workqueue removal", func() bool { return dlStreamMsgs(t, orders) == 0 })
	if ci := info(t, cons); ci.NumAckPending != 0 {
		t.Fatalf("consumer after term %+v", ci)
	}
}

// TestE2EDeadLetterWaitsForItsStream: while nothing stores the copy the
// message stays pending on its consumer, across a restart; once a stream
// captures the dead-letter subject it is copied and given up, once.
func TestE2EDeadLetterWaitsForItsStream(t *testing.T) {
	dir := t.TempDir()
	clock := stream.NewFakeClock(time.Now())
	n := startNodeWith(t, stream.Options{StoreDir: dir, Clock: clock})
	orders := mkStream(t, n, jetstream.StreamConfig{Name: "ORD", Subjects: []string{"ord"}}, 1)
	cons := pullConsumer(t, orders, jetstream.ConsumerConfig{Durable: "d", MaxDeliver: 1, AckWait: time.Second,
		Metadata: map[string]string{dlKey: "dlq.ord"}})
	fetchOne(t, cons)
	adv, err := n.nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.ORD.d")
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if m, err := adv.NextMsg(300 * time.Millisecond); err == nil {
		t.Fatalf("passed over with no dead-letter stream: %s", m.Data)
	}
	if ci := info(t, cons); ci.NumAckPending != 1 {
		t.Fatalf("message left the consumer without its copy: %+v", ci)
	}
	n.stop()

	clock = stream.NewFakeClock(time.Now())
	n = startNodeWith(t, stream.Options{StoreDir: dir, Clock: clock})
	adv, err = n.nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.ORD.d")
	if err != nil {
		t.Fatal(err)
	}
	dlq := mkStream(t, n, jetstream.StreamConfig{Name: "DLQ", Subjects: []string{"dlq.>"}}, 0)
	clock.Advance(time.Second) // its ack_wait, counted from its delivery, ran out
	nextOn(t, adv)
	if got := dlStreamMsgs(t, dlq); got != 1 {
		t.Fatalf("dead-letter stream holds %d, want 1", got)
	}
	s, err := n.js.Stream(ctx(t), "ORD")
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Consumer(ctx(t), "d")
	if err != nil {
		t.Fatal(err)
	}
	if ci := info(t, c); ci.NumAckPending != 0 || ci.AckFloor.Stream != 1 {
		t.Fatalf("consumer after the dead letter %+v", ci)
	}
}

// TestE2EDeadLetterConfig: a dead-letter subject must be a literal
// subject outside the stream and the JetStream API, on a consumer that
// acknowledges.
func TestE2EDeadLetterConfig(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "DC", Subjects: []string{"dc.>"}}, 0)
	for _, cfg := range []jetstream.ConsumerConfig{
		{Metadata: map[string]string{dlKey: "dlq.*"}},
		{Metadata: map[string]string{dlKey: "bad subject"}},
		{Metadata: map[string]string{dlKey: "dc.dead"}},
		{Metadata: map[string]string{dlKey: "$JS.API.STREAM.DELETE.DC"}},
		{Metadata: map[string]string{dlKey: "dlq.dc"}, AckPolicy: jetstream.AckNonePolicy},
	} {
		if _, err := s.CreateConsumer(ctx(t), cfg); apiErrCode(err) != 10012 {
			t.Errorf("%v: %v, want 10012", cfg.Metadata, err)
		}
	}
	if _, err := s.CreateConsumer(ctx(t), jetstream.ConsumerConfig{Metadata: map[string]string{dlKey: "dlq.dc"}}); err != nil {
		t.Fatal(err)
	}
}

package main

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A replicated consumer's redelivery decisions (a delivery's deadline, a
// nak's delay, a backoff step, max_deliver, a dead-letter hold) and its
// last-per-subject starts are part of the state every replica holds:
// after the stream's leader changes, or every server restarts, the
// consumer redelivers nothing early, nothing it gave up on, and starts
// nothing twice or never.

// fetchSome fetches up to n messages of consumer D of stream name,
// waiting up to wait; nil when no leader answers.
func fetchSome(t *testing.T, js jetstream.JetStream, name string, n int, wait time.Duration) []jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, name, "D")
	if err != nil {
		return nil
	}
	batch, err := c.Fetch(n, jetstream.FetchMaxWait(wait))
	if err != nil {
		return nil
	}
	var out []jetstream.Msg
	for m := range batch.Messages() {
		out = append(out, m)
	}
	return out
}

// restartAll stops every server of the cluster, then starts them again
// on their stores, and waits for a meta leader.
func restartAll(t *testing.T, nodes []*streamNode) {
	t.Helper()
	for _, n := range nodes {
		n.stop()
	}
	for _, n := range nodes {
		n.start(t)
	}
	waitMetaLeader(t, nodes)
}

// stepDown makes stream name's leader hand over to another server.
func stepDown(t *testing.T, nodes []*streamNode, name string) {
	t.Helper()
	nc, js := jsConnect(t, nodes[0].url())
	var leader string
	waitLong(t, "a stream leader", func() bool { leader = streamLeader(nodes, js, name); return leader != "" })
	consumerStepDown(t, nodes, nc, js, name, leader)
}

// consumerInfo is consumer D of stream name as its leader reports it.
func consumerInfo(t *testing.T, js jetstream.JetStream, name string) *jetstream.ConsumerInfo {
	t.Helper()
	var ci *jetstream.ConsumerInfo
	waitLong(t, "consumer info", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		c, err := js.Consumer(ctx, name, "D")
		if err != nil {
			return false
		}
		ci, err = c.Info(ctx)
		return err == nil
	})
	return ci
}

// expectNothing fetches for about d and fails on any message.
func expectNothing(t *testing.T, js jetstream.JetStream, name, why string, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); {
		for _, m := range fetchSome(t, js, name, 1, 2*time.Second) {
			md, _ := m.Metadata()
			t.Fatalf("%s: message %d delivered (delivery %d)", why, md.Sequence.Stream, md.NumDelivered)
		}
	}
}

// TestReplicatedConsumerMaxDeliverFailover: a message delivered
// max_deliver times without an ack is given up (its MAX_DELIVERIES
// advisory sent) and never delivered again: not after the stream's
// leader steps down, not after every server restarts; and every
// replica holds the consumer alike.
func TestReplicatedConsumerMaxDeliverFailover(t *testing.T) {
	nodes, nc, js, ctx := timingCluster(t, "md")
	const name = "MDF"
	s := createR3(ctx, t, js, name, "mdf.>")
	publishAcked(t, js, "mdf", 1, 2)
	if _, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "D",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Second, MaxDeliver: 2}); err != nil {
		t.Fatal(err)
	}
	adv, err := nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + name + ".D")
	if err != nil {
		t.Fatal(err)
	}
	// Message 2 is acknowledged; message 1 never is.
	deliveries := 0
	deadline := time.Now().Add(60 * time.Second)
	for deliveries < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("message 1 delivered %d times", deliveries)
		}
		for _, m := range fetchSome(t, js, name, 2, 3*time.Second) {
			md, _ := m.Metadata()
			if md.Sequence.Stream == 2 {
				if err := m.DoubleAck(ctx); err != nil {
					t.Fatalf("ack: %v", err)
				}
				continue
			}
			deliveries++
			if md.NumDelivered != uint64(deliveries) {
				t.Fatalf("delivery %d of message 1 says %d", deliveries, md.NumDelivered)
			}
		}
	}
	if _, err := adv.NextMsg(30 * time.Second); err != nil {
		t.Fatalf("no max deliveries advisory: %v", err)
	}
	expectNothing(t, js, name, "after max_deliver", 3*time.Second)
	stepDown(t, nodes, name)
	expectNothing(t, js, name, "after max_deliver and a leader change", 4*time.Second)
	waitReplicaConsumersAlike(t, nodes, name, "D")
	restartAll(t, nodes)
	_, rjs := jsConnect(t, nodes[1].url())
	expectNothing(t, rjs, name, "after max_deliver and a restart", 4*time.Second)
	ci := consumerInfo(t, rjs, name)
	if ci.NumAckPending != 0 || ci.NumRedelivered != 0 || ci.AckFloor.Stream != 2 || ci.Delivered.Stream != 2 {
		t.Fatalf("consumer after max_deliver: ack pending %d, redelivered %d, ack floor %d, delivered %d",
			ci.NumAckPending, ci.NumRedelivered, ci.AckFloor.Stream, ci.Delivered.Stream)
	}
	waitReplicaConsumersAlike(t, nodes, name, "D")
}

// TestReplicatedConsumerNakDelayFailover: a message nak'd with a delay
// far beyond its ack_wait is not redelivered before the delay ran out,
// though the stream's leader steps down and then every server restarts
// meanwhile; it is redelivered after.
func TestReplicatedConsumerNakDelayFailover(t *testing.T) {
	nodes, _, js, ctx := timingCluster(t, "nd")
	const name, delay = "NAKD", 25 * time.Second
	s := createR3(ctx, t, js, name, "nakd.>")
	publishAcked(t, js, "nakd", 1, 1)
	if _, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "D",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.Msg
	waitLong(t, "the first delivery", func() bool { msgs = fetchSome(t, js, name, 1, 3*time.Second); return len(msgs) == 1 })
	// The nak's deadline is decided when the leader hears it, which is
	// after this.
	nakAt := time.Now()
	if err := msgs[0].NakWithDelay(delay); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // for the nak to commit: nothing answers it
	stepDown(t, nodes, name)
	expectNothing(t, js, name, "nak'd with a delay, after a leader change", 4*time.Second)
	restartAll(t, nodes)
	_, rjs := jsConnect(t, nodes[2].url())
	var got jetstream.Msg
	waitLong(t, "the redelivery", func() bool {
		for _, m := range fetchSome(t, rjs, name, 1, 2*time.Second) {
			if time.Since(nakAt) < delay {
				md, _ := m.Metadata()
				t.Fatalf("redelivered %v after a nak with a delay of %v (delivery %d)", time.Since(nakAt), delay, md.NumDelivered)
			}
			got = m
		}
		return got != nil
	})
	if md, _ := got.Metadata(); md.NumDelivered != 2 {
		t.Fatalf("redelivery counts %d deliveries", md.NumDelivered)
	}
	if err := got.DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}
	waitReplicaConsumersAlike(t, nodes, name, "D")
}

// TestReplicatedConsumerBackoffFailover: each redelivery waits for its
// backoff step, counted from the delivery before it, across a leader
// change; after max_deliver nothing more comes.
func TestReplicatedConsumerBackoffFailover(t *testing.T) {
	nodes, _, js, ctx := timingCluster(t, "bo")
	const name = "BOFF"
	backoff := []time.Duration{time.Second, 8 * time.Second}
	s := createR3(ctx, t, js, name, "boff.>")
	publishAcked(t, js, "boff", 1, 1)
	if _, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "D",
		AckPolicy: jetstream.AckExplicitPolicy, BackOff: backoff, MaxDeliver: 3}); err != nil {
		t.Fatal(err)
	}
	// asked[i] is when the fetch that got delivery i+1 began: the
	// delivery, and so the deadline after it, is no earlier.
	var asked []time.Time
	deliver := func(count int, js jetstream.JetStream) {
		t.Helper()
		waitLong(t, "a delivery", func() bool {
			start := time.Now()
			for _, m := range fetchSome(t, js, name, 1, 2*time.Second) {
				md, _ := m.Metadata()
				if int(md.NumDelivered) != count {
					t.Fatalf("delivery %d counts %d", count, md.NumDelivered)
				}
				if count > 1 {
					if early := asked[count-2].Add(backoff[count-2]); start.Before(early) && time.Now().Before(early) {
						t.Fatalf("delivery %d came %v before its backoff ran out", count, early.Sub(time.Now()))
					}
				}
				asked = append(asked, start)
				return true
			}
			return false
		})
	}
	deliver(1, js)
	deliver(2, js)
	stepDown(t, nodes, name)
	_, ojs := jsConnect(t, nodes[1].url())
	deliver(3, ojs)
	expectNothing(t, ojs, name, "after max_deliver", 4*time.Second)
	stepDown(t, nodes, name)
	expectNothing(t, ojs, name, "after max_deliver and a leader change", 4*time.Second)
	waitReplicaConsumersAlike(t, nodes, name, "D")
}

// TestReplicatedConsumerLastPerSubjectFailover: a deliver_last_per_subject
// consumer delivers each subject's last message once, through a leader
// change and a restart of every server between its deliveries, then
// what is published after.
func TestReplicatedConsumerLastPerSubjectFailover(t *testing.T) {
	nodes, _, js, ctx := timingCluster(t, "lp")
	const name = "LPS"
	s := createR3(ctx, t, js, name, "lps.>")
	for _, subj := range []string{"lps.a", "lps.b", "lps.a", "lps.c", "lps.b", "lps.d", "lps.c"} {
		if _, err := js.Publish(ctx, subj, nil); err != nil {
			t.Fatal(err)
		}
	}
	// The last of each subject: a 3, b 5, d 6, c 7.
	if _, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "D", FilterSubject: "lps.>",
		DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: time.Minute}); err != nil {
		t.Fatal(err)
	}
	var got []uint64
	take := func(js jetstream.JetStream, n int) {
		t.Helper()
		want := len(got) + n
		waitLong(t, "deliveries", func() bool {
			for _, m := range fetchSome(t, js, name, want-len(got), 2*time.Second) {
				md, _ := m.Metadata()
				got = append(got, md.Sequence.Stream)
				if err := m.DoubleAck(ctx); err != nil {
					t.Fatalf("ack %d: %v", md.Sequence.Stream, err)
				}
			}
			return len(got) >= want
		})
	}
	take(js, 1)
	stepDown(t, nodes, name)
	_, ojs := jsConnect(t, nodes[1].url())
	take(ojs, 1)
	restartAll(t, nodes)
	_, rjs := jsConnect(t, nodes[2].url())
	take(rjs, 2)
	expectNothing(t, rjs, name, "after the last-per-subject starts", 3*time.Second)
	if _, err := rjs.Publish(ctx, "lps.e", nil); err != nil {
		t.Fatal(err)
	}
	take(rjs, 1)
	want := []uint64{3, 5, 6, 7, 8}
	if len(got) != len(want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delivered %v, want %v", got, want)
		}
	}
	waitReplicaConsumersAlike(t, nodes, name, "D")
}

// TestReplicatedConsumerDeadLetterFailover: a message held at
// max_deliver for its dead-letter copy while no stream stores the copy
// is copied and given up by the leader after a leader change, once a
// stream captures the dead-letter subject: it does not stay pending
// forever, and is copied once.
func TestReplicatedConsumerDeadLetterFailover(t *testing.T) {
	nodes, _, js, ctx := timingCluster(t, "dl")
	const name = "DLF"
	s := createR3(ctx, t, js, name, "dlf.>")
	publishAcked(t, js, "dlf", 1, 1)
	if _, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "D",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Second, MaxDeliver: 1,
		Metadata: map[string]string{"wisp.dead_letter_subject": "dlq.dlf"}}); err != nil {
		t.Fatal(err)
	}
	waitLong(t, "the delivery", func() bool { return len(fetchSome(t, js, name, 1, 2*time.Second)) == 1 })
	expectNothing(t, js, name, "held for its dead letter", 3*time.Second)
	if ci := consumerInfo(t, js, name); ci.NumAckPending != 1 {
		t.Fatalf("the held message left the consumer without its copy: ack pending %d", ci.NumAckPending)
	}
	stepDown(t, nodes, name)
	dlq, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "DLQ", Subjects: []string{"dlq.>"}, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		ci := consumerInfo(t, js, name)
		info, err := dlq.Info(ctx)
		if err == nil && info.State.Msgs == 1 && ci.NumAckPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the leader change: ack pending %d, dead letters %v %v", ci.NumAckPending, info, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	expectNothing(t, js, name, "after its dead letter", 3*time.Second)
	if info, err := dlq.Info(ctx); err != nil || info.State.Msgs != 1 {
		t.Fatalf("dead-letter stream: %v %v", info, err)
	}
	waitReplicaConsumersAlike(t, nodes, name, "D")
}

// TestReplicatedConsumerDeadLetterOtherLeader: the dead-letter stream's
// leader is another server than the consumer's: its PubAck for the copy
// reaches the consumer's leader across the cluster, and the message is
// given up there, not held forever.
func TestReplicatedConsumerDeadLetterOtherLeader(t *testing.T) {
	nodes, nc, js, ctx := timingCluster(t, "do")
	const name, dlName = "DLO", "DLQO"
	s := createR3(ctx, t, js, name, "dlo.>")
	dlq := createR3(ctx, t, js, dlName, "dlqo.>")
	waitLong(t, "the two streams led by different servers", func() bool {
		a, b := streamLeader(nodes, js, name), streamLeader(nodes, js, dlName)
		if a != "" && b != "" && a != b {
			return true
		}
		_, _ = nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+dlName, nil, 5*time.Second)
		time.Sleep(300 * time.Millisecond)
		return false
	})
	publishAcked(t, js, "dlo", 1, 1)
	if _, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "D",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Second, MaxDeliver: 1,
		Metadata: map[string]string{"wisp.dead_letter_subject": "dlqo.dlo"}}); err != nil {
		t.Fatal(err)
	}
	waitLong(t, "the delivery", func() bool { return len(fetchSome(t, js, name, 1, 2*time.Second)) == 1 })
	deadline := time.Now().Add(30 * time.Second)
	for {
		ci := consumerInfo(t, js, name)
		info, err := dlq.Info(ctx)
		if err == nil && info.State.Msgs == 1 && ci.NumAckPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			var msgs uint64
			if info != nil {
				msgs = info.State.Msgs
			}
			t.Fatalf("ack pending %d, dead letters %d (%v)", ci.NumAckPending, msgs, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitReplicaConsumersAlike(t, nodes, name, "D")
}

// TestReplicatedConsumerNakDelayFromSnapshot: a replica that was down
// while a message was nak'd with a delay catches up from a snapshot (the
// log it missed is compacted away), then leads: it holds the nak's
// deadline as the others do and does not redeliver before it.
func TestReplicatedConsumerNakDelayFromSnapshot(t *testing.T) {
	nodes := startStreamClusterWith(t, "ns", 3, 32)
	waitMetaLeader(t, nodes)
	// Every server's URL: the test stops one, maybe this client's.
	_, js := jsConnect(t, nodes[0].url()+","+nodes[1].url()+","+nodes[2].url())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
	defer cancel()
	const name, delay = "NKS", 45 * time.Second
	s := createR3(ctx, t, js, name, "nks.>")
	if _, err := js.Publish(ctx, "nks.first", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "D", FilterSubject: "nks.first",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	leader := streamLeader(nodes, js, name)
	var away *streamNode
	for _, n := range nodes {
		if n.name != leader && leader != "" {
			away = n
			break
		}
	}
	if away == nil {
		t.Fatal("no stream leader")
	}
	away.stop()
	var msgs []jetstream.Msg
	waitLong(t, "the first delivery", func() bool { msgs = fetchSome(t, js, name, 1, 3*time.Second); return len(msgs) == 1 })
	nakAt := time.Now()
	if err := msgs[0].NakWithDelay(delay); err != nil {
		t.Fatal(err)
	}
	// Enough entries after the nak that the log the stopped replica
	// missed is compacted: it catches up from a snapshot.
	publishAcked(t, js, "nks.fill", 0, 200)
	away.start(t)
	waitLong(t, "the replica caught up", func() bool {
		for _, st := range away.layers.global().Stats().Streams {
			if st.Name == name {
				return st.Messages == 201
			}
		}
		return false
	})
	waitLong(t, "the caught-up replica leads", func() bool {
		l := streamLeader(nodes, js, name)
		if l == away.name {
			return true
		}
		if l != "" {
			nodeNamed(nodes, l).node.StepDown(ctx, 2)
		}
		return false
	})
	var got jetstream.Msg
	waitLong(t, "the redelivery", func() bool {
		for _, m := range fetchSome(t, js, name, 1, 2*time.Second) {
			if time.Since(nakAt) < delay {
				md, _ := m.Metadata()
				t.Fatalf("redelivered %v after a nak with a delay of %v (delivery %d)", time.Since(nakAt), delay, md.NumDelivered)
			}
			got = m
		}
		return got != nil
	})
	if err := got.DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}
	waitReplicaConsumersAlike(t, nodes, name, "D")
}

// timingCluster starts the three servers of a consumer timing test and
// connects to the first; the context bounds the test.
func timingCluster(t *testing.T, prefix string) ([]*streamNode, *nats.Conn, jetstream.JetStream, context.Context) {
	t.Helper()
	nodes := startStreamCluster(t, prefix, 3)
	waitMetaLeader(t, nodes)
	nc, js := jsConnect(t, nodes[0].url())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
	t.Cleanup(cancel)
	return nodes, nc, js, ctx
}

// createR3 creates a three-replica stream of subject.
func createR3(ctx context.Context, t *testing.T, js jetstream.JetStream, name, subject string) jetstream.Stream {
	t.Helper()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

package stream_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestE2EConsumeLive(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "CL", Subjects: []string{"cl.*"}}, 50)
	c := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "D"})
	var mu sync.Mutex
	seen := map[uint64]bool{}
	done := make(chan struct{})
	cc, err := c.Consume(func(m jetstream.Msg) {
		md := meta(t, m)
		m.Ack()
		mu.Lock()
		seen[md.Sequence.Stream] = true
		if len(seen) == 150 {
			close(done)
		}
		mu.Unlock()
	}, jetstream.PullMaxMessages(20), jetstream.PullExpiry(2*time.Second), jetstream.PullHeartbeat(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()
	// Live messages arrive while Consume runs, including across request
	// expiries and heartbeats.
	for i := 0; i < 100; i++ {
		if _, err := n.js.Publish(ctx(t), fmt.Sprintf("cl.%d", i%4), []byte("live")); err != nil {
			t.Fatal(err)
		}
		if i == 50 {
			time.Sleep(2500 * time.Millisecond)
		}
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("consumed %d of 150", len(seen))
	}
	waitFor(t, func() bool {
		ci := info(t, c)
		return ci.NumAckPending == 0 && ci.AckFloor.Stream == 150 && ci.NumPending == 0
	})
}

func TestE2EMessagesIterator(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "IT", Subjects: []string{"it"}}, 30)
	c := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "D"})
	it, err := c.Messages(jetstream.PullMaxMessages(7))
	if err != nil {
		t.Fatal(err)
	}
	defer it.Stop()
	for i := 1; i <= 30; i++ {
		m, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if md := meta(t, m); md.Sequence.Stream != uint64(i) {
			t.Fatalf("got %d want %d", md.Sequence.Stream, i)
		}
		m.Ack()
	}
}

func TestE2EOrderedConsumer(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "ORD", Subjects: []string{"o.*"}}, 300)
	oc, err := s.OrderedConsumer(ctx(t), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	b, err := oc.Fetch(300, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range b.Messages() {
		got++
		if md := meta(t, m); md.Sequence.Stream != uint64(got) {
			t.Fatalf("out of order: %d at %d", md.Sequence.Stream, got)
		}
	}
	if got != 300 {
		t.Fatalf("fetched %d", got)
	}
	// And with Consume, the same 300 in order from a fresh ordered consumer.
	oc2, err := s.OrderedConsumer(ctx(t), jetstream.OrderedConsumerConfig{FilterSubjects: []string{"o.1"}})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan uint64, 300)
	cc, err := oc2.Consume(func(m jetstream.Msg) { ch <- meta(t, m).Sequence.Stream })
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()
	last := uint64(0)
	for i := 0; i < 100; i++ {
		select {
		case seq := <-ch:
			if seq <= last || seq%3 != 2 {
				t.Fatalf("seq %d after %d", seq, last)
			}
			last = seq
		case <-time.After(5 * time.Second):
			t.Fatalf("ordered consume stalled after %d", i)
		}
	}
}

func TestE2ELegacyPushDurable(t *testing.T) {
	n := startNode(t, t.TempDir())
	mkStream(t, n, jetstream.StreamConfig{Name: "LP", Subjects: []string{"lp.>"}}, 10)
	js, err := n.nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *nats.Msg, 100)
	sub, err := js.ChanSubscribe("lp.>", got, nats.Durable("DUR"), nats.ManualAck(), nats.AckWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		select {
		case m := <-got:
			md, _ := m.Metadata()
			if md.Sequence.Stream != uint64(i) || m.Subject != "lp.>"[:3]+"x" && m.Subject == "" {
				t.Fatalf("got %+v", md)
			}
			if i != 3 {
				m.Ack()
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("push delivery stalled at %d", i)
		}
	}
	// 3 was not acked: it comes back after ack_wait with count 2.
	select {
	case m := <-got:
		md, _ := m.Metadata()
		if md.Sequence.Stream != 3 || md.NumDelivered != 2 {
			t.Fatalf("redelivery %+v", md)
		}
		m.AckSync()
	case <-time.After(3 * time.Second):
		t.Fatal("no push redelivery")
	}
	ci, err := sub.ConsumerInfo()
	if err != nil {
		t.Fatal(err)
	}
	if ci.NumAckPending != 0 || ci.AckFloor.Stream != 10 || !ci.PushBound {
		t.Fatalf("info %+v", ci)
	}
	// Published after the subscription: pushed live.
	js.Publish("lp.live", []byte("x"))
	select {
	case m := <-got:
		if m.Subject != "lp.live" {
			t.Fatalf("subject %q", m.Subject)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no live push")
	}
}

func TestE2EPushConsumerHeartbeatQueue(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "PC", Subjects: []string{"pc"}}, 20)
	pc, err := s.CreateOrUpdatePushConsumer(ctx(t), jetstream.ConsumerConfig{
		Durable: "P", DeliverSubject: "deliver.pc", DeliverGroup: "workers",
		IdleHeartbeat: 200 * time.Millisecond, FlowControl: true, AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	count := 0
	var errs []error
	cc, err := pc.Consume(func(m jetstream.Msg) {
		mu.Lock()
		count++
		mu.Unlock()
		m.Ack()
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return count == 20 })
	time.Sleep(700 * time.Millisecond) // idle: heartbeats keep the client happy
	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 {
		t.Fatalf("consume errors: %v", errs)
	}
}

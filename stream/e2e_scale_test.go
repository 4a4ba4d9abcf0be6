package stream_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/wisp-mq/wisp/stream"
)

// TestE2EManyPendingTimers: 100,000 delivered, unacknowledged messages
// with one ack_wait each are redelivered on time without a goroutine or
// timer per message, and the consumer's counts stay exact.
func TestE2EManyPendingTimers(t *testing.T) {
	const total = 100_000
	// The stream layer runs on a fake clock: ack_wait passes when the test
	// says so, so "not before ack_wait" is exact and nothing sleeps.
	clock := stream.NewFakeClock(time.Now())
	n := startNodeWith(t, stream.Options{StoreDir: t.TempDir(), Clock: clock})
	s, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "BIG", Subjects: []string{"big"}})
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("x")
	pubStart := time.Now()
	for i := 0; i < total; i++ {
		if _, err := n.js.PublishAsync("big", payload); err != nil {
			t.Fatal(err)
		}
		if i%2000 == 1999 {
			select {
			case <-n.js.PublishAsyncComplete():
			case <-time.After(30 * time.Second):
				t.Fatal("publish stalled")
			}
		}
	}
	t.Logf("published %d in %v", total, time.Since(pubStart))
	const ackWait = 30 * time.Second
	c := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "D", AckWait: ackWait, MaxAckPending: -1})
	goroutines := runtime.NumGoroutine()
	// A raw pull request and subscription: the jetstream client's per
	// message work would dominate the test under the race detector.
	fetch := func(want int, count uint64, ack bool) time.Duration {
		start := time.Now()
		inbox := nats.NewInbox()
		sub, err := n.nc.SubscribeSync(inbox)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		sub.SetPendingLimits(-1, -1)
		req := fmt.Sprintf(`{"batch":%d,"expires":%d}`, want, 60*time.Second)
		if err := n.nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT.BIG.D", inbox, []byte(req)); err != nil {
			t.Fatal(err)
		}
		want1 := fmt.Sprintf("$JS.ACK.BIG.D.%d.", count)
		for got := 0; got < want; got++ {
			m, err := sub.NextMsg(10 * time.Second)
			if err != nil {
				t.Fatalf("got %d of %d: %v", got, want, err)
			}
			if !strings.HasPrefix(m.Reply, want1) {
				t.Fatalf("message %d: reply %q, want delivery count %d", got, m.Reply, count)
			}
			if ack {
				n.nc.Publish(m.Reply, []byte("+ACK"))
			}
		}
		return time.Since(start)
	}
	took := fetch(total, 1, false)
	t.Logf("first delivery took %v", took)
	ci := info(t, c)
	if ci.NumAckPending != total || ci.NumPending != 0 || ci.NumRedelivered != 0 {
		t.Fatalf("after first delivery %+v", ci)
	}
	if g := runtime.NumGoroutine(); g > goroutines+50 {
		t.Fatalf("goroutines grew from %d to %d", goroutines, g)
	}
	// None come back a moment before ack_wait.
	clock.Advance(ackWait - time.Millisecond)
	b, _ := c.FetchNoWait(10)
	for m := range b.Messages() {
		t.Fatalf("redelivered early: %+v", meta(t, m))
	}
	clock.Advance(time.Millisecond)
	t.Logf("redelivery took %v", fetch(total, 2, true))
	// Each redelivery was acked as it arrived, so none came a third time.
	// The info request queues behind 100,000 acks: under the race detector
	// on a loaded machine that takes far longer than the usual bounds.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		c2, cancel := context.WithTimeout(context.Background(), time.Minute)
		ci, err = c.Info(c2)
		cancel()
		if err == nil && ci.NumAckPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("acks not applied in time: %+v %v", ci, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ci.AckFloor.Stream != total || ci.Delivered.Consumer != 2*total || ci.NumPending != 0 || ci.NumRedelivered != 0 {
		t.Fatalf("after redelivery %+v", ci)
	}
}

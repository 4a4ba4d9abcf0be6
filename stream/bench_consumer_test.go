package stream_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/stream/store"
)

// Consumer benchmarks: b.N messages of 128 bytes are stored first (not
// timed), then consumed by a durable pull consumer with explicit acks.
// The clock stops when the last message arrived and the consumer reports
// every ack processed (num_ack_pending 0). STREAM_BENCH_URL runs the same
// against another server (see bench_test.go).

func consumeSetup(b *testing.B, mode store.SyncMode) (*node, jetstream.Consumer) {
	n := benchNode(b, mode, jetstream.FileStorage)
	for i := 0; i < b.N; i++ {
		if _, err := n.js.PublishAsync("b", payload, jetstream.WithStallWait(10*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-n.js.PublishAsyncComplete():
	case <-time.After(120 * time.Second):
		b.Fatal("publish acks did not arrive")
	}
	c, err := n.js.CreateOrUpdateConsumer(ctx(b), "B", jetstream.ConsumerConfig{
		Durable: "bench", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: -1,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	return n, c
}

// waitAcked waits until the consumer has processed every ack.
func waitAcked(b *testing.B, c jetstream.Consumer) {
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Millisecond) {
		ci, err := c.Info(ctx(b))
		if err == nil && ci.NumAckPending == 0 && ci.AckFloor.Stream >= uint64(b.N) {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("acks not processed: %+v %v", ci, err)
		}
	}
}

// benchFetch500 fetches 500 at a time and acks each message. The last
// fetch asks only for what is left, so a small b.N does not wait out the
// fetch's expiry.
func benchFetch500(b *testing.B, mode store.SyncMode) {
	_, c := consumeSetup(b, mode)
	b.ResetTimer()
	for got := 0; got < b.N; {
		batch, err := c.Fetch(min(500, b.N-got), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			b.Fatal(err)
		}
		for m := range batch.Messages() {
			m.Ack()
			got++
		}
		if batch.Error() != nil {
			b.Fatal(batch.Error())
		}
	}
	waitAcked(b, c)
}

// benchConsume uses Consume (default 500-message buffer) and acks each
// message in the callback.
func benchConsume(b *testing.B, mode store.SyncMode) {
	_, c := consumeSetup(b, mode)
	done := make(chan struct{})
	got := 0
	b.ResetTimer()
	cc, err := c.Consume(func(m jetstream.Msg) {
		m.Ack()
		got++
		if got == b.N {
			close(done)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Stop()
	select {
	case <-done:
	case <-time.After(120 * time.Second):
		b.Fatal("consume stalled")
	}
	waitAcked(b, c)
}

func BenchmarkConsumeFetch500FileAlways(b *testing.B)   { benchFetch500(b, store.SyncAlways) }
func BenchmarkConsumeFetch500FileInterval(b *testing.B) { benchFetch500(b, store.SyncInterval) }
func BenchmarkConsumeCallbackFileAlways(b *testing.B)   { benchConsume(b, store.SyncAlways) }
func BenchmarkConsumeCallbackFileInterval(b *testing.B) { benchConsume(b, store.SyncInterval) }

// BenchmarkPublishAsyncWhileConsuming is BenchmarkPublishAsync4kFileAlways
// with a consumer acking every message as it is stored: the acks ride the
// publishes' group commits, so publishing should not slow by half.
func BenchmarkPublishAsyncWhileConsuming(b *testing.B) {
	n := benchNode(b, store.SyncAlways, jetstream.FileStorage)
	c, err := n.js.CreateOrUpdateConsumer(ctx(b), "B", jetstream.ConsumerConfig{
		Durable: "live", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: -1,
	})
	if err != nil {
		b.Fatal(err)
	}
	cc, err := c.Consume(func(m jetstream.Msg) { m.Ack() })
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Stop()
	publishAsyncTimed(b, n)
}

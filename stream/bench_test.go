package stream_test

import (
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/stream"
	"github.com/wisp-mq/wisp/stream/store"
)

// The benchmarks run the whole path a client sees: nats.go over TCP to a
// real server, the stream layer, Pebble on a temp dir. Payload 128 bytes.

var payload = make([]byte, 128)

func benchNode(b *testing.B, mode store.SyncMode, storage jetstream.StorageType) *node {
	var n *node
	if url := os.Getenv("STREAM_BENCH_URL"); url != "" {
		// Compare with another server (nats-server -js) on the same machine;
		// its own sync setting applies.
		nc, err := nats.Connect(url)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		js, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4000))
		_ = js.DeleteStream(ctx(b), "B")
		n = &node{t: b, nc: nc, js: js}
	} else {
		n = startNodeWith(b, stream.Options{StoreDir: b.TempDir(), Sync: mode, SyncInterval: time.Second})
	}
	if _, err := n.js.CreateStream(ctx(b), jetstream.StreamConfig{Name: "B", Subjects: []string{"b"}, Storage: storage}); err != nil {
		b.Fatal(err)
	}
	return n
}

// benchSync publishes one message at a time, waiting for each PubAck.
func benchSync(b *testing.B, mode store.SyncMode, storage jetstream.StorageType) {
	n := benchNode(b, mode, storage)
	c := ctx(b)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := n.js.Publish(c, "b", payload); err != nil {
			b.Fatal(err)
		}
	}
}

// benchAsync keeps up to 4,000 publishes in flight with PublishAsync.
func benchAsync(b *testing.B, mode store.SyncMode, storage jetstream.StorageType) {
	publishAsyncTimed(b, benchNode(b, mode, storage))
}

// publishAsyncTimed times b.N PublishAsync calls and waits for every ack.
func publishAsyncTimed(b *testing.B, n *node) {
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := n.js.PublishAsync("b", payload, jetstream.WithStallWait(10*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-n.js.PublishAsyncComplete():
	case <-time.After(60 * time.Second):
		b.Fatal("acks did not arrive")
	}
}

func BenchmarkPublishSyncAckFileAlways(b *testing.B) {
	benchSync(b, store.SyncAlways, jetstream.FileStorage)
}
func BenchmarkPublishSyncAckFileInterval(b *testing.B) {
	benchSync(b, store.SyncInterval, jetstream.FileStorage)
}
func BenchmarkPublishSyncAckMemory(b *testing.B) {
	benchSync(b, store.SyncAlways, jetstream.MemoryStorage)
}
func BenchmarkPublishAsync4kFileAlways(b *testing.B) {
	benchAsync(b, store.SyncAlways, jetstream.FileStorage)
}
func BenchmarkPublishAsync4kFileInterval(b *testing.B) {
	benchAsync(b, store.SyncInterval, jetstream.FileStorage)
}
func BenchmarkPublishAsync4kMemory(b *testing.B) {
	benchAsync(b, store.SyncAlways, jetstream.MemoryStorage)
}

package stream_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/stream/store"
)

// benchCopy publishes b.N messages with PublishAsync to stream B while
// stream C copies from it (mirror or source), and reports how far behind
// the copy was when the last publish was acknowledged (lag-msgs) and the
// copy's own rate over the whole run (copied-msgs/s).
func benchCopy(b *testing.B, cfg jetstream.StreamConfig) {
	n := benchNode(b, store.SyncInterval, jetstream.FileStorage)
	if _, err := n.js.CreateStream(ctx(b), cfg); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	publishAsyncTimed(b, n)
	b.StopTimer()
	lagAt := func() uint64 {
		s, err := n.js.Stream(ctx(b), cfg.Name)
		if err != nil {
			b.Fatal(err)
		}
		return uint64(b.N) - s.CachedInfo().State.Msgs
	}
	lag := lagAt()
	deadline := time.Now().Add(2 * time.Minute)
	for lagAt() > 0 {
		if time.Now().After(deadline) {
			b.Fatalf("the copy did not catch up: %d behind", lagAt())
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.ReportMetric(float64(lag), "lag-msgs")
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "copied-msgs/s")
}

func BenchmarkMirrorUnderAsyncLoad(b *testing.B) {
	benchCopy(b, jetstream.StreamConfig{Name: "C", Mirror: &jetstream.StreamSource{Name: "B"}})
}

func BenchmarkSourceUnderAsyncLoad(b *testing.B) {
	benchCopy(b, jetstream.StreamConfig{Name: "C", Sources: []*jetstream.StreamSource{{Name: "B"}}})
}

package server

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// BenchmarkPubSubScraped measures 1:1 pub/sub throughput through nats.go
// while /metrics and /varz are read at a given interval, against no reads
// at all: monitoring must cost the message path nothing.
//
//	go test -run '^$' -bench PubSubScraped -benchtime 1000000x -count 6 ./server
func BenchmarkPubSubScraped(b *testing.B) {
	for _, c := range []struct {
		name  string
		every time.Duration
	}{
		{"none", 0},
		{"every1s", time.Second},
		{"every10ms", 10 * time.Millisecond},
	} {
		b.Run(c.name, func(b *testing.B) { benchPubSub(b, c.every) })
	}
}

func benchPubSub(b *testing.B, scrapeEvery time.Duration) {
	s := startMonitored(b, nil)
	sub := connect(b, s)
	pub := connect(b, s)
	var got atomic.Int64
	done := make(chan struct{})
	n := int64(b.N)
	ns, err := sub.Subscribe("bench", func(*nats.Msg) {
		if got.Add(1) == n {
			close(done)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	ns.SetPendingLimits(-1, -1)
	if err := sub.Flush(); err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	scraped := make(chan int)
	go func() {
		count := 0
		defer func() { scraped <- count }()
		if scrapeEvery == 0 {
			<-stop
			return
		}
		t := time.NewTicker(scrapeEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				for _, path := range []string{"/metrics", "/varz"} {
					if resp, err := http.Get(monURL(s, path)); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
				count++
			}
		}
	}()
	payload := make([]byte, 128)
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := pub.Publish("bench", payload); err != nil {
			b.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("received %d of %d", got.Load(), n)
	}
	b.StopTimer()
	close(stop)
	b.ReportMetric(float64(<-scraped), "scrapes")
}

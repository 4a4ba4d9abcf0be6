package stream_test

import (
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestE2EConsumerConcurrentWorkers: publishers and several workers sharing
// one durable consumer, naking some messages at random. Every message is
// acked in the end, and the consumer's counters agree.
func TestE2EConsumerConcurrentWorkers(t *testing.T) {
	const total = 2000
	n := startNode(t, t.TempDir())
	s, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "W", Subjects: []string{"w.*"}})
	if err != nil {
		t.Fatal(err)
	}
	c := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "D", AckWait: 2 * time.Second, MaxAckPending: 100})
	var mu sync.Mutex
	acked := map[uint64]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			for {
				select {
				case <-stop:
					return
				default:
				}
				b, err := c.Fetch(20, jetstream.FetchMaxWait(200*time.Millisecond))
				if err != nil {
					continue
				}
				for m := range b.Messages() {
					md, _ := m.Metadata()
					if rng.Intn(10) == 0 {
						m.Nak()
						continue
					}
					m.Ack()
					mu.Lock()
					acked[md.Sequence.Stream] = true
					mu.Unlock()
				}
			}
		}(w)
	}
	var pubs sync.WaitGroup
	for p := 0; p < 2; p++ {
		pubs.Add(1)
		go func(p int) {
			defer pubs.Done()
			for i := 0; i < total/2; i++ {
				if _, err := n.js.Publish(ctx(t), fmt.Sprintf("w.%d", p), nil); err != nil {
					t.Error(err)
					return
				}
			}
		}(p)
	}
	pubs.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		done := len(acked) == total
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("acked %d of %d", len(acked), total)
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	waitFor(t, func() bool {
		ci := info(t, c)
		return ci.NumAckPending == 0 && ci.AckFloor.Stream == total && ci.NumPending == 0 && ci.Delivered.Stream == total
	})
}

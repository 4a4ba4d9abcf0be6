package main

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestReplicatedConsumerAcksAfterFullRestart (found by the stream chaos
// suite, seed 1000): every server of an R3 stream loses power at once and
// restarts; whichever server leads the stream now must hear the acks of
// a client connected anywhere. The consumers recovered at startup
// subscribed to their acks before the server's routes existed, and that
// interest never crossed them: the consumer redelivered for ever.
func TestReplicatedConsumerAcksAfterFullRestart(t *testing.T) {
	c := startChaosCluster(t, 3)
	_, js := jsConnect(t, c.urls())
	waitLong(t, "stream created", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "C0", Subjects: []string{"c0.>"}, Replicas: 3})
		return err == nil
	})
	var cons jetstream.Consumer
	waitLong(t, "consumer created", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		cons, err = js.CreateOrUpdateConsumer(ctx, "C0", jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 3 * time.Second})
		return err == nil
	})
	publishAcked(t, js, "c0", 0, 20)
	got := 0
	fetchAck := func(want int) {
		t.Helper()
		waitLong(t, "deliveries acknowledged", func() bool {
			batch, err := cons.Fetch(want-got, jetstream.FetchMaxWait(time.Second))
			if err != nil {
				return false
			}
			for m := range batch.Messages() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				if err := m.DoubleAck(ctx); err == nil {
					got++
				}
				cancel()
			}
			return got >= want
		})
	}
	fetchAck(10)
	// Twice: the client's server leads the stream after a restart in one
	// case out of three, and then its acks never needed a route.
	for range 2 {
		for _, s := range c.servers {
			c.stop(s, true)
		}
		for _, s := range c.servers {
			c.restart(s)
		}
		fetchAck(got + 5)
	}
	publishAcked(t, js, "c0", 20, 20)
	fetchAck(40)
}

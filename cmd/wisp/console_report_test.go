package main

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
)

// The report monitoring reads gives each consumer's deliveries, which the
// console charts as a rate.
func TestReportConsumerDeliveries(t *testing.T) {
	cfg := conf.DefaultConfig()
	cfg.JetStream = true
	cfg.StoreDir = t.TempDir()
	cfg.Server = server.Options{Host: "127.0.0.1", Port: -1}
	srv, layers := startWithStreams(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, js := jsConnect(t, srv.ClientURL())
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := js.Publish(ctx, "orders.new", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	c, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "audit", AckPolicy: jetstream.AckNonePolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(3, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range batch.Messages() {
		n++
	}
	if n != 3 {
		t.Fatalf("fetched %d messages", n)
	}
	rep, err := layers.report()
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Streams) != 1 || len(rep.Streams[0].Consumers) != 1 || rep.Streams[0].Consumers[0].Delivered != 3 {
		t.Fatalf("report: %+v", rep.Streams)
	}
}

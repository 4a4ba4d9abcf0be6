package main

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
)

// Streams work over the WebSocket port as over TCP: a ws:// client
// creates a stream and a consumer, publishes with acks, fetches and acks,
// and sees what a TCP client published.
func TestStreamsOverWebsocket(t *testing.T) {
	cfg := conf.DefaultConfig()
	cfg.JetStream = true
	cfg.StoreDir = t.TempDir()
	cfg.Server = server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		Websocket: server.WebsocketOptions{Host: "127.0.0.1", Port: -1, NoTLS: true}}
	srv, _ := startWithStreams(t, cfg)
	ws, err := nats.Connect(srv.WebsocketURL(), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	tcp, err := nats.Connect(srv.ClientURL(), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	js, err := jetstream.New(ws)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "WS", Subjects: []string{"ws.>"}})
	if err != nil {
		t.Fatalf("create stream over ws: %v", err)
	}
	for i := 0; i < 5; i++ {
		if _, err := js.Publish(ctx, "ws.in", []byte("from ws")); err != nil {
			t.Fatalf("publish over ws: %v", err)
		}
	}
	tjs, _ := jetstream.New(tcp)
	if _, err := tjs.Publish(ctx, "ws.in", []byte("from tcp")); err != nil {
		t.Fatal(err)
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "reader", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(6, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for m := range batch.Messages() {
		got = append(got, string(m.Data()))
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatalf("ack over ws: %v", err)
		}
	}
	if len(got) != 6 || got[0] != "from ws" || got[5] != "from tcp" {
		t.Fatalf("fetched %q", got)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.AckFloor.Stream != 6 || info.NumAckPending != 0 {
		t.Fatalf("ack floor %d, pending %d", info.AckFloor.Stream, info.NumAckPending)
	}
}

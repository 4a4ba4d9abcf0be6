package stream_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/server"
	"github.com/wisp-mq/wisp/stream"
	"github.com/wisp-mq/wisp/subjectmap"
)

// A subject mapping in the server's configuration applies before a stream
// captures the message: the stream stores the mapped subject and the
// publisher's acknowledgement comes from it.
func TestStreamCapturesMappedSubject(t *testing.T) {
	srv, err := server.New(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		Mappings: []subjectmap.Mapping{{Source: "orders.*", Destinations: []subjectmap.Destination{
			{Subject: "orders.v2.{{partition(3,1)}}.{{wildcard(1)}}", Weight: 100}}}},
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	opts := stream.Options{StoreDir: t.TempDir()}
	opts.OpenStore = stream.PebbleStores(opts)
	svc, err := stream.New(srv, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(c)
		_ = svc.Close()
	})
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.v2.>"}})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := js.Publish(ctx(t), "orders.customer-42", []byte("x"))
	if err != nil {
		t.Fatalf("publish through the mapping: %v", err)
	}
	if ack.Stream != "ORDERS" || ack.Sequence != 1 {
		t.Fatalf("ack %+v", ack)
	}
	m, err := s.GetMsg(ctx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	// partition(3) of "customer-42" as nats-server computes it.
	if want := "orders.v2." + mustMap(t, "orders.*", "{{partition(3,1)}}", "orders.customer-42") + ".customer-42"; m.Subject != want {
		t.Fatalf("stored subject %q, want %q", m.Subject, want)
	}
}

func mustMap(t *testing.T, src, dest, subject string) string {
	t.Helper()
	tr, err := subjectmap.NewTransform(src, dest)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := tr.Apply(subject)
	return out
}

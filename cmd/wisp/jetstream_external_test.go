package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
)

// TestExternalSourceAndMirrorAcrossAccounts: as nats-server's docs set it
// up, account ORIGIN exports its JetStream API (responses as a stream, so
// a pull's messages come back) and account COPY imports it under a prefix
// of its own; a source and a mirror in COPY with external.api set to that
// prefix copy ORIGIN's stream, and go on copying what is published later.
func TestExternalSourceAndMirrorAcrossAccounts(t *testing.T) {
	cfg := conf.DefaultConfig()
	cfg.JetStream = true
	cfg.StoreDir = t.TempDir()
	cfg.Server = server.Options{
		Host: "127.0.0.1", Port: -1,
		Accounts: []server.AccountConfig{
			{Name: "ORIGIN", Users: []server.User{{Username: "o", Password: "po"}},
				Exports: []server.Export{{Service: "$JS.API.>", ResponseType: "stream", Accounts: []string{"COPY"}}}},
			{Name: "COPY", Users: []server.User{{Username: "c", Password: "pc"}},
				Imports: []server.Import{{Service: &server.ImportSource{Account: "ORIGIN", Subject: "$JS.API.>"}, To: "$JS.origin.API.>"}}},
		},
	}
	srv, _ := startWithStreams(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	_, ojs := jsConnect(t, srv.ClientURL(), nats.UserInfo("o", "po"))
	if _, err := ojs.CreateStream(ctx, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}}); err != nil {
		t.Fatal(err)
	}
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := ojs.Publish(ctx, "events.new", fmt.Appendf(nil, "e%d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(0, 3)

	_, cjs := jsConnect(t, srv.ClientURL(), nats.UserInfo("c", "pc"))
	ext := &jetstream.ExternalStream{APIPrefix: "$JS.origin.API", DeliverPrefix: "deliver.origin"}
	if _, err := cjs.CreateStream(ctx, jetstream.StreamConfig{Name: "AGG", Subjects: []string{"agg"},
		Sources: []*jetstream.StreamSource{{Name: "EVENTS", External: ext}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cjs.CreateStream(ctx, jetstream.StreamConfig{Name: "MIR",
		Mirror: &jetstream.StreamSource{Name: "EVENTS", External: ext}}); err != nil {
		t.Fatal(err)
	}
	wait := func(name string, want uint64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			s, err := cjs.Stream(ctx, name)
			if err == nil && s.CachedInfo().State.Msgs == want {
				return
			}
			if time.Now().After(deadline) {
				if err == nil {
					for _, si := range s.CachedInfo().Sources {
						t.Logf("source %+v err %v", si, si.Error)
					}
					t.Fatalf("%s: %+v, mirror %+v", name, s.CachedInfo().State, s.CachedInfo().Mirror)
				}
				t.Fatalf("%s: %v", name, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wait("AGG", 3)
	wait("MIR", 3)
	publish(3, 5)
	wait("AGG", 5)
	wait("MIR", 5)
	s, err := cjs.Stream(ctx, "MIR")
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(ctx, 5)
	if err != nil || string(m.Data) != "e4" {
		t.Fatalf("mirror's message 5: %v %v", m, err)
	}
	// The importing account's own API is its own: EVENTS is not there.
	if _, err := cjs.Stream(ctx, "EVENTS"); err == nil {
		t.Fatal("COPY sees ORIGIN's stream through its own API")
	}
}

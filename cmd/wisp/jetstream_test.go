package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
)

// TestStreamsPerAccount checks that each account has a stream layer of its
// own: two accounts create a stream of the same name on the same subjects,
// and neither sees the other's messages; the global account has its own.
func TestStreamsPerAccount(t *testing.T) {
	cfg := conf.DefaultConfig()
	cfg.JetStream = true
	cfg.StoreDir = t.TempDir()
	cfg.Server = server.Options{
		Host: "127.0.0.1", Port: -1, HTTPPort: -1,
		Users: []server.User{{Username: "g", Password: "pg"}},
		Accounts: []server.AccountConfig{
			{Name: "A", Users: []server.User{{Username: "a", Password: "pa"}}},
			{Name: "B/x", Users: []server.User{{Username: "b", Password: "pb"}}},
		},
	}
	log := slog.New(slog.DiscardHandler)
	srv, err := server.New(&cfg.Server, log)
	if err != nil {
		t.Fatal(err)
	}
	stop, err := startStreams(cfg, srv, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		stop()
	})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	publish := func(user, pass string, n int) jetstream.Stream {
		t.Helper()
		nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo(user, pass))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
		if err != nil {
			t.Fatalf("%s: create stream: %v", user, err)
		}
		for i := 0; i < n; i++ {
			if _, err := js.Publish(ctx, "orders.new", []byte("x")); err != nil {
				t.Fatalf("%s: publish: %v", user, err)
			}
		}
		return st
	}
	streams := map[string]jetstream.Stream{"g": publish("g", "pg", 1), "a": publish("a", "pa", 2), "b": publish("b", "pb", 3)}
	for user, want := range map[string]uint64{"g": 1, "a": 2, "b": 3} {
		info, err := streams[user].Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != want {
			t.Errorf("account of %s: ORDERS holds %d messages, want %d", user, info.State.Msgs, want)
		}
	}
	// Each account's data lives in its own directory, the name escaped.
	if _, err := os.Stat(filepath.Join(cfg.StoreDir, "accounts", "B%2Fx")); err != nil {
		t.Errorf("account store dir: %v", err)
	}
	// Monitoring shows every account's streams, named account/stream.
	resp, err := http.Get("http://" + srv.MonitorAddr().String() + "/jsz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var jsz struct {
		Streams []struct {
			Name  string `json:"name"`
			State struct {
				Messages uint64 `json:"messages"`
			} `json:"state"`
		} `json:"stream_detail"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&jsz); err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, s := range jsz.Streams {
		got[s.Name] = s.State.Messages
	}
	if got["ORDERS"] != 1 || got["A/ORDERS"] != 2 || got["B/x/ORDERS"] != 3 {
		t.Errorf("/jsz streams = %v", got)
	}
}

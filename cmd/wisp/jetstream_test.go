package main

import (
	"context"
	"encoding/json"
	"fmt"
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
	srv, _ := startWithStreams(t, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	publish := func(user, pass string, n int) jetstream.Stream {
		t.Helper()
		_, js := jsConnect(t, srv.ClientURL(), nats.UserInfo(user, pass))
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

// TestStreamsFollowReload: an account added by a reload gets its stream
// layer at once, a removed account's layer is closed, and an account that
// comes back finds its streams where it left them. A change of the sync
// rule is refused, as it needs a restart.
func TestStreamsFollowReload(t *testing.T) {
	accountA := server.AccountConfig{Name: "A", Users: []server.User{{Username: "a", Password: "pa"}}}
	accountB := server.AccountConfig{Name: "B", Users: []server.User{{Username: "b", Password: "pb"}}}
	cfg := conf.DefaultConfig()
	cfg.JetStream = true
	cfg.StoreDir = t.TempDir()
	cfg.Server = server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, Accounts: []server.AccountConfig{accountA}}
	log := slog.New(slog.DiscardHandler)
	srv, layers := startWithStreams(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := func(user, pass string) jetstream.JetStream {
		t.Helper()
		_, j := jsConnect(t, srv.ClientURL(), nats.UserInfo(user, pass), nats.NoReconnect())
		return j
	}
	reloadTo := func(accounts ...server.AccountConfig) {
		t.Helper()
		next := *cfg
		next.Server.Accounts = accounts
		reloadConfig(srv, layers, cfg, func() (*conf.Config, error) { c := next; return &c, nil }, new(slog.LevelVar), log)
		if fmt.Sprint(cfg.Server.Accounts) != fmt.Sprint(accounts) {
			t.Fatal("reload rejected")
		}
	}
	if _, err := js("a", "pa").CreateStream(ctx, jetstream.StreamConfig{Name: "KEEP", Subjects: []string{"k"}}); err != nil {
		t.Fatal(err)
	}
	streamNames := func() []string {
		rep, _ := layers.report()
		var names []string
		for _, s := range rep.Streams {
			names = append(names, s.Name)
		}
		return names
	}

	reloadTo(accountB)
	if _, err := js("b", "pb").CreateStream(ctx, jetstream.StreamConfig{Name: "NEW", Subjects: []string{"n"}}); err != nil {
		t.Fatalf("added account: %v", err)
	}
	if got := fmt.Sprint(streamNames()); got != "[B/NEW]" {
		t.Fatalf("streams after A was removed: %s", got)
	}

	reloadTo(accountA, accountB)
	if _, err := js("a", "pa").Stream(ctx, "KEEP"); err != nil {
		t.Fatalf("returning account lost its stream: %v", err)
	}

	next := *cfg
	next.Sync = conf.SyncInterval
	reloadConfig(srv, layers, cfg, func() (*conf.Config, error) { c := next; return &c, nil }, new(slog.LevelVar), log)
	if cfg.Sync != conf.SyncAlways {
		t.Fatal("sync rule changed by a reload")
	}
}

// startWithStreams starts a server and its stream layers as serve does,
// stopping both when the test ends.
func startWithStreams(t *testing.T, cfg *conf.Config) (*server.Server, *streamLayers) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	srv, err := server.New(&cfg.Server, log)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := startStreams(cfg, srv, log)
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
		layers.close()
	})
	return srv, layers
}

// jsConnect connects a client to url, closed when the test ends, and a
// JetStream API on it.
func jsConnect(t *testing.T, url string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

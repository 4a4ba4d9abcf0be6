package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
)

// TestStoreLimitsPerServerAndAccount checks max_file_store at both levels
// through nats.go: the account's own limit refuses its streams (10047) and
// publishes (10002, as nats-server), $JS.API.INFO reports the limit in force, a reload
// changes it at once, and /jsz shows the limits and the stores.
func TestStoreLimitsPerServerAndAccount(t *testing.T) {
	cfg := conf.DefaultConfig()
	cfg.JetStream = true
	cfg.StoreDir = t.TempDir()
	cfg.MaxFileStore = 1 << 20
	cfg.AccountStoreLimits = map[string]conf.StoreLimits{"A": {MaxFileStore: 32 << 10}}
	cfg.Server = server.Options{
		Host: "127.0.0.1", Port: -1, HTTPPort: -1,
		Users: []server.User{{Username: "g", Password: "pg"}},
		Accounts: []server.AccountConfig{
			{Name: "A", Users: []server.User{{Username: "a", Password: "pa"}}},
		},
	}
	srv, layers := startWithStreams(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	connect := func(user, pass string) jetstream.JetStream {
		_, js := jsConnect(t, srv.ClientURL(), nats.UserInfo(user, pass))
		return js
	}
	g, a := connect("g", "pg"), connect("a", "pa")
	for js, want := range map[jetstream.JetStream]int64{g: 1 << 20, a: 32 << 10} {
		info, err := js.AccountInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Limits.MaxStore != want {
			t.Errorf("max_storage %d, want %d", info.Limits.MaxStore, want)
		}
	}
	_, err := a.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s"}, MaxBytes: 64 << 10})
	if code := apiErrCode(err); code != 10047 {
		t.Fatalf("stream over the account's limit: %v (code %d), want 10047", err, code)
	}
	if _, err := a.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s"}}); err != nil {
		t.Fatal(err)
	}
	var refused error
	sent := 0
	for ; sent < 100 && refused == nil; sent++ {
		_, refused = a.Publish(ctx, "s", make([]byte, 1000))
	}
	if code := apiErrCode(refused); code != 10002 || sent < 25 {
		t.Fatalf("publish %d over the account's limit: %v (code %d), want 10002 after about 32", sent, refused, code)
	}
	// The global account is under the server's limit only.
	if _, err := g.CreateStream(ctx, jetstream.StreamConfig{Name: "G", Subjects: []string{"g"}, MaxBytes: 512 << 10}); err != nil {
		t.Fatal(err)
	}
	// A reload raising the account's limit lets it publish again.
	next := *cfg
	next.AccountStoreLimits = map[string]conf.StoreLimits{"A": {MaxFileStore: 256 << 10}}
	layers.setLimits(&next)
	if _, err := a.Publish(ctx, "s", make([]byte, 1000)); err != nil {
		t.Fatalf("publish after the limit was raised: %v", err)
	}

	resp, err := http.Get("http://" + srv.MonitorAddr().String() + "/jsz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var jz server.Jsz
	if err := json.NewDecoder(resp.Body).Decode(&jz); err != nil {
		t.Fatal(err)
	}
	if jz.Limits.MaxStorage != 1<<20 || len(jz.Stores) != 4 {
		t.Fatalf("jsz limits %+v, stores %+v", jz.Limits, jz.Stores)
	}
	for _, st := range jz.Stores {
		if !st.Writable {
			t.Errorf("store %+v not writable", st)
		}
		if st.Storage == "file" && (st.Total == 0 || st.Headroom == 0) {
			t.Errorf("file store %+v without disk figures", st)
		}
	}
}

// apiErrCode returns the err_code of a JetStream API error, 0 otherwise.
func apiErrCode(err error) jetstream.ErrorCode {
	var je jetstream.JetStreamError
	if errors.As(err, &je) && je.APIError() != nil {
		return je.APIError().ErrorCode
	}
	return 0
}

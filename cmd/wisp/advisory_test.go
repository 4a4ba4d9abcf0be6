package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
)

// TestAPIAuditNamesServerAndAccount: the API audit advisory names the
// server and the account whose stream layer answered, and stays in that
// account.
func TestAPIAuditNamesServerAndAccount(t *testing.T) {
	cfg := conf.DefaultConfig()
	cfg.JetStream = true
	cfg.StoreDir = t.TempDir()
	cfg.Server = server.Options{
		Host: "127.0.0.1", Port: -1, HTTPPort: -1, ServerName: "audit-1",
		Users:    []server.User{{Username: "g", Password: "pg"}},
		Accounts: []server.AccountConfig{{Name: "A", Users: []server.User{{Username: "a", Password: "pa"}}}},
	}
	srv, _ := startWithStreams(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	audits := map[string]*nats.Subscription{}
	clients := map[string]jetstream.JetStream{}
	for user, pass := range map[string]string{"g": "pg", "a": "pa"} {
		nc, js := jsConnect(t, srv.ClientURL(), nats.UserInfo(user, pass))
		clients[user] = js
		var err error
		if audits[user], err = nc.SubscribeSync("$JS.EVENT.ADVISORY.API"); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	for user, acc := range map[string]string{"g": "$G", "a": "A"} {
		if _, err := clients[user].AccountInfo(ctx); err != nil {
			t.Fatal(err)
		}
		m, err := audits[user].NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("%s: no audit: %v", user, err)
		}
		var a struct {
			Server string `json:"server"`
			Client struct {
				Account string `json:"acc"`
			} `json:"client"`
			Subject string `json:"subject"`
		}
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatal(err)
		}
		if a.Server != "audit-1" || a.Client.Account != acc || a.Subject != "$JS.API.INFO" {
			t.Fatalf("%s: audit %s", user, m.Data)
		}
		// The other account's call was never seen here.
		if m, err := audits[user].NextMsg(200 * time.Millisecond); err == nil {
			t.Fatalf("%s: second audit %s", user, m.Data)
		}
	}
}

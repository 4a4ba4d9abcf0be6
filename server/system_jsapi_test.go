package server

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestSystemAccountJetStreamAPI: a JetStream API request in the system
// account, which has no streams, is answered once, by the requester's
// server, with 10039 "JetStream not enabled for account" (an account info
// reply for $JS.API.INFO, a system reply otherwise); the system-level
// requests keep their own answers; a server without JetStream does not
// answer.
func TestSystemAccountJetStreamAPI(t *testing.T) {
	servers := startTestCluster(t, 2, func(_ int, o *Options) { sysAccounts(o); o.JetStream = true })
	sys := connectTo(t, servers[0], nats.UserInfo("sys", "sys"))
	type resp struct {
		Type  string `json:"type"`
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	ask := func(subject string) resp {
		t.Helper()
		inbox := nats.NewInbox()
		sub, err := sys.SubscribeSync(inbox)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		if err := sys.PublishRequest(subject, inbox, nil); err != nil {
			t.Fatal(err)
		}
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("%s: no answer: %v", subject, err)
		}
		var r resp
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		if extra, err := sub.NextMsg(300 * time.Millisecond); err == nil {
			t.Fatalf("%s: a second answer: %s", subject, extra.Data)
		}
		return r
	}
	for subject, typ := range map[string]string{
		"$JS.API.INFO":                    "io.nats.jetstream.api.v1.account_info_response",
		"$JS.API.STREAM.INFO.ORDERS":      "io.nats.jetstream.api.v1.system_response",
		"$JS.API.STREAM.NAMES":            "io.nats.jetstream.api.v1.system_response",
		"$JS.API.STREAM.CREATE.ORDERS":    "io.nats.jetstream.api.v1.system_response",
		"$JS.API.CONSUMER.INFO.ORDERS.C1": "io.nats.jetstream.api.v1.system_response",
	} {
		r := ask(subject)
		if r.Type != typ || r.Error == nil || r.Error.Code != 503 || r.Error.ErrCode != 10039 ||
			r.Error.Description != "JetStream not enabled for account" {
			t.Fatalf("%s: %+v (error %+v), want %s with 503/10039", subject, r, r.Error, typ)
		}
	}
	// The meta step-down is the system account's own request.
	if r := ask(subjMetaStepDown); r.Type != typeMetaStepDown || r.Error == nil || r.Error.ErrCode != 10010 {
		t.Fatalf("meta step-down: %+v", r)
	}

	plain := startServer(t, func(o *Options) { sysAccounts(o) })
	nc := connectTo(t, plain, nats.UserInfo("sys", "sys"))
	if _, err := nc.Request("$JS.API.INFO", nil, time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("without JetStream: %v, want no responders", err)
	}
}

package server

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestServerRemoveRequest: $JS.API.SERVER.REMOVE in the system account
// answers as nats-server does: clustering required when nothing is wired,
// bad request without a server named, invalid JSON, not a member, and
// success once the removal is done, with the name or raft id passed on;
// only the requester's server answers.
func TestServerRemoveRequest(t *testing.T) {
	servers := startTestCluster(t, 2, func(_ int, o *Options) { sysAccounts(o) })
	n1, n2 := servers[0], servers[1]
	sys := connectTo(t, n1, nats.UserInfo("sys", "sys"))
	type resp struct {
		Type    string `json:"type"`
		Success bool   `json:"success"`
		Error   *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	ask := func(body string) resp {
		t.Helper()
		inbox := nats.NewInbox()
		sub, err := sys.SubscribeSync(inbox)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		if err := sys.PublishRequest(subjServerRemove, inbox, []byte(body)); err != nil {
			t.Fatal(err)
		}
		m, err := sub.NextMsg(15 * time.Second)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		var r resp
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		if r.Type != typeServerRemove {
			t.Fatalf("type %q", r.Type)
		}
		if extra, err := sub.NextMsg(300 * time.Millisecond); err == nil {
			t.Fatalf("a second answer: %s", extra.Data)
		}
		return r
	}
	wantErr := func(r resp, code int, what string) {
		t.Helper()
		if r.Success || r.Error == nil || r.Error.ErrCode != code {
			t.Fatalf("%s: %+v (error %+v), want %d", what, r, r.Error, code)
		}
	}
	wantErr(ask(`{"peer":"n2"}`), 10010, "without a cluster wired")

	type call struct{ name, id string }
	calls := make(chan call, 4)
	fn := func(_ context.Context, name, id string) error {
		calls <- call{name, id}
		switch name {
		case "ghost":
			return ErrServerNotMember
		case "stuck":
			return errors.New("stream ORDERS: peer remap failed")
		}
		return nil
	}
	n1.SetServerRemove(fn)
	n2.SetServerRemove(fn)
	wantErr(ask(""), 10003, "an empty request")
	wantErr(ask("{}"), 10003, "no server named")
	wantErr(ask(`{"peer":`), 10025, "bad JSON")
	if len(calls) != 0 {
		t.Fatalf("a refused request reached the removal: %v", <-calls)
	}
	wantErr(ask(`{"peer":"ghost"}`), 10044, "not a member")
	<-calls
	if r := ask(`{"peer":"n2"}`); !r.Success || r.Error != nil {
		t.Fatalf("removal: %+v", r)
	}
	if c := <-calls; c != (call{"n2", ""}) || len(calls) != 0 {
		t.Fatalf("removal called with %+v (%d more)", c, len(calls))
	}
	if r := ask(`{"peer_id":"123"}`); !r.Success {
		t.Fatalf("removal by id: %+v", r)
	}
	if c := <-calls; c != (call{"", "123"}) {
		t.Fatalf("removal by id called with %+v", c)
	}
	r := ask(`{"peer":"stuck"}`)
	wantErr(r, 10041, "a failed removal")
	if r.Error.Description != "stream ORDERS: peer remap failed" {
		t.Fatalf("failure described as %q", r.Error.Description)
	}
}

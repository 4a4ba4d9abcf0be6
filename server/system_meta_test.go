package server

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestMetaLeaderStepDownRequest: $JS.API.META.LEADER.STEPDOWN in the
// system account answers as nats-server does: clustering required when no
// meta group is wired, success once the step-down happened, unavailable
// when it failed, bad request for options it does not support; only the
// requester's server answers, and other accounts get no answer.
func TestMetaLeaderStepDownRequest(t *testing.T) {
	servers := startTestCluster(t, 2, func(_ int, o *Options) { sysAccounts(o) })
	n1, n2 := servers[0], servers[1]
	sys := connectTo(t, n1, nats.UserInfo("sys", "sys"))
	type resp struct {
		Type    string `json:"type"`
		Success bool   `json:"success"`
		Error   *struct {
			Code    int `json:"code"`
			ErrCode int `json:"err_code"`
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
		if err := sys.PublishRequest(subjMetaStepDown, inbox, []byte(body)); err != nil {
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
		if r.Type != typeMetaStepDown {
			t.Fatalf("type %q", r.Type)
		}
		if extra, err := sub.NextMsg(300 * time.Millisecond); err == nil {
			t.Fatalf("a second answer: %s", extra.Data)
		}
		return r
	}
	if r := ask(""); r.Success || r.Error == nil || r.Error.ErrCode != 10010 || r.Error.Code != 503 {
		t.Fatalf("without a meta group: %+v", r)
	}
	called := make(chan struct{}, 4)
	n1.SetMetaLeaderStepDown(func(context.Context) error { called <- struct{}{}; return nil })
	n2.SetMetaLeaderStepDown(func(context.Context) error { called <- struct{}{}; return nil })
	if r := ask("{}"); !r.Success || r.Error != nil {
		t.Fatalf("step-down: %+v", r)
	}
	if len(called) != 1 {
		t.Fatalf("%d servers stepped down for one request", len(called))
	}
	if r := ask(`{"placement":{"preferred":"n2"}}`); r.Success || r.Error == nil || r.Error.ErrCode != 10003 {
		t.Fatalf("with a placement: %+v", r)
	}
	n1.SetMetaLeaderStepDown(func(context.Context) error { return errors.New("no other member is active") })
	if r := ask(""); r.Success || r.Error == nil || r.Error.ErrCode != 10008 {
		t.Fatalf("failed step-down: %+v", r)
	}
	app := connectTo(t, n1, nats.UserInfo("app", "app"))
	if _, err := app.Request(subjMetaStepDown, nil, 500*time.Millisecond); err == nil {
		t.Fatal("an application account got an answer")
	}
}

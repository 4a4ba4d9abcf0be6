package server

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestSystemKick: KICK closes the named client, which sees its
// connection drop, and answers null data; an unknown id is an error.
func TestSystemKick(t *testing.T) {
	s := startServer(t, sysAccounts)
	sys := connectTo(t, s, nats.UserInfo("sys", "sys"))
	closed := make(chan struct{})
	app := connectTo(t, s, nats.UserInfo("app", "app"), nats.NoReconnect(),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	cid, err := app.GetClientID()
	if err != nil {
		t.Fatal(err)
	}
	discs, _ := sys.SubscribeSync("$SYS.ACCOUNT.APP.DISCONNECT")
	sys.Flush()
	r := request[natsResponse[any]](t, sys, "$SYS.REQ.SERVER."+s.ID()+".KICK", fmt.Sprintf(`{"cid":%d}`, cid))
	if r.Error != nil || r.Data != nil || r.Server.ID != s.ID() {
		t.Fatalf("kick answered %+v", r)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the kicked client is still connected")
	}
	m, err := discs.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var de struct {
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(m.Data, &de); err != nil || de.Reason != "Kicked" {
		t.Fatalf("disconnect event %s", m.Data)
	}
	r = request[natsResponse[any]](t, sys, "$SYS.REQ.SERVER."+s.ID()+".KICK", `{"cid":99999}`)
	if r.Error == nil || r.Error.Code != 500 || r.Error.Description != "no such client or leafnode id" {
		t.Fatalf("kick of an unknown client answered %+v", r)
	}
	r = request[natsResponse[any]](t, sys, "$SYS.REQ.SERVER."+s.ID()+".KICK", `{"cid":`)
	if r.Error == nil || r.Error.Code != 400 {
		t.Fatalf("kick with a broken body answered %+v", r)
	}
}

// TestSystemClientLameDuck: LDM sends the named client an INFO with ldm
// set (nats.go calls its lame-duck handler) and leaves it connected.
func TestSystemClientLameDuck(t *testing.T) {
	s := startServer(t, sysAccounts)
	sys := connectTo(t, s, nats.UserInfo("sys", "sys"))
	ldm := make(chan struct{}, 1)
	app := connectTo(t, s, nats.UserInfo("app", "app"),
		nats.LameDuckModeHandler(func(*nats.Conn) { ldm <- struct{}{} }))
	other := connectTo(t, s, nats.UserInfo("app", "app"),
		nats.LameDuckModeHandler(func(*nats.Conn) { t.Error("lame-duck mode reached another client") }))
	cid, _ := app.GetClientID()
	r := request[natsResponse[any]](t, sys, "$SYS.REQ.SERVER."+s.ID()+".LDM", fmt.Sprintf(`{"cid":%d}`, cid))
	if r.Error != nil {
		t.Fatalf("ldm answered %+v", r)
	}
	select {
	case <-ldm:
	case <-time.After(5 * time.Second):
		t.Fatal("the client was not told of lame-duck mode")
	}
	if err := app.Flush(); err != nil || !app.IsConnected() {
		t.Fatalf("the client lost its connection: %v", err)
	}
	if err := other.Flush(); err != nil {
		t.Fatal(err)
	}
	r = request[natsResponse[any]](t, sys, "$SYS.REQ.SERVER."+s.ID()+".LDM", `{"cid":99999}`)
	if r.Error == nil || r.Error.Code != 500 {
		t.Fatalf("ldm of an unknown client answered %+v", r)
	}
}

// TestSystemReload: RELOAD runs the reloader cmd/wisp gives the server
// and answers its error; without one it is refused.
func TestSystemReload(t *testing.T) {
	s := startServer(t, sysAccounts)
	sys := connectTo(t, s, nats.UserInfo("sys", "sys"))
	subject := "$SYS.REQ.SERVER." + s.ID() + ".RELOAD"
	r := request[natsResponse[any]](t, sys, subject, "")
	if r.Error == nil || r.Error.Code != 500 {
		t.Fatalf("reload without a reloader answered %+v", r)
	}
	var calls atomic.Int32
	var fail atomic.Bool
	s.SetReloader(func() error {
		calls.Add(1)
		if fail.Load() {
			return fmt.Errorf("store_dir: cannot change\nport: cannot change")
		}
		return nil
	})
	if r = request[natsResponse[any]](t, sys, subject, ""); r.Error != nil || calls.Load() != 1 {
		t.Fatalf("reload answered %+v after %d calls", r, calls.Load())
	}
	fail.Store(true)
	r = request[natsResponse[any]](t, sys, subject, "")
	if r.Error == nil || r.Error.Code != 500 || r.Error.Description != "store_dir: cannot change; port: cannot change" {
		t.Fatalf("failed reload answered %+v", r)
	}
}

// TestSystemAuthErrorEvent: a client refused for its credentials is
// announced on $SYS.SERVER.<id>.CLIENT.AUTH.ERR, naming the user it
// claimed, its name and host, with nats-server's reason.
func TestSystemAuthErrorEvent(t *testing.T) {
	s := startServer(t, sysAccounts)
	sys := connectTo(t, s, nats.UserInfo("sys", "sys"))
	events, _ := sys.SubscribeSync("$SYS.SERVER." + s.ID() + ".CLIENT.AUTH.ERR")
	sys.Flush()
	if nc, err := nats.Connect(s.ClientURL(), nats.UserInfo("app", "wrong"), nats.Name("intruder"), nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("connected with a wrong password")
	}
	m, err := events.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Type   string         `json:"type"`
		ID     string         `json:"id"`
		Server natsServerInfo `json:"server"`
		Client struct {
			Host string     `json:"host"`
			ID   uint64     `json:"id"`
			User string     `json:"user"`
			Name string     `json:"name"`
			Lang string     `json:"lang"`
			Stop *time.Time `json:"stop"`
		} `json:"client"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(m.Data, &e); err != nil {
		t.Fatal(err)
	}
	if e.Type != "io.nats.server.advisory.v1.client_disconnect" || e.ID == "" || e.Server.ID != s.ID() ||
		e.Client.User != "app" || e.Client.Name != "intruder" || e.Client.Host != "127.0.0.1" || e.Client.ID == 0 ||
		e.Client.Lang != "go" || e.Client.Stop == nil || e.Reason != "Authentication Failure" {
		t.Fatalf("auth error event %s", m.Data)
	}
}

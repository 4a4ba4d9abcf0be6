package server

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func reloadOpts(s *Server, edit func(*Options)) *Options {
	o := s.Options()
	o.Users = append([]User(nil), o.Users...)
	edit(&o)
	return &o
}

func TestReloadUsersAndPermissions(t *testing.T) {
	s := startServer(t, func(o *Options) {
		o.Users = []User{
			{Username: "keep", Password: "p"},
			{Username: "gone", Password: "p"},
			{Username: "narrowed", Password: "p"},
			{Username: "rekeyed", Password: "p"},
		}
	})
	var disconnects int
	keep := connect(t, s, nats.UserInfo("keep", "p"), nats.DisconnectErrHandler(func(*nats.Conn, error) { disconnects++ }))
	ksub, _ := keep.SubscribeSync("news.x")
	keep.Flush()
	gone := dialRaw(t, s)
	gone.send("CONNECT {\"verbose\":false,\"user\":\"gone\",\"pass\":\"p\"}\r\nPING\r\n")
	gone.expect("PONG")
	narrowed := dialRaw(t, s)
	narrowed.send("CONNECT {\"verbose\":false,\"user\":\"narrowed\",\"pass\":\"p\"}\r\nSUB secret.x 1\r\nPING\r\n")
	narrowed.expect("PONG")
	rekeyed := dialRaw(t, s)
	rekeyed.send("CONNECT {\"verbose\":false,\"user\":\"rekeyed\",\"pass\":\"p\"}\r\nPING\r\n")
	rekeyed.expect("PONG")

	err := s.Reload(reloadOpts(s, func(o *Options) {
		o.Users = []User{
			{Username: "keep", Password: "p", Permissions: &Permissions{Publish: SubjectPermission{Allow: []string{"news.>"}}}},
			{Username: "narrowed", Password: "p", Permissions: &Permissions{Subscribe: SubjectPermission{Deny: []string{"secret.>"}}}},
			{Username: "new", Password: "p"},
			{Username: "rekeyed", Password: "p2"},
		}
		o.MaxSubscriptions = 5
	}))
	if err != nil {
		t.Fatal(err)
	}
	gone.expect("-ERR 'Authorization Violation'")
	gone.expectClosed()
	narrowed.expect(`-ERR 'Permissions Violation for Subscription to "secret.x"'`)
	narrowed.expectClosed()
	rekeyed.expect("-ERR 'Authorization Violation'")
	rekeyed.expectClosed()
	connect(t, s, nats.UserInfo("rekeyed", "p2")) // the new password works

	// keep stays connected, under its new permissions.
	if err := keep.Publish("news.x", []byte("ok")); err != nil {
		t.Fatal(err)
	}
	if m := nextMsg(t, ksub); string(m.Data) != "ok" {
		t.Fatalf("got %q", m.Data)
	}
	keep.Publish("other", nil)
	keep.Flush()
	eventually(t, "publish violation", func() bool {
		err := keep.LastError()
		return err != nil && strings.Contains(err.Error(), `Publish to "other"`)
	})
	if !keep.IsConnected() || disconnects != 0 {
		t.Fatalf("keep was disconnected (%d)", disconnects)
	}
	connect(t, s, nats.UserInfo("new", "p")) // a new user works at once
	if _, err := nats.Connect(s.ClientURL(), nats.UserInfo("gone", "p"), nats.NoReconnect()); err == nil {
		t.Fatal("removed user could connect")
	}
	if got := s.Options().MaxSubscriptions; got != 5 {
		t.Fatalf("max_subscriptions %d after reload", got)
	}
}

func TestReloadRejected(t *testing.T) {
	s := startServer(t, func(o *Options) { o.Users = []User{{Username: "u", Password: "p"}} })
	nc := connect(t, s, nats.UserInfo("u", "p"))

	err := s.Reload(reloadOpts(s, func(o *Options) { o.Port = 1 }))
	if !errors.Is(err, ErrNotReloadable) || !strings.Contains(err.Error(), "port") {
		t.Fatalf("port change: %v", err)
	}
	err = s.Reload(reloadOpts(s, func(o *Options) { o.MaxPayload = -5 }))
	if err == nil || !strings.Contains(err.Error(), "max_payload") {
		t.Fatalf("bad value: %v", err)
	}
	err = s.Reload(reloadOpts(s, func(o *Options) { o.TLS = &TLSOptions{CertFile: "/nonexistent", KeyFile: "/nonexistent"} }))
	if err == nil || !strings.Contains(err.Error(), "cert_file") {
		t.Fatalf("bad cert: %v", err)
	}
	err = s.Reload(reloadOpts(s, func(o *Options) {
		o.Accounts = []AccountConfig{{Name: "B", Imports: []Import{{Stream: &ImportSource{Account: "A", Subject: "x"}}}}}
	}))
	if err == nil || !strings.Contains(err.Error(), `no account "A"`) {
		t.Fatalf("bad import: %v", err)
	}
	// The old settings are all still in force.
	if err := nc.Flush(); err != nil || !nc.IsConnected() {
		t.Fatalf("client lost: %v", err)
	}
	o := s.Options()
	if o.MaxPayload != DefaultMaxPayload || o.TLS != nil || len(o.Accounts) != 0 {
		t.Fatalf("options changed by a rejected reload: %+v", o)
	}
	connect(t, s, nats.UserInfo("u", "p"))
}

func TestReloadAccounts(t *testing.T) {
	s := startServer(t, func(o *Options) {
		o.Accounts = []AccountConfig{
			{Name: "A", Users: []User{{Username: "a", Password: "a"}}, Exports: []Export{{Stream: "ev.>"}}},
			{Name: "B", Users: []User{{Username: "b", Password: "b"}}},
		}
	})
	a := connect(t, s, nats.UserInfo("a", "a"))
	b := connect(t, s, nats.UserInfo("b", "b"))
	bsub, _ := b.SubscribeSync("ev.>")
	b.Flush()
	a.Publish("ev.1", nil)
	a.Flush()
	if m, err := bsub.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("B got %q before the import", m.Subject)
	}
	// Add the import: B's existing subscription starts receiving.
	err := s.Reload(reloadOpts(s, func(o *Options) {
		o.Accounts = []AccountConfig{
			{Name: "A", Users: []User{{Username: "a", Password: "a"}}, Exports: []Export{{Stream: "ev.>"}}},
			{Name: "B", Users: []User{{Username: "b", Password: "b"}}, Imports: []Import{{Stream: &ImportSource{Account: "A", Subject: "ev.>"}}}},
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	a.Publish("ev.2", nil)
	a.Flush()
	if m := nextMsg(t, bsub); m.Subject != "ev.2" {
		t.Fatalf("got %q", m.Subject)
	}
	// Moving a user to another account closes its connection.
	err = s.Reload(reloadOpts(s, func(o *Options) {
		o.Accounts = []AccountConfig{
			{Name: "A", Users: []User{{Username: "a", Password: "a"}}},
			{Name: "C", Users: []User{{Username: "b", Password: "b"}}},
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "b closed", func() bool { return b.Status() != nats.CONNECTED })
	if !a.IsConnected() {
		t.Fatal("a was closed")
	}
}

func TestReloadTokenAndAuthOff(t *testing.T) {
	s := startServer(t, func(o *Options) { o.AuthToken = "t1" })
	c := dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false,\"auth_token\":\"t1\"}\r\nPING\r\n")
	c.expect("PONG")
	// Turning auth off keeps everyone.
	if err := s.Reload(reloadOpts(s, func(o *Options) { o.AuthToken = "" })); err != nil {
		t.Fatal(err)
	}
	c.send("PING\r\n")
	c.expect("PONG")
	// Turning it back on with another token closes the clients without it.
	if err := s.Reload(reloadOpts(s, func(o *Options) { o.AuthToken = "t2" })); err != nil {
		t.Fatal(err)
	}
	c.expect("-ERR 'Authorization Violation'")
	c.expectClosed()
}

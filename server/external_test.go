package server

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
)

// Clients of other protocols log in with the server's users and show in
// the connection listing until they go.
func TestExternalUsers(t *testing.T) {
	s := startServer(t, func(o *Options) {
		o.Users = []User{{Username: "g", Password: "pg"}}
		o.Accounts = []AccountConfig{{Name: "A", Users: []User{{Username: "a", Password: "pa",
			Permissions: &Permissions{Publish: SubjectPermission{Allow: []string{"x.>"}}}}}}}
	})
	if _, ok := s.CheckUser("a", "wrong"); ok {
		t.Fatal("bad password accepted")
	}
	u, ok := s.CheckUser("a", "pa")
	if !ok || u.Account != "A" || u.User != "a" || u.CanPublish == nil || u.CanPublish("y") || !u.CanPublish("x.y") {
		t.Fatalf("a: %+v %v", u, ok)
	}
	if u, ok := s.LookupUser("g"); !ok || u.Account != GlobalAccount || u.CanPublish != nil {
		t.Fatalf("lookup g: %+v %v", u, ok)
	}
	if _, ok := s.LookupUser("nobody"); ok {
		t.Fatal("unknown user found")
	}

	open := s.Conns(false)
	before := s.NumConnections()
	cid, remove, err := s.AddExternalConn("A", func() ConnSnapshot { return ConnSnapshot{Type: "mqtt", MQTTClient: "dev"} })
	if err != nil {
		t.Fatal(err)
	}
	listed := s.Conns(false)
	if len(listed) != len(open)+1 || listed[len(listed)-1].CID != cid || listed[len(listed)-1].MQTTClient != "dev" {
		t.Fatalf("listing %+v, want the external client with cid %d", listed, cid)
	}
	if n := s.NumConnections(); n != before+1 {
		t.Fatalf("%d connections counted, want %d (varz counts outside clients)", n, before+1)
	}
	ci := connInfo(&listed[len(listed)-1], listed[0].Start, connzQuery{})
	if ci.Type != "mqtt" || ci.MQTTClient != "dev" {
		t.Fatalf("connz entry %+v", ci)
	}
	remove()
	remove() // a second call does nothing
	if len(s.Conns(false)) != len(open) {
		t.Fatal("external client still listed after remove")
	}
}

// Outside clients count against max_connections and the account's limit.
func TestExternalLimits(t *testing.T) {
	s := startServer(t, func(o *Options) {
		o.MaxConnections = 2
		o.Accounts = []AccountConfig{{Name: "A", MaxConnections: 1, Users: []User{{Username: "a", Password: "pa"}}}}
	})
	snap := func() ConnSnapshot { return ConnSnapshot{} }
	_, removeA, err := s.AddExternalConn("A", snap)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddExternalConn("A", snap); !errors.Is(err, ErrMaxAccountConnections) {
		t.Fatalf("second in A: %v", err)
	}
	removeA()
	if _, _, err := s.AddExternalConn("A", snap); err != nil {
		t.Fatalf("A after remove: %v", err)
	}
	if _, _, err := s.AddExternalConn(GlobalAccount, snap); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddExternalConn(GlobalAccount, snap); !errors.Is(err, ErrMaxConnections) {
		t.Fatalf("third connection: %v", err)
	}
	// A NATS client is refused too.
	if nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("NATS client accepted past max_connections")
	}
}

// With a token, an outside client gives the token as its password; with
// no authentication everyone is in the global account.
func TestExternalToken(t *testing.T) {
	s := startServer(t, func(o *Options) { o.AuthToken = "tok" })
	if _, ok := s.CheckUser("", "tok"); !ok {
		t.Fatal("token refused")
	}
	if _, ok := s.CheckUser("", "nope"); ok {
		t.Fatal("bad token accepted")
	}
	open := startServer(t, nil)
	if u, ok := open.CheckUser("anyone", "x"); !ok || u.Account != GlobalAccount {
		t.Fatalf("no auth: %+v %v", u, ok)
	}
}

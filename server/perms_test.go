package server

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestPatternMatching(t *testing.T) {
	lit := []struct {
		pat, subj string
		want      bool
	}{
		{"foo", "foo", true}, {"foo", "foo.bar", false}, {"foo.bar", "foo", false},
		{"foo.*", "foo.bar", true}, {"foo.*", "foo.bar.baz", false}, {"foo.>", "foo.bar.baz", true},
		{"foo.>", "foo", false}, {">", "a", true}, {"*.b", "a.b", true}, {"*.b", "a.c", false},
		{"a.*.c", "a.b.c", true}, {"a.*.c", "a.b.d", false},
	}
	for _, tc := range lit {
		p := pattern(strings.Split(tc.pat, "."))
		if got := p.matchLiteral([]byte(tc.subj)); got != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.pat, tc.subj, got, tc.want)
		}
	}
	sub := []struct {
		s, p            string
		subset, overlap bool
	}{
		{"foo.bar", "foo.*", true, true}, {"foo.*", "foo.bar", false, true}, {"foo.>", "foo.*", false, true},
		{"foo.*", "foo.>", true, true}, {"bar.*", "foo.>", false, false}, {">", "foo.>", false, true},
		{"a.b", "a.b", true, true}, {"a.b.c", "a.*", false, false},
	}
	for _, tc := range sub {
		s, p := pattern(strings.Split(tc.s, ".")), pattern(strings.Split(tc.p, "."))
		if got := s.subsetOf(p); got != tc.subset {
			t.Errorf("%q subset of %q = %v", tc.s, tc.p, got)
		}
		if got := s.overlaps(p); got != tc.overlap {
			t.Errorf("%q overlaps %q = %v", tc.s, tc.p, got)
		}
	}
}

func permServer(t *testing.T, perms *Permissions) *Server {
	return startServer(t, func(o *Options) {
		o.Users = []User{{Username: "u", Password: "p", Permissions: perms}, {Username: "admin", Password: "p"}}
	})
}

func TestPublishPermissions(t *testing.T) {
	s := permServer(t, &Permissions{Publish: SubjectPermission{Allow: []string{"orders.>"}, Deny: []string{"orders.secret"}}})
	c := dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\nSUB > 1\r\nPUB orders.new 1\r\nA\r\n")
	c.expect("MSG orders.new 1 1", "A")
	for i := 0; i < 2; i++ { // the second time from the cache
		c.send("PUB orders.secret 1\r\nB\r\n")
		c.expect(`-ERR 'Permissions Violation for Publish to "orders.secret"'`)
		c.send("PUB other 1\r\nC\r\n")
		c.expect(`-ERR 'Permissions Violation for Publish to "other"'`)
	}
	c.send("PING\r\n")
	c.expect("PONG") // the connection is kept

	// nats.go reports the violation through its error handler and stays up.
	errs := make(chan error, 4)
	nc := connect(t, s, nats.UserInfo("u", "p"), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	nc.Publish("forbidden", nil)
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Fatalf("async error %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no permission error reported")
	}
	if err := nc.Flush(); err != nil || !nc.IsConnected() {
		t.Fatalf("connection lost: %v", err)
	}
}

func TestSubscribePermissions(t *testing.T) {
	s := permServer(t, &Permissions{Subscribe: SubjectPermission{Allow: []string{"news.>", "_INBOX.>"}, Deny: []string{"news.private.*"}}})
	c := dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\nSUB other 1\r\n")
	c.expect(`-ERR 'Permissions Violation for Subscription to "other"'`)
	c.send("SUB news.private.x 2\r\n")
	c.expect(`-ERR 'Permissions Violation for Subscription to "news.private.x"'`)
	c.send("SUB > 3\r\n")
	c.expect(`-ERR 'Permissions Violation for Subscription to ">"'`)
	// A wildcard that overlaps the deny list is allowed, and the denied
	// subjects are filtered out at delivery.
	c.send("SUB news.> 4\r\nPING\r\n")
	c.expect("PONG")
	admin := connect(t, s, nats.UserInfo("admin", "p"))
	admin.Publish("news.private.x", []byte("no"))
	admin.Publish("news.public", []byte("yes"))
	admin.Flush()
	c.expect("MSG news.public 4 3", "yes")

	nc := connect(t, s, nats.UserInfo("u", "p"))
	sub, _ := nc.SubscribeSync("forbidden")
	nc.Flush()
	if err := nc.LastError(); err == nil || !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
		t.Fatalf("last error %v", err)
	}
	_ = sub
}

func TestAllowResponses(t *testing.T) {
	s := permServer(t, &Permissions{
		Subscribe: SubjectPermission{Allow: []string{"svc"}},
		Responses: &ResponsePermission{MaxMsgs: 1},
	})
	svc := connect(t, s, nats.UserInfo("u", "p"))
	svc.Subscribe("svc", func(m *nats.Msg) {
		m.Respond([]byte("first"))
		svc.Publish(m.Reply, []byte("second")) // over max: dropped
	})
	svc.Flush()
	client := connect(t, s, nats.UserInfo("admin", "p"))
	inbox := nats.NewInbox()
	replies, _ := client.SubscribeSync(inbox)
	client.PublishRequest("svc", inbox, []byte("q"))
	if m := nextMsg(t, replies); string(m.Data) != "first" {
		t.Fatalf("reply %q", m.Data)
	}
	if m, err := replies.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("second reply %q got through", m.Data)
	}
	// Without a request, the reply subject is not allowed.
	c := dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\nPUB " + inbox + " 1\r\nx\r\n")
	c.expect(`-ERR 'Permissions Violation for Publish to "` + inbox + `"'`)
}

func TestAllowResponsesExpire(t *testing.T) {
	s := permServer(t, &Permissions{Responses: &ResponsePermission{MaxMsgs: 5, Expires: 50 * time.Millisecond}})
	c := dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\nSUB svc 1\r\nPING\r\n")
	c.expect("PONG")
	admin := dialRaw(t, s)
	admin.send("CONNECT {\"verbose\":false,\"user\":\"admin\",\"pass\":\"p\"}\r\nSUB r.1 1\r\nPUB svc r.1 1\r\nq\r\nPING\r\n")
	admin.expect("PONG")
	c.expect("MSG svc 1 r.1 1", "q")
	c.send("PUB r.1 1\r\na\r\nPUB r.1 1\r\nb\r\n")
	admin.expect("MSG r.1 1 1", "a", "MSG r.1 1 1", "b")
	time.Sleep(80 * time.Millisecond)
	c.send("PUB r.1 1\r\nc\r\n")
	c.expect(`-ERR 'Permissions Violation for Publish to "r.1"'`)
}

func TestPermissionsValidation(t *testing.T) {
	o := &Options{Users: []User{{Username: "u", Password: "p", Permissions: &Permissions{Publish: SubjectPermission{Allow: []string{"foo..bar"}}}}}}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), `publish.allow: "foo..bar" is not a valid subject`) {
		t.Fatalf("Validate: %v", err)
	}
}

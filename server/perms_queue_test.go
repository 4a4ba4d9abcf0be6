package server

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// The verdicts of queue-group entries, decided without a server.
func TestQueueSubscribeVerdicts(t *testing.T) {
	ps := newPermSet(&Permissions{Subscribe: SubjectPermission{
		Allow: []string{"orders.*", "orders.audit auditors", "jobs.> workers", "tasks.> *.dev", "lit.x a.*"},
		Deny:  []string{"orders.secret", "jobs.private workers", "tasks.> intern.*"},
	}})
	tests := []struct {
		subject, queue string
		ok             bool
		filter         int // deny patterns kept for delivery
	}{
		// Plain entries allow plain and queue subscriptions.
		{"orders.new", "", true, 0},
		{"orders.new", "any", true, 0},
		// A queue entry never allows a plain subscription by itself...
		{"jobs.x", "", false, 0},
		// ... allows a queue subscription in a matching group ...
		{"jobs.x", "workers", true, 0},
		{"jobs.>", "workers", true, 1}, // overlaps jobs.private for workers
		{"jobs.x", "others", false, 0},
		// ... with wildcard queue patterns.
		{"tasks.a", "eu.dev", true, 0},
		{"tasks.a.b", "us.dev", true, 0},
		{"tasks.a", "eu.prod", false, 0},
		{"tasks.a", "dev", false, 0},
		{"tasks.a", "eu.dev.x", false, 0},
		{"tasks.a", "*.dev", true, 0}, // a group named like the pattern
		{"lit.x", "a.b", true, 0},
		{"lit.x", "a.>", false, 0}, // wider than the pattern
		// A subject covered by queue entries is restricted to their groups,
		// even where a plain entry covers it too.
		{"orders.audit", "", true, 0},
		{"orders.audit", "auditors", true, 0},
		{"orders.audit", "others", false, 0},
		// A plain deny entry denies queue subscriptions too.
		{"orders.secret", "", false, 0},
		{"orders.secret", "any", false, 0},
		// A queue deny entry denies only the groups it matches.
		{"jobs.private", "workers", false, 0},
		{"tasks.a", "intern.dev", false, 0}, // allowed by *.dev, denied by intern.*
		{"tasks.>", "intern.x", false, 0},
		{"tasks.>", "eu.dev", true, 0},
		// Nothing covers these.
		{"other", "", false, 0},
		{"other", "workers", false, 0},
	}
	for _, tc := range tests {
		ok, filter := ps.subscribeVerdict(tc.subject, tc.queue)
		if ok != tc.ok || len(filter) != tc.filter {
			t.Errorf("SUB %q queue %q: ok %v, %d filters; want %v, %d", tc.subject, tc.queue, ok, len(filter), tc.ok, tc.filter)
		}
	}

	// Deny entries alone: everything else is allowed.
	ps = newPermSet(&Permissions{Subscribe: SubjectPermission{Deny: []string{"jobs.> interns", "news.private temp"}}})
	for _, tc := range []struct {
		subject, queue string
		ok             bool
		filter         int
	}{
		{"jobs.x", "", true, 0}, {"jobs.x", "workers", true, 0}, {"jobs.x", "interns", false, 0},
		{"news.>", "temp", true, 1}, {"news.>", "", true, 0}, {"news.private", "temp", false, 0},
	} {
		ok, filter := ps.subscribeVerdict(tc.subject, tc.queue)
		if ok != tc.ok || len(filter) != tc.filter {
			t.Errorf("deny only: SUB %q queue %q: ok %v, %d filters; want %v, %d", tc.subject, tc.queue, ok, len(filter), tc.ok, tc.filter)
		}
	}
}

func TestQueueSubscribeAllow(t *testing.T) {
	s := permServer(t, &Permissions{Subscribe: SubjectPermission{
		Allow: []string{"orders.*", "orders.audit auditors", "jobs.> workers", "tasks.> *.dev"},
	}})
	c := dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\n")
	denied := []struct{ sub, err string }{
		{"SUB jobs.x 1", `-ERR 'Permissions Violation for Subscription to "jobs.x"'`},
		{"SUB jobs.x others 2", `-ERR 'Permissions Violation for Subscription to "jobs.x" using queue "others"'`},
		{"SUB tasks.a eu.prod 3", `-ERR 'Permissions Violation for Subscription to "tasks.a" using queue "eu.prod"'`},
		{"SUB tasks.a dev 4", `-ERR 'Permissions Violation for Subscription to "tasks.a" using queue "dev"'`},
		{"SUB orders.audit others 5", `-ERR 'Permissions Violation for Subscription to "orders.audit" using queue "others"'`},
	}
	for _, d := range denied {
		c.send(d.sub + "\r\n")
		c.expect(d.err)
	}
	// The connection stays open, and the allowed subscriptions work.
	c.send("SUB jobs.x workers 10\r\nSUB tasks.* eu.dev 11\r\nSUB orders.new any 12\r\nSUB orders.audit auditors 13\r\nSUB orders.audit 14\r\nPING\r\n")
	c.expect("PONG")
	admin := connect(t, s, nats.UserInfo("admin", "p"))
	for _, subj := range []string{"jobs.x", "tasks.a", "orders.new", "orders.audit"} {
		admin.Publish(subj, []byte("m"))
		admin.Flush()
		switch subj {
		case "jobs.x":
			c.expect("MSG jobs.x 10 1", "m")
		case "tasks.a":
			c.expect("MSG tasks.a 11 1", "m")
		case "orders.new":
			c.expect("MSG orders.new 12 1", "m")
		case "orders.audit": // two subscriptions: either order
			got := []string{c.readLine(), c.readLine(), c.readLine(), c.readLine()}
			joined := strings.Join(got, "|")
			if !strings.Contains(joined, "MSG orders.audit 13 1|m") || !strings.Contains(joined, "MSG orders.audit 14 1|m") {
				t.Fatalf("orders.audit deliveries %q", got)
			}
		}
	}

	// nats.go reports the refused queue subscription and stays connected.
	errs := make(chan error, 4)
	nc := connect(t, s, nats.UserInfo("u", "p"), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if _, err := nc.QueueSubscribeSync("jobs.y", "strangers"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), `using queue "strangers"`) {
			t.Fatalf("async error %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no permission error reported")
	}
	ok, _ := nc.QueueSubscribeSync("jobs.y", "workers")
	if err := nc.Flush(); err != nil || !nc.IsConnected() {
		t.Fatalf("connection lost: %v", err)
	}
	admin.Publish("jobs.y", []byte("w"))
	if m := nextMsg(t, ok); string(m.Data) != "w" {
		t.Fatalf("got %q", m.Data)
	}
}

func TestQueueSubscribeDeny(t *testing.T) {
	s := permServer(t, &Permissions{Subscribe: SubjectPermission{
		Deny: []string{"secret.>", "jobs.> interns", "jobs.> temp.*", "news.private q"},
	}})
	c := dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\n")
	denied := []struct{ sub, err string }{
		{"SUB secret.x 1", `-ERR 'Permissions Violation for Subscription to "secret.x"'`},
		{"SUB secret.x q 2", `-ERR 'Permissions Violation for Subscription to "secret.x" using queue "q"'`},
		{"SUB jobs.x interns 3", `-ERR 'Permissions Violation for Subscription to "jobs.x" using queue "interns"'`},
		{"SUB jobs.x temp.a 4", `-ERR 'Permissions Violation for Subscription to "jobs.x" using queue "temp.a"'`},
		{"SUB news.private q 5", `-ERR 'Permissions Violation for Subscription to "news.private" using queue "q"'`},
	}
	for _, d := range denied {
		c.send(d.sub + "\r\n")
		c.expect(d.err)
	}
	// Other groups and plain subscriptions are not affected.
	c.send("SUB jobs.x 10\r\nSUB jobs.x workers 11\r\nSUB jobs.x temp 12\r\nPING\r\n")
	c.expect("PONG")

	// A wildcard queue subscription overlapping a queue deny entry is made,
	// and the denied subject is filtered out at delivery, for that group
	// only.
	q := dialRaw(t, s)
	q.send("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\nSUB news.> q 1\r\nPING\r\n")
	q.expect("PONG")
	other := dialRaw(t, s)
	other.send("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\nSUB news.> r 1\r\nPING\r\n")
	other.expect("PONG")
	admin := connect(t, s, nats.UserInfo("admin", "p"))
	admin.Publish("news.private", []byte("no"))
	admin.Publish("news.public", []byte("yes"))
	admin.Flush()
	q.expect("MSG news.public 1 3", "yes")
	other.expect("MSG news.private 1 2", "no", "MSG news.public 1 3", "yes")
}

func TestReloadNarrowsQueuePermission(t *testing.T) {
	perms := func(allow ...string) *Permissions {
		return &Permissions{Subscribe: SubjectPermission{Allow: allow}}
	}
	s := startServer(t, func(o *Options) {
		o.Users = []User{{Username: "u", Password: "p", Permissions: perms("jobs.> workers", "jobs.> admins", "plain.>")}}
	})
	workers := dialRaw(t, s)
	workers.send("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\nSUB jobs.x workers 1\r\nPING\r\n")
	workers.expect("PONG")
	admins := dialRaw(t, s)
	admins.send("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\nSUB jobs.x admins 1\r\nSUB plain.x q 2\r\nPING\r\n")
	admins.expect("PONG")

	err := s.Reload(reloadOpts(s, func(o *Options) {
		o.Users = []User{{Username: "u", Password: "p", Permissions: perms("jobs.> admins", "plain.>")}}
	}))
	if err != nil {
		t.Fatal(err)
	}
	workers.expect(`-ERR 'Permissions Violation for Subscription to "jobs.x" using queue "workers"'`)
	workers.expectClosed()
	admins.send("PING\r\n")
	admins.expect("PONG")

	// A queue deny entry added by a reload closes the group it names.
	err = s.Reload(reloadOpts(s, func(o *Options) {
		p := perms("jobs.> admins", "plain.>")
		p.Subscribe.Deny = []string{"plain.* q"}
		o.Users = []User{{Username: "u", Password: "p", Permissions: p}}
	}))
	if err != nil {
		t.Fatal(err)
	}
	admins.expect(`-ERR 'Permissions Violation for Subscription to "plain.x" using queue "q"'`)
	admins.expectClosed()
}

func TestQueuePermissionsValidation(t *testing.T) {
	tests := []struct {
		perms Permissions
		want  string
	}{
		{Permissions{Publish: SubjectPermission{Allow: []string{"a b"}}}, `publish.allow: "a b": publish permissions take no queue group`},
		{Permissions{Publish: SubjectPermission{Deny: []string{"a.> q"}}}, `publish.deny: "a.> q": publish permissions take no queue group`},
		{Permissions{Subscribe: SubjectPermission{Allow: []string{"a b..c"}}}, `subscribe.allow: "a b..c": queue group "b..c" is not a valid pattern`},
		{Permissions{Subscribe: SubjectPermission{Deny: []string{"a >.b"}}}, `subscribe.deny: "a >.b": queue group ">.b" is not a valid pattern`},
		{Permissions{Subscribe: SubjectPermission{Allow: []string{"a b c"}}}, `subscribe.allow: "a b c": expected a subject and at most one queue group`},
		{Permissions{Subscribe: SubjectPermission{Allow: []string{"a..b q"}}}, `subscribe.allow: "a..b q" is not a valid subject`},
		{Permissions{Subscribe: SubjectPermission{Allow: []string{""}}}, `subscribe.allow: "" is not a valid subject`},
	}
	for _, tc := range tests {
		o := &Options{Users: []User{{Username: "u", Password: "p", Permissions: &tc.perms}}}
		err := o.Validate()
		if err == nil || !strings.Contains(err.Error(), `permissions: user "u": `+tc.want) {
			t.Errorf("%+v: %v\n want %s", tc.perms, err, tc.want)
		}
	}
	ok := &Options{Users: []User{{Username: "u", Password: "p", Permissions: &Permissions{
		Subscribe: SubjectPermission{Allow: []string{"a.> q", "b  *.dev", "c"}, Deny: []string{"a.x >"}},
	}}}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}

package server

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// twoAccounts: A exports a stream and a service; B imports both.
func twoAccounts(o *Options) {
	o.Accounts = []AccountConfig{
		{Name: "A", Users: []User{{Username: "a", Password: "a"}},
			Exports: []Export{{Stream: "events.>"}, {Service: "svc.req"}, {Service: "svc.many.*"}}},
		{Name: "B", Users: []User{{Username: "b", Password: "b"}, {Username: "b2", Password: "b"}},
			Imports: []Import{
				{Stream: &ImportSource{Account: "A", Subject: "events.>"}, Prefix: "fromA"},
				{Service: &ImportSource{Account: "A", Subject: "svc.req"}, To: "a.svc"},
				{Service: &ImportSource{Account: "A", Subject: "svc.many.*"}},
			}},
		{Name: "C", Users: []User{{Username: "c", Password: "c"}}},
	}
	o.Users = []User{{Username: "g", Password: "g"}}
}

func TestAccountsIsolated(t *testing.T) {
	s := startServer(t, twoAccounts)
	a := connect(t, s, nats.UserInfo("a", "a"))
	b := connect(t, s, nats.UserInfo("b", "b"))
	b2 := connect(t, s, nats.UserInfo("b2", "b"))
	c := connect(t, s, nats.UserInfo("c", "c"))
	g := connect(t, s, nats.UserInfo("g", "g"))
	subs := map[string]*nats.Subscription{}
	for name, nc := range map[string]*nats.Conn{"a": a, "b": b, "b2": b2, "c": c, "g": g} {
		sub, err := nc.SubscribeSync("chat")
		if err != nil {
			t.Fatal(err)
		}
		nc.Flush()
		subs[name] = sub
	}
	s.Publish("chat", "", nil, []byte("global")) // in-process: global account
	b.Publish("chat", []byte("from b"))
	b.Flush()
	if m := nextMsg(t, subs["g"]); string(m.Data) != "global" {
		t.Fatalf("g got %q", m.Data)
	}
	for _, name := range []string{"b", "b2"} {
		if m := nextMsg(t, subs[name]); string(m.Data) != "from b" {
			t.Fatalf("%s got %q", name, m.Data)
		}
	}
	for _, name := range []string{"a", "c", "g"} {
		if m, err := subs[name].NextMsg(100 * time.Millisecond); err == nil {
			t.Fatalf("%s got %q from another account", name, m.Data)
		}
	}
	// No responders is per account too.
	if _, err := c.Request("chat.nobody", nil, time.Second); err != nats.ErrNoResponders {
		t.Fatalf("request in C: %v", err)
	}
}

func TestStreamImport(t *testing.T) {
	s := startServer(t, twoAccounts)
	a := connect(t, s, nats.UserInfo("a", "a"))
	b := connect(t, s, nats.UserInfo("b", "b"))
	c := connect(t, s, nats.UserInfo("c", "c"))
	bsub, _ := b.SubscribeSync("fromA.events.>")
	plain, _ := b.SubscribeSync("events.>")
	csub, _ := c.SubscribeSync(">")
	b.Flush()
	c.Flush()
	a.Publish("events.login", []byte("joe"))
	a.Publish("other", []byte("not exported"))
	a.Flush()
	if m := nextMsg(t, bsub); m.Subject != "fromA.events.login" || string(m.Data) != "joe" {
		t.Fatalf("B got %q %q", m.Subject, m.Data)
	}
	if m, err := plain.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("B got %q without the prefix", m.Subject)
	}
	if m, err := bsub.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("B got unexported %q", m.Subject)
	}
	if m, err := csub.NextMsg(50 * time.Millisecond); err == nil {
		t.Fatalf("C got %q", m.Subject)
	}
	// Nothing flows back: B publishing on the subject stays in B.
	asub, _ := a.SubscribeSync(">")
	a.Flush()
	b.Publish("events.x", nil)
	b.Publish("fromA.events.x", nil)
	b.Flush()
	if m, err := asub.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("A got %q from B", m.Subject)
	}
}

func TestServiceImport(t *testing.T) {
	s := startServer(t, twoAccounts)
	a := connect(t, s, nats.UserInfo("a", "a"))
	b := connect(t, s, nats.UserInfo("b", "b"))
	c := connect(t, s, nats.UserInfo("c", "c"))
	a.Subscribe("svc.req", func(m *nats.Msg) {
		if !strings.HasPrefix(m.Reply, "_R_.") {
			m.Respond([]byte("reply subject leaked: " + m.Reply))
			return
		}
		m.Respond(append([]byte("hello "), m.Data...))
	})
	a.Subscribe("svc.many.*", func(m *nats.Msg) { m.Respond([]byte(m.Subject)) })
	a.Flush()
	m, err := b.Request("a.svc", []byte("bob"), 2*time.Second)
	if err != nil {
		t.Fatalf("request through service import: %v", err)
	}
	if string(m.Data) != "hello bob" {
		t.Fatalf("reply %q", m.Data)
	}
	// Old-style request (own inbox subscription) works too.
	inbox := nats.NewInbox()
	rs, _ := b.SubscribeSync(inbox)
	b.PublishRequest("svc.many.x", inbox, nil)
	if r := nextMsg(t, rs); string(r.Data) != "svc.many.x" {
		t.Fatalf("wildcard service reply %q", r.Data)
	}
	// The exported subject itself is not reachable from B, nor from C.
	if _, err := b.Request("svc.req", nil, time.Second); err != nats.ErrNoResponders {
		t.Fatalf("B on the exporter's subject: %v", err)
	}
	if _, err := c.Request("a.svc", nil, time.Second); err != nats.ErrNoResponders {
		t.Fatalf("C without the import: %v", err)
	}
	// With no responder in A, B gets no responders at once.
	a.Close()
	eventually(t, "A's subscriptions gone", func() bool {
		n := 0
		s.Subscriptions(func(subject, _ string, _ uint64) bool {
			if strings.HasPrefix(subject, "svc.") {
				n++
			}
			return true
		})
		return n == 0
	})
	if _, err := b.Request("a.svc", nil, time.Second); err != nats.ErrNoResponders {
		t.Fatalf("request with no responder: %v", err)
	}
}

func TestAccountMaxConnections(t *testing.T) {
	s := startServer(t, func(o *Options) {
		o.Accounts = []AccountConfig{{Name: "A", MaxConnections: 1, Users: []User{{Username: "a", Password: "a"}}}}
	})
	connect(t, s, nats.UserInfo("a", "a"))
	c := dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"a\"}\r\n")
	c.expect("-ERR 'maximum account active connections exceeded'")
	c.expectClosed()
	if _, err := nats.Connect(s.ClientURL(), nats.UserInfo("a", "a"), nats.NoReconnect()); err == nil {
		t.Fatal("second connection in a full account")
	}
}

func TestAccountBroker(t *testing.T) {
	s := startServer(t, twoAccounts)
	ab, err := s.Account("A")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 4)
	cancel, err := ab.Subscribe("in.a", "", func(subject, reply, hdr, data []byte) { got <- string(data) })
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	s.Publish("in.a", "", nil, []byte("global")) // a different account
	a := connect(t, s, nats.UserInfo("a", "a"))
	a.Publish("in.a", []byte("from a"))
	a.Flush()
	select {
	case m := <-got:
		if m != "from a" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("nothing delivered")
	}
	bsub, _ := connect(t, s, nats.UserInfo("b", "b")).SubscribeSync("fromA.events.x")
	time.Sleep(50 * time.Millisecond)
	if err := ab.Publish("events.x", "", nil, []byte("via broker")); err != nil {
		t.Fatal(err)
	}
	if m := nextMsg(t, bsub); string(m.Data) != "via broker" {
		t.Fatalf("import from broker publish: %q", m.Data)
	}
	// Deliver reaches the deliver subject's subscribers in the account only.
	inbox, _ := a.SubscribeSync("inbox.1")
	a.Flush()
	if err := ab.Deliver("inbox.1", "orders.1", "", nil, []byte("stored")); err != nil {
		t.Fatal(err)
	}
	if m := nextMsg(t, inbox); m.Subject != "orders.1" || string(m.Data) != "stored" {
		t.Fatalf("Deliver: %q %q", m.Subject, m.Data)
	}
	if _, err := s.Account("nope"); err == nil {
		t.Fatal("unknown account accepted")
	}
}

// AccountBroker offers what the stream layer asks of the server.
var _ interface {
	Publish(subject, reply string, hdr, data []byte) error
	Subscribe(subject, queue string, fn func(subject, reply, hdr, data []byte)) (func(), error)
	Deliver(deliver, subject, reply string, hdr, data []byte) error
} = (*AccountBroker)(nil)

func TestAccountValidation(t *testing.T) {
	cases := []struct {
		name string
		acc  []AccountConfig
		want string
	}{
		{"no export", []AccountConfig{{Name: "A"}, {Name: "B", Imports: []Import{{Stream: &ImportSource{Account: "A", Subject: "x"}}}}},
			`accounts.B: stream import of "x": account "A" exports no stream covering it to "B"`},
		{"wrong kind", []AccountConfig{{Name: "A", Exports: []Export{{Stream: "x"}}}, {Name: "B", Imports: []Import{{Service: &ImportSource{Account: "A", Subject: "x"}}}}},
			`exports no service`},
		{"not for you", []AccountConfig{{Name: "A", Exports: []Export{{Stream: "x.>", Accounts: []string{"C"}}}}, {Name: "B", Imports: []Import{{Stream: &ImportSource{Account: "A", Subject: "x.y"}}}}, {Name: "C"}},
			`to "B"`},
		{"unknown account", []AccountConfig{{Name: "B", Imports: []Import{{Stream: &ImportSource{Account: "Z", Subject: "x"}}}}}, `no account "Z"`},
		{"reserved", []AccountConfig{{Name: "$SYS"}}, "reserved"},
		{"twice", []AccountConfig{{Name: "A"}, {Name: "A"}}, "listed twice"},
		{"bad export", []AccountConfig{{Name: "A", Exports: []Export{{Stream: "a..b"}}}}, "not a valid subject"},
		{"to with wildcard", []AccountConfig{{Name: "A", Exports: []Export{{Service: "s.*"}}}, {Name: "B", Imports: []Import{{Service: &ImportSource{Account: "A", Subject: "s.*"}, To: "t"}}}}, "literal"},
		{"to with other wildcards", []AccountConfig{{Name: "A", Exports: []Export{{Service: "s.*"}}}, {Name: "B", Imports: []Import{{Service: &ImportSource{Account: "A", Subject: "s.*"}, To: "t.>"}}}}, "same wildcards"},
		{"bad response type", []AccountConfig{{Name: "A", Exports: []Export{{Service: "s", ResponseType: "many"}}}}, `response_type "many" is not "singleton", "stream" or "chunked"`},
		{"response type on a stream", []AccountConfig{{Name: "A", Exports: []Export{{Stream: "s", ResponseType: "stream"}}}}, "service exports only"},
		{"negative threshold", []AccountConfig{{Name: "A", Exports: []Export{{Service: "s", ResponseThreshold: -time.Second}}}}, "must not be negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := &Options{Accounts: tc.acc}
			if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
	// A user name is unique across accounts.
	o := &Options{Users: []User{{Username: "x", Password: "p"}}, Accounts: []AccountConfig{{Name: "A", Users: []User{{Username: "x", Password: "p"}}}}}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Fatalf("duplicate user: %v", err)
	}
}

// TestServiceImportResponseTypes: a singleton service carries one response
// back per request; a stream service carries every response until its
// response_threshold has passed.
func TestServiceImportResponseTypes(t *testing.T) {
	s := startServer(t, func(o *Options) {
		o.Accounts = []AccountConfig{
			{Name: "A", Users: []User{{Username: "a", Password: "a"}}, Exports: []Export{
				{Service: "one"},
				{Service: "many", ResponseType: ResponseStream, ResponseThreshold: time.Second},
			}},
			{Name: "B", Users: []User{{Username: "b", Password: "b"}}, Imports: []Import{
				{Service: &ImportSource{Account: "A", Subject: "one"}},
				{Service: &ImportSource{Account: "A", Subject: "many"}},
			}},
		}
	})
	a := connect(t, s, nats.UserInfo("a", "a"))
	b := connect(t, s, nats.UserInfo("b", "b"))
	replies := make(chan string, 8)
	respond := func(m *nats.Msg) {
		for i := 1; i <= 3; i++ {
			a.Publish(m.Reply, []byte{byte('0' + i)})
		}
		replies <- m.Reply
	}
	a.Subscribe("one", respond)
	a.Subscribe("many", respond)
	a.Flush()

	count := func(subject string) (int, string, *nats.Subscription) {
		t.Helper()
		inbox := nats.NewInbox()
		sub, _ := b.SubscribeSync(inbox)
		t.Cleanup(func() { sub.Unsubscribe() })
		b.PublishRequest(subject, inbox, nil)
		b.Flush()
		var reply string
		select {
		case reply = <-replies:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no request arrived", subject)
		}
		a.Flush()
		n := 0
		for {
			if _, err := sub.NextMsg(100 * time.Millisecond); err != nil {
				return n, reply, sub
			}
			n++
		}
	}
	if n, _, _ := count("one"); n != 1 {
		t.Fatalf("singleton service: %d responses", n)
	}
	n, reply, sub := count("many")
	if n != 3 {
		t.Fatalf("stream service: %d responses", n)
	}
	// Past the threshold (1s after the request) the route is gone.
	time.Sleep(1200 * time.Millisecond)
	a.Publish(reply, []byte("late"))
	a.Flush()
	if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("response after the threshold delivered: %q", m.Data)
	}
}

// TestServiceImportWildcardTo: a wildcard service import renamed by its
// "to" (how one account reaches another's JetStream API, "$JS.API.>" as
// "$JS.a.API.>") carries each request to the exporter's subject with the
// wildcard tokens kept; the reply comes back.
func TestServiceImportWildcardTo(t *testing.T) {
	s := startServer(t, func(o *Options) {
		o.Accounts = []AccountConfig{
			{Name: "A", Users: []User{{Username: "a", Password: "a"}}, Exports: []Export{{Service: "api.*.>"}}},
			{Name: "B", Users: []User{{Username: "b", Password: "b"}}, Imports: []Import{
				{Service: &ImportSource{Account: "A", Subject: "api.*.>"}, To: "ext.a.*.api.>"},
			}},
		}
	})
	a := connect(t, s, nats.UserInfo("a", "a"))
	b := connect(t, s, nats.UserInfo("b", "b"))
	if _, err := a.Subscribe("api.>", func(m *nats.Msg) { _ = m.Respond([]byte(m.Subject)) }); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	r, err := b.Request("ext.a.v1.api.stream.info", nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Data) != "api.v1.stream.info" {
		t.Fatalf("the exporter saw %q, want api.v1.stream.info", r.Data)
	}
}

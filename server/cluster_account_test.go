package server

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// accountsWithImport gives every server the same two accounts: A exports
// the stream "feed.>", B imports it under the prefix "a".
func accountsWithImport(i int, o *Options) {
	o.Accounts = []AccountConfig{
		{Name: "A", Users: []User{{Username: "a", Password: "a"}}, Exports: []Export{{Stream: "feed.>"}}},
		{Name: "B", Users: []User{{Username: "b", Password: "b"}},
			Imports: []Import{{Stream: &ImportSource{Account: "A", Subject: "feed.>"}, Prefix: "a"}}},
	}
}

// Accounts stay isolated across routes, and a stream import applies once,
// on the publisher's server: the importer's subscriber on another server
// gets each message exactly once.
func TestClusterAccountsAndImports(t *testing.T) {
	servers := startTestCluster(t, 2, accountsWithImport)
	bSub := connectTo(t, servers[1], nats.UserInfo("b", "b"))
	imported, _ := bSub.SubscribeSync("a.feed.x")
	plainB, _ := bSub.SubscribeSync("feed.x") // B's own subject space
	bSub.Flush()
	aSub := connectTo(t, servers[1], nats.UserInfo("a", "a"))
	own, _ := aSub.SubscribeSync("feed.x")
	aSub.Flush()
	acc := servers[0].lookupAccount("B")
	eventually(t, "B's interest on n1", func() bool { return len(acc.sl.Match([]byte("a.feed.x")).Plain) == 1 })
	accA := servers[0].lookupAccount("A")
	// n2's own subscriber in A, from the route: B's import may put a
	// local subscription on A's feed.x of its own, which is not it.
	eventually(t, "A's interest on n1", func() bool {
		for _, sub := range accA.sl.Match([]byte("feed.x")).Plain {
			if sub.peer != nil {
				return true
			}
		}
		return false
	})

	pub := connectTo(t, servers[0], nats.UserInfo("a", "a"))
	pub.Publish("feed.x", []byte("1"))
	pub.Flush()
	for name, sub := range map[string]*nats.Subscription{"importer": imported, "exporter": own} {
		if _, err := sub.NextMsg(5 * time.Second); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
			t.Fatalf("%s got a second copy %q", name, m.Subject)
		}
	}
	if m, err := plainB.NextMsg(200 * time.Millisecond); !errors.Is(err, nats.ErrTimeout) {
		t.Fatalf("account B's own feed.x got %v %v: accounts leak across the route", m, err)
	}
}

// Cluster settings cannot change on reload: the change is refused, not
// ignored.
func TestClusterReloadRefusesClusterChanges(t *testing.T) {
	servers := startTestCluster(t, 1, nil)
	o := servers[0].Options()
	o.Cluster.Routes = []string{"nats://127.0.0.1:1"}
	if err := servers[0].Reload(&o); !errors.Is(err, ErrNotReloadable) {
		t.Fatalf("reload with new routes: %v", err)
	}
}

// A stream consumer's delivery (Deliver: matched on the deliver subject,
// shown under the stored subject) reaches a subscriber on another server
// under the stored subject, once: a route message carries one subject,
// so it goes as a cluster-internal message (deliver_remote.go), not as
// a route message that would show the deliver subject. (It used to stay
// on its server; replicated streams serve clients anywhere.)
func TestClusterDeliverReachesOtherServers(t *testing.T) {
	servers := startTestCluster(t, 2, nil)
	remote := connectTo(t, servers[1])
	far, _ := remote.SubscribeSync("deliver.here")
	remote.Flush()
	waitInterest(t, servers[0], "deliver.here", 1)
	local := connectTo(t, servers[0])
	near, _ := local.SubscribeSync("deliver.here")
	local.Flush()
	if err := servers[0].Deliver("deliver.here", "orders.1", "", nil, []byte("x")); err != nil {
		t.Fatal(err)
	}
	m, err := near.NextMsg(5 * time.Second)
	if err != nil || m.Subject != "orders.1" {
		t.Fatalf("local delivery: %v %v", m, err)
	}
	if m, err := far.NextMsg(5 * time.Second); err != nil || m.Subject != "orders.1" || string(m.Data) != "x" {
		t.Fatalf("remote delivery: %v %v", m, err)
	}
	if m, err := far.NextMsg(300 * time.Millisecond); err == nil {
		t.Fatalf("a second copy reached the other server as %q", m.Subject)
	}
	if m, err := near.NextMsg(300 * time.Millisecond); err == nil {
		t.Fatalf("a second local copy %q", m.Subject)
	}
}

// A service import whose responder is on another server: the request is
// routed into the exporter there, and the response comes back to the
// requester's server (its "_R_.<tag>.>" interest) and on to the requester.
func TestClusterServiceImportAcrossServers(t *testing.T) {
	servers := startTestCluster(t, 2, func(i int, o *Options) {
		o.Accounts = []AccountConfig{
			{Name: "E", Users: []User{{Username: "e", Password: "e"}}, Exports: []Export{{Service: "svc.>"}}},
			{Name: "I", Users: []User{{Username: "i", Password: "i"}},
				Imports: []Import{{Service: &ImportSource{Account: "E", Subject: "svc.>"}}}},
		}
	})
	responder := connectTo(t, servers[1], nats.UserInfo("e", "e"))
	responder.Subscribe("svc.>", func(m *nats.Msg) { m.Respond(append([]byte("re:"), m.Data...)) })
	responder.Flush()
	accE := servers[0].lookupAccount("E")
	eventually(t, "E's interest on n1", func() bool { return len(accE.sl.Match([]byte("svc.x")).Plain) == 1 })
	requester := connectTo(t, servers[0], nats.UserInfo("i", "i"))
	for i := 0; i < 3; i++ {
		m, err := requester.Request("svc.x", []byte("hi"), 5*time.Second)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if string(m.Data) != "re:hi" {
			t.Fatalf("reply %q", m.Data)
		}
	}
}

// An in-process subscription made with SubscribeRouted takes messages
// published on other servers (its interest crosses the routes), and its
// cancel withdraws that interest. A plain in-process one does not.
func TestClusterSubscribeRouted(t *testing.T) {
	servers := startTestCluster(t, 2, nil)
	got := make(chan string, 4)
	cancel, err := servers[1].SubscribeRouted("captured.>", func(subject, _, _, _ []byte) { got <- string(subject) })
	if err != nil {
		t.Fatal(err)
	}
	local, err := servers[1].Subscribe("plain.>", "", func(subject, _, _, _ []byte) { got <- string(subject) })
	if err != nil {
		t.Fatal(err)
	}
	defer local()
	waitInterest(t, servers[0], "captured.x", 1)
	pub := connectTo(t, servers[0])
	pub.Publish("plain.x", nil)
	pub.Publish("captured.x", nil)
	pub.Flush()
	select {
	case s := <-got:
		if s != "captured.x" {
			t.Fatalf("got %q first", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the routed subscription got nothing")
	}
	cancel()
	eventually(t, "interest withdrawn", func() bool { return len(servers[0].sl.Match([]byte("captured.x")).Plain) == 0 })
	select {
	case s := <-got:
		t.Fatalf("got %q", s)
	case <-time.After(200 * time.Millisecond):
	}
}

// A request one server sends another's layer (SendToServer) reaches the
// handler that layer set, with its subject, reply subject and data; the
// handler of another account does not see it.
func TestClusterServerRequests(t *testing.T) {
	servers := startTestCluster(t, 2, nil)
	got := make(chan string, 2)
	servers[1].HandleServerRequests(func(subject, reply string, data []byte) { got <- subject + " " + reply + " " + string(data) })
	defer servers[1].HandleServerRequests(nil)
	eventually(t, "the route up", func() bool {
		return servers[0].SendToServer(servers[1].Name(), "1.STREAM.INFO.X", "_INBOX.r", []byte("{}")) == nil
	})
	select {
	case s := <-got:
		if s != "1.STREAM.INFO.X _INBOX.r {}" {
			t.Fatalf("got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the request did not arrive")
	}
}

// Permissions apply on the server a client is connected to, also to what
// routes bring it: a publisher's denied subject never leaves its server,
// and a wildcard subscriber does not get a routed message on a subject it
// may not subscribe to.
func TestClusterPermissionsOnClientsServer(t *testing.T) {
	servers := startTestCluster(t, 2, func(i int, o *Options) {
		o.Users = []User{
			{Username: "pub", Password: "p", Permissions: &Permissions{Publish: SubjectPermission{Deny: []string{"hidden.>"}}}},
			{Username: "sub", Password: "s", Permissions: &Permissions{Subscribe: SubjectPermission{Deny: []string{"secret.>"}}}},
			{Username: "any", Password: "x"},
		}
	})
	n1, n2 := servers[0], servers[1]
	subs := connectTo(t, n2, nats.UserInfo("sub", "s"))
	narrowed, _ := subs.SubscribeSync(">") // allowed, with secret.> filtered out
	anyone := connectTo(t, n2, nats.UserInfo("any", "x"))
	all, _ := anyone.SubscribeSync(">")
	subs.Flush()
	anyone.Flush()
	waitInterest(t, n1, "secret.x", 1)

	errs := make(chan error, 4)
	pub := connectTo(t, n1, nats.UserInfo("pub", "p"), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	pub.Publish("hidden.x", []byte("denied"))
	pub.Flush()
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "Permissions Violation for Publish") {
			t.Fatalf("publisher told %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the publisher was not told of the violation")
	}
	other := connectTo(t, n1, nats.UserInfo("any", "x"))
	other.Publish("secret.x", []byte("secret"))
	other.Publish("open.x", []byte("open"))
	other.Flush()
	for _, want := range []string{"secret.x", "open.x"} {
		m, err := all.NextMsg(5 * time.Second)
		if err != nil || m.Subject != want {
			t.Fatalf("the unrestricted subscriber: %v %v, want %s (hidden.x must not cross)", m, err, want)
		}
	}
	m, err := narrowed.NextMsg(5 * time.Second)
	if err != nil || m.Subject != "open.x" {
		t.Fatalf("the restricted subscriber: %v %v, want open.x only", m, err)
	}
}

// TestClusterSubscribeRoutedBeforeStart: a routed in-process subscription
// made before the server starts (a stream layer recovering a replicated
// stream's consumers opens first) crosses the routes once they connect,
// and one cancelled before Start never does. Without it, a restarted
// server leading a replicated stream never heard acks from clients on
// other servers (found by the stream chaos suite).
func TestClusterSubscribeRoutedBeforeStart(t *testing.T) {
	first := startTestCluster(t, 1, nil)[0]
	o := &Options{Host: "127.0.0.1", Port: -1, ServerName: "n2",
		Cluster: ClusterOptions{Name: "test", Host: "127.0.0.1", Port: -1, Routes: []string{"nats://" + first.ClusterAddr().String()}}}
	s, err := New(o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 4)
	if _, err := s.SubscribeRouted("early.>", func(subject, _, _, _ []byte) { got <- string(subject) }); err != nil {
		t.Fatal(err)
	}
	cancelled, err := s.SubscribeRouted("gone.>", func(subject, _, _, _ []byte) { got <- string(subject) })
	if err != nil {
		t.Fatal(err)
	}
	cancelled()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	waitMesh(t, []*Server{first, s})
	waitInterest(t, first, "early.x", 1)
	pub := connectTo(t, first)
	pub.Publish("gone.x", nil)
	pub.Publish("early.x", nil)
	pub.Flush()
	select {
	case subj := <-got:
		if subj != "early.x" {
			t.Fatalf("got %q first", subj)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the subscription made before Start got nothing")
	}
	if n := len(first.sl.Match([]byte("gone.x")).Plain); n != 0 {
		t.Fatalf("a subscription cancelled before Start has %d subscriptions on the other server", n)
	}
}

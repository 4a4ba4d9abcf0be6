package server

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-mq/wisp/protocol"
)

// accountA is the account every server of these tests starts with.
var accountA = AccountConfig{Name: "A", Users: []User{{Username: "a", Password: "a"}}}

// withAccountX reloads s with account X (user x) added to account A.
func withAccountX(t *testing.T, s *Server) {
	t.Helper()
	err := s.Reload(reloadOpts(s, func(o *Options) {
		o.Accounts = []AccountConfig{accountA, {Name: "X", Users: []User{{Username: "x", Password: "x"}}}}
	}))
	if err != nil {
		t.Fatalf("reload %s: %v", s.Name(), err)
	}
}

// holds reports whether r holds the peer's interest in subject of account
// name.
func (r *route) holds(name, subject string) bool {
	r.interestMu.Lock()
	defer r.interestMu.Unlock()
	_, ok := r.held[name][interestKey{subject: subject}]
	return ok
}

// heldFor counts the entries r holds for account name.
func (r *route) heldFor(name string) int {
	r.interestMu.Lock()
	defer r.interestMu.Unlock()
	return len(r.held[name])
}

// An account added by reload on one server, then on another: the first
// server's subscriptions in it, announced while the second did not have
// the account, reach the second once its reload adds it, without the
// route reconnecting.
func TestClusterReloadAddsAccountLater(t *testing.T) {
	servers := startTestCluster(t, 2, func(i int, o *Options) { o.Accounts = []AccountConfig{accountA} })
	n1, n2 := servers[0], servers[1]
	withAccountX(t, n1)
	sub := connectTo(t, n1, nats.UserInfo("x", "x"))
	got, _ := sub.SubscribeSync("x.orders")
	sub.Flush()
	toN1 := n2.cl.routeToID(n1.id)
	// n1 also announces its response subject in X when its reload adds
	// X: wait for the subscription itself.
	eventually(t, "n2 holds n1's interest in x.orders", func() bool { return toN1.holds("X", "x.orders") })

	withAccountX(t, n2)
	pub := connectTo(t, n2, nats.UserInfo("x", "x"))
	pub.Publish("x.orders", []byte("1"))
	pub.Flush()
	if m, err := got.NextMsg(5 * time.Second); err != nil || string(m.Data) != "1" {
		t.Fatalf("n1's subscriber in X: %v %v", m, err)
	}
	if n := toN1.heldFor("X"); n != 0 {
		t.Fatalf("n2 still holds %d entries for X", n)
	}
	if n2.NumRoutes() != 1 || n2.cl.routeToID(n1.id) != toN1 {
		t.Fatal("the route reconnected")
	}
}

// A service import in accounts added by reload, responder and requester on
// different servers, reloaded in either order. The requester's server
// announces its response interest ("_R_.<tag>.>") in the new accounts when
// it reloads, not only when a route registers; reloaded first, its
// announcement is held by the responder's server until that one reloads.
// Reloaded second, it has already heard of the accounts from the other
// server (its routable system responders) while not having them, and must
// not go on treating them as unknown.
func TestClusterReloadAddsServiceImport(t *testing.T) {
	for _, requesterFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("requester_first=%v", requesterFirst), func(t *testing.T) {
			servers := startTestCluster(t, 2, func(i int, o *Options) { o.Accounts = []AccountConfig{accountA} })
			n1, n2 := servers[0], servers[1] // requester's, responder's
			addService := func(s *Server) {
				t.Helper()
				err := s.Reload(reloadOpts(s, func(o *Options) {
					o.Accounts = []AccountConfig{accountA,
						{Name: "E", Users: []User{{Username: "e", Password: "e"}}, Exports: []Export{{Service: "svc.>"}}},
						{Name: "I", Users: []User{{Username: "i", Password: "i"}},
							Imports: []Import{{Service: &ImportSource{Account: "E", Subject: "svc.>"}}}},
					}
				}))
				if err != nil {
					t.Fatalf("reload %s: %v", s.Name(), err)
				}
			}
			if requesterFirst {
				addService(n1)
				addService(n2)
			} else {
				addService(n2)
				addService(n1)
			}
			responder := connectTo(t, n2, nats.UserInfo("e", "e"))
			responder.Subscribe("svc.>", func(m *nats.Msg) { m.Respond(append([]byte("re:"), m.Data...)) })
			responder.Flush()
			accE := n1.lookupAccount("E")
			eventually(t, "E's interest on n1", func() bool { return len(accE.sl.Match([]byte("svc.x")).Plain) == 1 })
			requester := connectTo(t, n1, nats.UserInfo("i", "i"))
			m, err := requester.Request("svc.x", []byte("hi"), 5*time.Second)
			if err != nil || string(m.Data) != "re:hi" {
				t.Fatalf("request: %v %v", m, err)
			}
		})
	}
}

// What a route holds for unknown accounts is bounded, honours RS-, and is
// dropped when the route ends.
func TestClusterRouteHeldInterestBounded(t *testing.T) {
	servers := startTestCluster(t, 2, nil)
	r := servers[1].cl.routeToID(servers[0].id)
	r.interestMu.Lock()
	for i := 0; i < maxHeldAccounts+10; i++ {
		r.hold(fmt.Sprintf("acc%d", i), interestKey{subject: "s"}, 0)
	}
	if len(r.held) != maxHeldAccounts || !r.heldCapped {
		t.Fatalf("held %d accounts (capped %v), want %d", len(r.held), r.heldCapped, maxHeldAccounts)
	}
	for i := 0; i < maxHeldSubjects+10; i++ {
		r.hold("acc0", interestKey{subject: fmt.Sprintf("s.%d", i)}, 0)
	}
	if r.heldSubs != maxHeldSubjects {
		t.Fatalf("held %d subjects, want %d", r.heldSubs, maxHeldSubjects)
	}
	r.hold("acc0", interestKey{subject: "s"}, 0) // already held: no change
	r.unhold("acc1", interestKey{subject: "s"})
	r.unhold("acc1", interestKey{subject: "s"}) // twice: no change
	if r.heldSubs != maxHeldSubjects-1 || r.held["acc1"] != nil {
		t.Fatalf("after RS-: %d subjects, acc1 %v", r.heldSubs, r.held["acc1"])
	}
	r.interestMu.Unlock()

	r.c.close(closeServerShutdown, "")
	<-r.done
	r.interestMu.Lock()
	defer r.interestMu.Unlock()
	if r.held != nil || r.heldSubs != 0 {
		t.Fatalf("after the route ended: %d accounts, %d subjects held", len(r.held), r.heldSubs)
	}
}

// sendRMsg queues an RMSG on r as r's server would forward a message: a
// route may carry a message for an account its peer has just removed,
// sent on interest announced before the removal.
func sendRMsg(t *testing.T, r *route, account, subject, payload string) {
	t.Helper()
	frame := protocol.AppendRMsg(nil, []byte(account), []byte(subject), nil, nil, 0, []byte(payload))
	o := &r.c.out
	o.mu.Lock()
	if o.closing {
		o.mu.Unlock()
		t.Fatalf("route to %s is closing", r.remoteName())
	}
	o.appendBytes(frame)
	o.queued(int64(len(frame)), 1, int64(len(payload))) // unlocks mu
	o.kickWriter()
}

// A reload that removes an account: a message for it that arrives over a
// route afterwards is not delivered to the subscribers the removed account
// still had, though the route had the account cached; and once a reload
// adds an account of that name again, the route delivers to the new one.
func TestClusterRouteDropsRemovedAccount(t *testing.T) {
	accountX := AccountConfig{Name: "X", Users: []User{{Username: "x", Password: "x"}}}
	servers := startTestCluster(t, 2, func(i int, o *Options) { o.Accounts = []AccountConfig{accountA, accountX} })
	n1, n2 := servers[0], servers[1]
	toN2 := n1.cl.routeToID(n2.id)

	// A subscriber the removed account keeps: in use, a client of it
	// whose close the reload started but the reader has not finished, so
	// still in the account's index. A routable internal subscription
	// stays put, which makes the test exact.
	var oldX atomic.Int32
	sub, err := n2.subscribeSystem(n2.lookupAccount("X"), "x.orders", true, func(_ *conn, _, _, _ []byte) { oldX.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer n2.unsubscribeSystem(sub)
	sendRMsg(t, toN2, "X", "x.orders", "1")
	eventually(t, "the first message in X on n2", func() bool { return oldX.Load() == 1 })

	err = n2.Reload(reloadOpts(n2, func(o *Options) { o.Accounts = []AccountConfig{accountA} }))
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	mark := connectTo(t, n2, nats.UserInfo("a", "a"))
	marks, _ := mark.SubscribeSync("a.mark")
	mark.Flush()
	// The route delivers in order: once the mark in A is in, the message
	// in X before it has been handled.
	sendRMsg(t, toN2, "X", "x.orders", "2")
	sendRMsg(t, toN2, "A", "a.mark", "m")
	if _, err := marks.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("mark: %v", err)
	}
	if n := oldX.Load(); n != 1 {
		t.Fatalf("the removed account's subscriber got %d messages, want 1", n)
	}

	err = n2.Reload(reloadOpts(n2, func(o *Options) { o.Accounts = []AccountConfig{accountA, accountX} }))
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	nc := connectTo(t, n2, nats.UserInfo("x", "x"))
	got, _ := nc.SubscribeSync("x.orders")
	nc.Flush()
	sendRMsg(t, toN2, "X", "x.orders", "3")
	if m, err := got.NextMsg(5 * time.Second); err != nil || string(m.Data) != "3" {
		t.Fatalf("the re-added account's subscriber: %v %v", m, err)
	}
	if n := oldX.Load(); n != 1 {
		t.Fatalf("the removed account's subscriber got %d messages, want 1", n)
	}
}

// A peer's interest in an account a reload removes is held, as for an
// account never had, and applies to the account a later reload adds under
// that name: the peer's subscribers get its messages again without the
// route reconnecting.
func TestClusterReloadRemovesThenAddsAccount(t *testing.T) {
	accountX := AccountConfig{Name: "X", Users: []User{{Username: "x", Password: "x"}}}
	servers := startTestCluster(t, 2, func(i int, o *Options) { o.Accounts = []AccountConfig{accountA, accountX} })
	n1, n2 := servers[0], servers[1]
	sub := connectTo(t, n1, nats.UserInfo("x", "x"))
	got, _ := sub.SubscribeSync("x.orders")
	sub.Flush()
	toN1 := n2.cl.routeToID(n1.id)
	oldX := n2.lookupAccount("X")
	eventually(t, "n1's interest in X on n2", func() bool { return len(oldX.sl.Match([]byte("x.orders")).Plain) == 1 })
	resp := []byte(n2.respSubjectPrefix() + "x")
	n1X := n1.lookupAccount("X")
	if len(n1X.sl.Match(resp).Plain) != 1 {
		t.Fatal("n2's interest in responses in X is not on n1")
	}

	err := n2.Reload(reloadOpts(n2, func(o *Options) { o.Accounts = []AccountConfig{accountA} }))
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if !toN1.holds("X", "x.orders") || len(oldX.sl.Match([]byte("x.orders")).Plain) != 0 {
		t.Fatal("n1's interest in the removed account is not held")
	}
	// n2 withdraws its interest in responses in X, which it announced
	// when the route registered: n1 stops routing them to it.
	eventually(t, "n2's response interest in X withdrawn on n1", func() bool { return len(n1X.sl.Match(resp).Plain) == 0 })
	err = n2.Reload(reloadOpts(n2, func(o *Options) { o.Accounts = []AccountConfig{accountA, accountX} }))
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	pub := connectTo(t, n2, nats.UserInfo("x", "x"))
	pub.Publish("x.orders", []byte("after"))
	pub.Flush()
	if m, err := got.NextMsg(5 * time.Second); err != nil || string(m.Data) != "after" {
		t.Fatalf("n1's subscriber in X: %v %v", m, err)
	}
	if n2.cl.routeToID(n1.id) != toN1 {
		t.Fatal("the route reconnected")
	}
}

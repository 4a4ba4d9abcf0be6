package stream_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/stream"
)

// rawPull sends a pull request with body to the consumer and returns the
// subscription its answers arrive on.
func rawPull(t *testing.T, n *node, streamName, cons, body string) *nats.Subscription {
	t.Helper()
	inbox := nats.NewInbox()
	sub, err := n.nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := n.nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT."+streamName+"."+cons, inbox, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := n.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return sub
}

// nextOn waits for the next message on sub.
func nextOn(t *testing.T, sub *nats.Subscription) *nats.Msg {
	t.Helper()
	m, err := sub.NextMsg(15 * time.Second)
	if err != nil {
		t.Fatalf("waiting on %s: %v", sub.Subject, err)
	}
	return m
}

// pinAdv is the pinned/unpinned advisory as a client reads it.
type pinAdv struct {
	Type     string `json:"type"`
	Stream   string `json:"stream"`
	Consumer string `json:"consumer"`
	Group    string `json:"group"`
	PinnedID string `json:"pinned_id"`
	Reason   string `json:"reason"`
}

func nextPinAdv(t *testing.T, sub *nats.Subscription) pinAdv {
	t.Helper()
	var a pinAdv
	if err := json.Unmarshal(nextOn(t, sub).Data, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

func pinnedID(t *testing.T, c jetstream.Consumer) string {
	t.Helper()
	ci := info(t, c)
	if len(ci.PriorityGroups) != 1 {
		t.Fatalf("priority_groups %+v", ci.PriorityGroups)
	}
	return ci.PriorityGroups[0].PinnedClientID
}

// TestE2EPriorityPinnedClient: the first client to pull is pinned and
// gets every message with its Nats-Pin-Id; another client waits, and one
// with a wrong id is refused with 423. When the pinned client sends no
// request for priority_timeout the pin moves to the waiting one (with
// the unpinned and pinned advisories), and the old client's next fetch
// fails with ErrPinIDMismatch. CONSUMER.UNPIN ends a pin at once.
func TestE2EPriorityPinnedClient(t *testing.T) {
	clock := stream.NewFakeClock(time.Now())
	n := startNodeWith(t, stream.Options{StoreDir: t.TempDir(), Clock: clock})
	s := mkStream(t, n, jetstream.StreamConfig{Name: "PIN", Subjects: []string{"pin"}}, 6)
	cfg := jetstream.ConsumerConfig{Durable: "C", PriorityPolicy: jetstream.PriorityPolicyPinned,
		PriorityGroups: []string{"jobs"}, PinnedTTL: 10 * time.Second, AckPolicy: jetstream.AckExplicitPolicy}
	a := pullConsumer(t, s, cfg)
	pinned, err := n.nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.PINNED.PIN.C")
	if err != nil {
		t.Fatal(err)
	}
	unpinned, err := n.nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.UNPINNED.PIN.C")
	if err != nil {
		t.Fatal(err)
	}
	if id := pinnedID(t, a); id != "" {
		t.Fatalf("pinned before any pull: %q", id)
	}

	b, err := a.Fetch(2, jetstream.FetchPriorityGroup("jobs"), jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var pin string
	got := 0
	for m := range b.Messages() {
		got++
		if pin = m.Headers().Get("Nats-Pin-Id"); pin == "" {
			t.Fatalf("message without Nats-Pin-Id: %v", m.Headers())
		}
		_ = m.Ack()
	}
	if got != 2 {
		t.Fatalf("pinned client got %d, want 2 (%v)", got, b.Error())
	}
	if adv := nextPinAdv(t, pinned); adv.PinnedID != pin || adv.Group != "jobs" || adv.Stream != "PIN" || adv.Consumer != "C" {
		t.Fatalf("pinned advisory %+v, pin %q", adv, pin)
	}
	if id := pinnedID(t, a); id != pin {
		t.Fatalf("info pinned_client_id %q, want %q", id, pin)
	}

	// A request without the id waits; one with another id is refused.
	other := rawPull(t, n, "PIN", "C", `{"batch":1,"expires":3600000000000,"group":"jobs"}`)
	wrong := rawPull(t, n, "PIN", "C", `{"batch":1,"expires":3600000000000,"group":"jobs","id":"not-the-pin"}`)
	if m := nextOn(t, wrong); m.Header.Get("Status") != "423" || m.Header.Get("Description") != "Nats-Pin-Id mismatch" {
		t.Fatalf("wrong pin answered %v", m.Header)
	}
	// The pinned client keeps being served while the other waits (its
	// request arrived first: round robin would have served it).
	b, err = a.Fetch(1, jetstream.FetchPriorityGroup("jobs"), jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range b.Messages() {
		if m.Headers().Get("Nats-Pin-Id") != pin {
			t.Fatalf("pin changed to %q", m.Headers().Get("Nats-Pin-Id"))
		}
		_ = m.Ack()
		got++
	}
	if got != 3 {
		t.Fatalf("pinned client got %d in all, want 3", got)
	}
	if m, err := other.NextMsg(50 * time.Millisecond); err == nil {
		t.Fatalf("unpinned client served while the pin holds: %v %s", m.Header, m.Data)
	}

	// The pinned client goes quiet: after priority_timeout the waiting
	// client takes the pin.
	clock.Advance(10 * time.Second)
	if adv := nextPinAdv(t, unpinned); adv.Reason != "timeout" || adv.Group != "jobs" {
		t.Fatalf("unpinned advisory %+v", adv)
	}
	m := nextOn(t, other)
	pin2 := m.Header.Get("Nats-Pin-Id")
	if pin2 == "" || pin2 == pin || len(m.Data) == 0 {
		t.Fatalf("failover delivery: header %v data %q (old pin %q)", m.Header, m.Data, pin)
	}
	_ = m.Ack()
	if adv := nextPinAdv(t, pinned); adv.PinnedID != pin2 {
		t.Fatalf("second pinned advisory %+v, want %q", adv, pin2)
	}
	// The old client's stale id is refused; nats.go forgets it.
	b, err = a.Fetch(1, jetstream.FetchPriorityGroup("jobs"), jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for range b.Messages() {
		t.Fatal("the old pin was served")
	}
	if !errors.Is(b.Error(), jetstream.ErrPinIDMismatch) {
		t.Fatalf("old pin fetch: %v, want ErrPinIDMismatch", b.Error())
	}

	// An administrator unpins; the next request without an id is pinned.
	if err := s.UnpinConsumer(ctx(t), "C", "jobs"); err != nil {
		t.Fatal(err)
	}
	if adv := nextPinAdv(t, unpinned); adv.Reason != "admin" {
		t.Fatalf("admin unpinned advisory %+v", adv)
	}
	if id := pinnedID(t, a); id != "" {
		t.Fatalf("pinned after unpin: %q", id)
	}
	b, err = a.Fetch(1, jetstream.FetchPriorityGroup("jobs"), jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range b.Messages() {
		if p := m.Headers().Get("Nats-Pin-Id"); p == "" || p == pin || p == pin2 {
			t.Fatalf("pin after unpin %q", p)
		}
		_ = m.Ack()
		got++
	}
	if got != 4 {
		t.Fatalf("got %d after unpin, want 4 in all (%v)", got, b.Error())
	}
	if err := s.UnpinConsumer(ctx(t), "C", "other"); apiErrCode(err) != 10160 {
		t.Fatalf("unpin of an unknown group: %v", err)
	}
}

// TestE2EPriorityOverflow: a request with min_pending or min_ack_pending
// is served only while the consumer is that far behind; plain requests
// are served as usual.
func TestE2EPriorityOverflow(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "OV", Subjects: []string{"ov"}}, 3)
	cons := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "C", PriorityPolicy: jetstream.PriorityPolicyOverflow,
		PriorityGroups: []string{"jobs"}, AckPolicy: jetstream.AckExplicitPolicy})
	standby := rawPull(t, n, "OV", "C", `{"batch":10,"expires":60000000000,"group":"jobs","min_pending":5}`)
	// 3 pending, fewer than 5: the plain request gets them all.
	b, err := cons.Fetch(3, jetstream.FetchPriorityGroup("jobs"), jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var held []jetstream.Msg
	for m := range b.Messages() {
		held = append(held, m)
	}
	if len(held) != 3 {
		t.Fatalf("plain request got %d, want 3 (%v)", len(held), b.Error())
	}
	if m, err := standby.NextMsg(50 * time.Millisecond); err == nil {
		t.Fatalf("overflow request served below min_pending: %v %s", m.Header, m.Data)
	}
	// 5 more: now 5 are pending, and the standby request helps until
	// fewer than 5 are left.
	for i := 0; i < 5; i++ {
		if _, err := n.js.Publish(ctx(t), "ov", []byte("more")); err != nil {
			t.Fatal(err)
		}
	}
	if m := nextOn(t, standby); m.Header.Get("Status") != "" || string(m.Data) != "more" {
		t.Fatalf("standby got %v %q", m.Header, m.Data)
	}
	if m, err := standby.NextMsg(50 * time.Millisecond); err == nil {
		t.Fatalf("standby served below min_pending: %v %s", m.Header, m.Data)
	}
	// min_ack_pending: 3 are awaiting acks here.
	acking := rawPull(t, n, "OV", "C", `{"batch":1,"expires":60000000000,"group":"jobs","min_ack_pending":4}`)
	if m := nextOn(t, acking); m.Header.Get("Status") != "" {
		t.Fatalf("min_ack_pending request got %v", m.Header)
	}
	for _, m := range held {
		_ = m.Ack()
	}
}

// TestE2EPriorityPrioritized: the waiting request with the lowest
// priority number is served first, whatever the arrival order.
func TestE2EPriorityPrioritized(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "PZ", Subjects: []string{"pz"}}, 0)
	cons := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "C", PriorityPolicy: jetstream.PriorityPolicyPrioritized,
		PriorityGroups: []string{"jobs"}, AckPolicy: jetstream.AckExplicitPolicy})
	low := rawPull(t, n, "PZ", "C", `{"batch":5,"expires":60000000000,"group":"jobs","priority":5}`)
	high := rawPull(t, n, "PZ", "C", `{"batch":2,"expires":60000000000,"group":"jobs","priority":1}`)
	waitFor(t, func() bool { return info(t, cons).NumWaiting == 2 })
	for i := 0; i < 3; i++ {
		if _, err := n.js.Publish(ctx(t), "pz", []byte(strconv.Itoa(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"1", "2"} {
		if m := nextOn(t, high); string(m.Data) != want {
			t.Fatalf("priority 1 got %v %q, want %q", m.Header, m.Data, want)
		}
	}
	if m := nextOn(t, low); string(m.Data) != "3" {
		t.Fatalf("priority 5 got %v %q, want 3", m.Header, m.Data)
	}
}

// TestE2EPriorityErrors: configurations and pull requests nats-server
// refuses, with its codes and statuses.
func TestE2EPriorityErrors(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "PE", Subjects: []string{"pe"}}, 0)
	for _, tc := range []struct {
		cfg  jetstream.ConsumerConfig
		code jetstream.ErrorCode
	}{
		{jetstream.ConsumerConfig{PriorityPolicy: jetstream.PriorityPolicyOverflow}, 10159},
		{jetstream.ConsumerConfig{PriorityPolicy: jetstream.PriorityPolicyOverflow, PriorityGroups: []string{""}}, 10161},
		{jetstream.ConsumerConfig{PriorityPolicy: jetstream.PriorityPolicyOverflow, PriorityGroups: []string{"a.b"}}, 10162},
		{jetstream.ConsumerConfig{PriorityPolicy: jetstream.PriorityPolicyOverflow, PriorityGroups: []string{"seventeen-chars-x"}}, 10162},
		{jetstream.ConsumerConfig{PriorityPolicy: jetstream.PriorityPolicyOverflow, PriorityGroups: []string{"g"}, DeliverSubject: "pe-push"}, 10178},
		{jetstream.ConsumerConfig{PriorityGroups: []string{"g"}}, 10196},
		{jetstream.ConsumerConfig{PinnedTTL: time.Second}, 10197},
	} {
		if _, err := s.CreateConsumer(ctx(t), tc.cfg); apiErrCode(err) != tc.code {
			t.Errorf("%+v: %v, want %d", tc.cfg, err, tc.code)
		}
	}
	var r rawInfo
	apiCall(t, n, "CONSUMER.CREATE.PE.X", `{"stream_name":"PE","config":{"name":"X","priority_groups":["g"],"priority_policy":"loudest"}}`, &r)
	if r.Error == nil || r.Error.ErrCode != 10025 {
		t.Fatalf("unknown policy: %+v", r.Error)
	}
	// priority_timeout defaults to 2 minutes for a pinned consumer.
	pin := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "PIN", PriorityPolicy: jetstream.PriorityPolicyPinned, PriorityGroups: []string{"g"}})
	if ci := info(t, pin); ci.Config.PinnedTTL != 2*time.Minute {
		t.Fatalf("default priority_timeout %v", ci.Config.PinnedTTL)
	}
	pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "PLAIN"})
	pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "OVF", PriorityPolicy: jetstream.PriorityPolicyOverflow, PriorityGroups: []string{"g"}})
	for _, tc := range []struct{ cons, body, status, desc string }{
		{"PLAIN", `{"batch":1,"min_pending":3}`, "400", "Bad Request - Not a Overflow Priority consumer"},
		{"PLAIN", `{"batch":1,"id":"x"}`, "400", "Bad Request - Not a Pinned Client Priority consumer"},
		{"OVF", `{"batch":1,"group":"g","priority":10}`, "400", "Bad Request - Priority must be between 0 and 9"},
		{"OVF", `{"batch":1}`, "400", "Bad Request - Priority Group missing"},
		{"OVF", `{"batch":1,"group":"h"}`, "400", "Bad Request - Invalid Priority Group"},
		{"OVF", `{"batch":1,"group":"g","id":"x"}`, "400", "Bad Request - Not a Pinned Client Priority consumer"},
	} {
		m := nextOn(t, rawPull(t, n, "PE", tc.cons, tc.body))
		if m.Header.Get("Status") != tc.status || m.Header.Get("Description") != tc.desc {
			t.Errorf("%s %s: %v, want %s %s", tc.cons, tc.body, m.Header, tc.status, tc.desc)
		}
	}
	var u struct {
		Error *struct {
			ErrCode int `json:"err_code"`
		} `json:"error"`
	}
	for body, code := range map[string]int{`{}`: 10025, ``: 10025, `{"group":"bad name"}`: 10162, `{"group":"h"}`: 10160} {
		u.Error = nil
		apiCall(t, n, "CONSUMER.UNPIN.PE.PIN", body, &u)
		if u.Error == nil || u.Error.ErrCode != code {
			t.Errorf("unpin %q: %+v, want %d", body, u.Error, code)
		}
	}
	u.Error = nil
	apiCall(t, n, "CONSUMER.UNPIN.PE.NOPE", `{"group":"g"}`, &u)
	if u.Error == nil || u.Error.ErrCode != 10014 {
		t.Errorf("unpin of a missing consumer: %+v", u.Error)
	}
}

// TestE2EPriorityPinnedConsume: two nats.go Consume loops on one pinned
// consumer; only the pinned one gets messages. When it stops, the other
// takes over once priority_timeout has passed. After a restart the
// consumer starts unpinned.
func TestE2EPriorityPinnedConsume(t *testing.T) {
	dir := t.TempDir()
	clock := stream.NewFakeClock(time.Now())
	n := startNodeWith(t, stream.Options{StoreDir: dir, Clock: clock})
	s := mkStream(t, n, jetstream.StreamConfig{Name: "PC", Subjects: []string{"pc"}}, 0)
	pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "C", PriorityPolicy: jetstream.PriorityPolicyPinned,
		PriorityGroups: []string{"jobs"}, PinnedTTL: 5 * time.Second, AckPolicy: jetstream.AckExplicitPolicy})
	unpinned, err := n.nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.UNPINNED.PC.C")
	if err != nil {
		t.Fatal(err)
	}
	got := [2]chan string{make(chan string, 100), make(chan string, 100)}
	var ccs [2]jetstream.ConsumeContext
	for i := range ccs {
		h, err := s.Consumer(ctx(t), "C") // its own handle: its own pin id
		if err != nil {
			t.Fatal(err)
		}
		ch := got[i]
		cc, err := h.Consume(func(m jetstream.Msg) {
			_ = m.Ack()
			ch <- string(m.Data())
		}, jetstream.PullPriorityGroup("jobs"))
		if err != nil {
			t.Fatal(err)
		}
		ccs[i] = cc
		defer cc.Stop()
	}
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := n.js.Publish(ctx(t), "pc", []byte(strconv.Itoa(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	receive := func(ch chan string, count int) {
		t.Helper()
		for i := 0; i < count; i++ {
			select {
			case <-ch:
			case <-time.After(15 * time.Second):
				t.Fatalf("received %d of %d", i, count)
			}
		}
	}
	publish(0, 10)
	var first int
	select {
	case <-got[0]:
		first = 0
	case <-got[1]:
		first = 1
	case <-time.After(15 * time.Second):
		t.Fatal("nothing delivered")
	}
	receive(got[first], 9)
	if len(got[1-first]) != 0 {
		t.Fatalf("the unpinned client got %d messages", len(got[1-first]))
	}
	ccs[first].Stop()
	// Each request from the pinned client restarts its timeout, so move
	// the clock until the timeout fires after its last one.
	deadline := time.Now().Add(30 * time.Second)
	for {
		clock.Advance(5 * time.Second)
		if _, err := unpinned.NextMsg(500 * time.Millisecond); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pin never timed out")
		}
	}
	publish(10, 15)
	receive(got[1-first], 5)

	ccs[1-first].Stop()
	n.stop()
	n = startNodeWith(t, stream.Options{StoreDir: dir, Clock: stream.NewFakeClock(time.Now())})
	s2, err := n.js.Stream(ctx(t), "PC")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := s2.Consumer(ctx(t), "C")
	if err != nil {
		t.Fatal(err)
	}
	if id := pinnedID(t, c2); id != "" {
		t.Fatalf("pinned after a restart: %q", id)
	}
}

// TestE2EPriorityNoWaitPassedOver: a no_wait request the policy does not
// serve now ends at once (404) instead of waiting.
func TestE2EPriorityNoWaitPassedOver(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "NW", Subjects: []string{"nw"}}, 2)
	pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "C", PriorityPolicy: jetstream.PriorityPolicyOverflow,
		PriorityGroups: []string{"jobs"}, AckPolicy: jetstream.AckExplicitPolicy})
	m := nextOn(t, rawPull(t, n, "NW", "C", `{"batch":1,"no_wait":true,"group":"jobs","min_pending":5}`))
	if m.Header.Get("Status") != "404" {
		t.Fatalf("no_wait below min_pending: %v %q", m.Header, m.Data)
	}
}

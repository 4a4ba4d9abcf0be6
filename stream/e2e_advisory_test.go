package stream_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/stream"
)

// The advisory bodies with nats-server's field names, as jsm.go and the
// nats CLI decode them.
type actionAdv struct {
	Type     string    `json:"type"`
	ID       string    `json:"id"`
	Time     time.Time `json:"timestamp"`
	Stream   string    `json:"stream"`
	Consumer string    `json:"consumer"`
	Action   string    `json:"action"`
}

type auditAdv struct {
	Type   string    `json:"type"`
	ID     string    `json:"id"`
	Time   time.Time `json:"timestamp"`
	Server string    `json:"server"`
	Client struct {
		Account string `json:"acc"`
	} `json:"client"`
	Subject  string `json:"subject"`
	Request  string `json:"request"`
	Response string `json:"response"`
}

// advisories subscribes to every JetStream advisory.
func advisories(t *testing.T, n *node) *nats.Subscription {
	t.Helper()
	sub, err := n.nc.SubscribeSync("$JS.EVENT.ADVISORY.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return sub
}

// nextAction returns the next stream or consumer advisory, skipping the
// API audit records between them.
func nextAction(t *testing.T, sub *nats.Subscription) (string, actionAdv) {
	t.Helper()
	for {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("no advisory: %v", err)
		}
		if m.Subject == "$JS.EVENT.ADVISORY.API" {
			continue
		}
		var a actionAdv
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatalf("advisory %s: %v", m.Data, err)
		}
		if a.ID == "" || a.Time.IsZero() {
			t.Fatalf("advisory without id or timestamp: %s", m.Data)
		}
		return m.Subject, a
	}
}

// noAction checks that no stream or consumer advisory is waiting; the
// audit record of the call that must not make one comes after it would.
func noAction(t *testing.T, sub *nats.Subscription, afterSubject string) {
	t.Helper()
	for {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("no audit record for %s: %v", afterSubject, err)
		}
		if m.Subject != "$JS.EVENT.ADVISORY.API" {
			t.Fatalf("unexpected advisory %s %s", m.Subject, m.Data)
		}
		var a auditAdv
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatal(err)
		}
		if a.Subject == afterSubject {
			return
		}
	}
}

// TestE2EAdvisoryStreamActions: creating, updating and deleting a stream
// each publish nats-server's stream_action advisory; creating it again
// with the same config publishes none.
func TestE2EAdvisoryStreamActions(t *testing.T) {
	n := startNode(t, t.TempDir())
	sub := advisories(t, n)
	c := ctx(t)
	cfg := jetstream.StreamConfig{Name: "SA", Subjects: []string{"sa.>"}}
	if _, err := n.js.CreateStream(c, cfg); err != nil {
		t.Fatal(err)
	}
	want := func(subject, action string) {
		t.Helper()
		got, a := nextAction(t, sub)
		if got != subject || a.Type != "io.nats.jetstream.advisory.v1.stream_action" || a.Stream != "SA" || a.Action != action {
			t.Fatalf("got %s %+v, want %s action %s", got, a, subject, action)
		}
	}
	want("$JS.EVENT.ADVISORY.STREAM.CREATED.SA", "create")
	if _, err := n.js.CreateStream(c, cfg); err != nil {
		t.Fatal(err)
	}
	noAction(t, sub, "$JS.API.STREAM.CREATE.SA")
	cfg.MaxMsgs = 10
	if _, err := n.js.UpdateStream(c, cfg); err != nil {
		t.Fatal(err)
	}
	want("$JS.EVENT.ADVISORY.STREAM.UPDATED.SA", "modify")
	if err := n.js.DeleteStream(c, "SA"); err != nil {
		t.Fatal(err)
	}
	want("$JS.EVENT.ADVISORY.STREAM.DELETED.SA", "delete")
}

// TestE2EAdvisoryConsumerActions: creating and deleting a consumer each
// publish consumer_action; an update publishes none, and deleting the
// stream deletes its consumers first, as in nats-server.
func TestE2EAdvisoryConsumerActions(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := ctx(t)
	if _, err := n.js.CreateStream(c, jetstream.StreamConfig{Name: "CA", Subjects: []string{"ca.>"}}); err != nil {
		t.Fatal(err)
	}
	sub := advisories(t, n)
	want := func(subject, action string) {
		t.Helper()
		got, a := nextAction(t, sub)
		if got != subject || a.Type != "io.nats.jetstream.advisory.v1.consumer_action" || a.Stream != "CA" ||
			a.Consumer != "D" || a.Action != action {
			t.Fatalf("got %s %+v, want %s action %s", got, a, subject, action)
		}
	}
	cfg := jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy}
	if _, err := n.js.CreateConsumer(c, "CA", cfg); err != nil {
		t.Fatal(err)
	}
	want("$JS.EVENT.ADVISORY.CONSUMER.CREATED.CA.D", "create")
	cfg.Description = "changed"
	if _, err := n.js.UpdateConsumer(c, "CA", cfg); err != nil {
		t.Fatal(err)
	}
	noAction(t, sub, "$JS.API.CONSUMER.CREATE.CA.D")
	if err := n.js.DeleteConsumer(c, "CA", "D"); err != nil {
		t.Fatal(err)
	}
	want("$JS.EVENT.ADVISORY.CONSUMER.DELETED.CA.D", "delete")

	// Deleting the stream announces its consumers' deletion first.
	if _, err := n.js.CreateConsumer(c, "CA", cfg); err != nil {
		t.Fatal(err)
	}
	want("$JS.EVENT.ADVISORY.CONSUMER.CREATED.CA.D", "create")
	if err := n.js.DeleteStream(c, "CA"); err != nil {
		t.Fatal(err)
	}
	want("$JS.EVENT.ADVISORY.CONSUMER.DELETED.CA.D", "delete")
	if got, a := nextAction(t, sub); got != "$JS.EVENT.ADVISORY.STREAM.DELETED.CA" || a.Action != "delete" {
		t.Fatalf("got %s %+v after the consumer's deletion", got, a)
	}
}

// TestE2EAdvisoryAPIAudit: every JetStream API call publishes an api_audit
// record with the server name, the account, the subject, the request
// (left out when empty) and the reply, errors included.
func TestE2EAdvisoryAPIAudit(t *testing.T) {
	n := startNodeWith(t, stream.Options{StoreDir: t.TempDir(), ServerName: "audit-srv", Account: "$G"})
	sub, err := n.nc.SubscribeSync("$JS.EVENT.ADVISORY.API")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	c := ctx(t)
	if _, err := n.js.CreateStream(c, jetstream.StreamConfig{Name: "AU", Subjects: []string{"au.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.js.Stream(c, "NOPE"); err == nil {
		t.Fatal("info of a missing stream succeeded")
	}
	next := func() auditAdv {
		t.Helper()
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("no audit record: %v", err)
		}
		var a auditAdv
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatalf("audit %s: %v", m.Data, err)
		}
		if a.Type != "io.nats.jetstream.advisory.v1.api_audit" || a.ID == "" || a.Time.IsZero() ||
			a.Server != "audit-srv" || a.Client.Account != "$G" {
			t.Fatalf("audit %s", m.Data)
		}
		return a
	}
	// The order of records is not part of what this test checks: take
	// both, then look at each.
	bySubject := map[string]auditAdv{}
	for range 2 {
		a := next()
		bySubject[a.Subject] = a
	}
	a := bySubject["$JS.API.STREAM.CREATE.AU"]
	var req struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(a.Request), &req); err != nil || req.Name != "AU" ||
		!strings.Contains(a.Response, `"type":"io.nats.jetstream.api.v1.stream_create_response"`) {
		t.Fatalf("create audit %+v (%v)", a, err)
	}
	a, ok := bySubject["$JS.API.STREAM.INFO.NOPE"]
	if !ok || a.Request != "" || !strings.Contains(a.Response, `"err_code":10059`) {
		t.Fatalf("info audit %+v", a)
	}
}

// keysOf returns the sorted top-level field names of a JSON object.
func keysOf(t *testing.T, data []byte) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("advisory %s: %v", data, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}

// TestE2EAdvisoryConsumerEventFields: the max-deliveries, terminated and
// pause advisories carry exactly the fields nats-server 2.15 sends.
func TestE2EAdvisoryConsumerEventFields(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := ctx(t)
	if _, err := n.js.CreateStream(c, jetstream.StreamConfig{Name: "EF", Subjects: []string{"ef.>"}}); err != nil {
		t.Fatal(err)
	}
	sub := advisories(t, n)
	for _, s := range []string{"ef.max", "ef.term"} {
		if _, err := n.js.Publish(c, s, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// next returns the body of the next advisory on subject, skipping others.
	next := func(subject string) []byte {
		t.Helper()
		for {
			m, err := sub.NextMsg(10 * time.Second)
			if err != nil {
				t.Fatalf("no advisory on %s: %v", subject, err)
			}
			if m.Subject == subject {
				return m.Data
			}
		}
	}
	mx, err := n.js.CreateConsumer(c, "EF", jetstream.ConsumerConfig{Durable: "MX", AckPolicy: jetstream.AckExplicitPolicy,
		MaxDeliver: 1, AckWait: 200 * time.Millisecond, FilterSubject: "ef.max"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mx.Fetch(1, jetstream.FetchMaxWait(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	const common = "consumer,deliveries,id,stream,stream_seq,timestamp,type"
	if got := keysOf(t, next("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.EF.MX")); got != common {
		t.Fatalf("max_deliver fields %s", got)
	}
	tm, err := n.js.CreateConsumer(c, "EF", jetstream.ConsumerConfig{Durable: "TM", AckPolicy: jetstream.AckExplicitPolicy,
		FilterSubject: "ef.term"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := tm.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range b.Messages() {
		if err := m.TermWithReason("bad"); err != nil {
			t.Fatal(err)
		}
	}
	if got := keysOf(t, next("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.EF.TM")); got != "consumer,consumer_seq,deliveries,id,reason,stream,stream_seq,timestamp,type" {
		t.Fatalf("terminated fields %s", got)
	}
	const pause = "consumer,id,pause_until,paused,stream,timestamp,type"
	if _, err := n.js.PauseConsumer(c, "EF", "TM", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := keysOf(t, next("$JS.EVENT.ADVISORY.CONSUMER.PAUSE.EF.TM")); got != pause {
		t.Fatalf("pause fields %s", got)
	}
	if _, err := n.js.ResumeConsumer(c, "EF", "TM"); err != nil {
		t.Fatal(err)
	}
	if got := keysOf(t, next("$JS.EVENT.ADVISORY.CONSUMER.PAUSE.EF.TM")); got != pause {
		t.Fatalf("resume fields %s", got)
	}
}

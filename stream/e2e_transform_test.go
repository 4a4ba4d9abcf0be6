package stream_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestStreamSubjectTransformStoresTransformedSubject(t *testing.T) {
	n := startNode(t, t.TempDir())
	s, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{
		Name: "T", Subjects: []string{"in.>"},
		SubjectTransform: &jetstream.SubjectTransformConfig{Source: "in.*.>", Destination: "stored.{{wildcard(1)}}.>"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if tr := s.CachedInfo().Config.SubjectTransform; tr == nil || tr.Destination != "stored.{{wildcard(1)}}.>" {
		t.Fatalf("config echoed %+v", tr)
	}
	for _, subj := range []string{"in.eu.a", "in.us.b.c", "in.x"} {
		if _, err := n.js.Publish(ctx(t), subj, []byte(subj)); err != nil {
			t.Fatalf("publish %s: %v", subj, err)
		}
	}
	// "in.x" does not match the transform's source: stored as published.
	want := []string{"stored.eu.a", "stored.us.b.c", "in.x"}
	for i, w := range want {
		m, err := s.GetMsg(ctx(t), uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != w {
			t.Errorf("seq %d stored as %q, want %q", i+1, m.Subject, w)
		}
	}
	c, err := s.CreateOrUpdateConsumer(ctx(t), jetstream.ConsumerConfig{FilterSubject: "stored.us.>", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if m.Subject() != "stored.us.b.c" || string(m.Data()) != "in.us.b.c" {
			t.Errorf("consumer got %q %q", m.Subject(), m.Data())
		}
	}
}

func TestStreamRepublish(t *testing.T) {
	n := startNode(t, t.TempDir())
	sub, err := n.nc.SubscribeSync("repub.>")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{
		Name: "R", Subjects: []string{"orders.>"},
		RePublish: &jetstream.RePublish{Source: "orders.>", Destination: "repub.>"},
	}); err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg("orders.a")
	msg.Header.Set("Own", "kept")
	msg.Data = []byte("one")
	if _, err := n.js.PublishMsg(ctx(t), msg); err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"orders.b", "orders.a"} {
		if _, err := n.js.Publish(ctx(t), subj, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	wants := []struct{ subject, stored, seq, last string }{
		{"repub.a", "orders.a", "1", "0"},
		{"repub.b", "orders.b", "2", "0"},
		{"repub.a", "orders.a", "3", "1"},
	}
	for i, w := range wants {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("republished message %d: %v", i+1, err)
		}
		h := m.Header
		if m.Subject != w.subject || h.Get("Nats-Stream") != "R" || h.Get("Nats-Subject") != w.stored ||
			h.Get("Nats-Sequence") != w.seq || h.Get("Nats-Last-Sequence") != w.last {
			t.Errorf("message %d: %s %v", i+1, m.Subject, h)
		}
		if _, err := time.Parse(time.RFC3339Nano, h.Get("Nats-Time-Stamp")); err != nil {
			t.Errorf("message %d: time stamp %q: %v", i+1, h.Get("Nats-Time-Stamp"), err)
		}
		if i == 0 && (h.Get("Own") != "kept" || string(m.Data) != "one") {
			t.Errorf("first message lost its own header or payload: %v %q", h, m.Data)
		}
	}
}

func TestStreamRepublishHeadersOnly(t *testing.T) {
	n := startNode(t, t.TempDir())
	sub, err := n.nc.SubscribeSync("watch.>")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{
		Name: "H", Subjects: []string{"kv.>"},
		RePublish: &jetstream.RePublish{Destination: "watch.>", HeadersOnly: true},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.js.Publish(ctx(t), "kv.k", []byte("12345")); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "watch.kv.k" || len(m.Data) != 0 || m.Header.Get("Nats-Msg-Size") != "5" {
		t.Fatalf("headers-only copy: %s %q %v", m.Subject, m.Data, m.Header)
	}
}

// A subject transform of the stream's only subject and a republish from
// ">" to ">" mean: republish on the transformed subject (nats-server's
// rule, which lets such a stream avoid a cycle).
func TestStreamImplicitRepublishOfTransform(t *testing.T) {
	n := startNode(t, t.TempDir())
	sub, err := n.nc.SubscribeSync("out.>")
	if err != nil {
		t.Fatal(err)
	}
	s, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{
		Name: "I", Subjects: []string{"in.>"},
		SubjectTransform: &jetstream.SubjectTransformConfig{Source: "in.>", Destination: "out.>"},
		RePublish:        &jetstream.RePublish{Source: ">", Destination: ">"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rp := s.CachedInfo().Config.RePublish; rp == nil || rp.Source != "out.>" || rp.Destination != "out.>" {
		t.Fatalf("republish echoed as %+v", rp)
	}
	if _, err := n.js.Publish(ctx(t), "in.z", nil); err != nil {
		t.Fatal(err)
	}
	if m, err := sub.NextMsg(10 * time.Second); err != nil || m.Subject != "out.z" {
		t.Fatalf("got %v, %v", m, err)
	}
}

func TestStreamTransformAndRepublishErrors(t *testing.T) {
	n := startNode(t, t.TempDir())
	cases := []struct {
		cfg  jetstream.StreamConfig
		code jetstream.ErrorCode
		text string
	}{
		{jetstream.StreamConfig{Name: "A", Subjects: []string{"a.>"},
			SubjectTransform: &jetstream.SubjectTransformConfig{Source: "a..b", Destination: "x"}}, 10155, "stream transform source"},
		{jetstream.StreamConfig{Name: "A", Subjects: []string{"a.>"},
			SubjectTransform: &jetstream.SubjectTransformConfig{Source: "a.*", Destination: "x.{{wildcard(2)}}"}}, 10156, "stream transform"},
		{jetstream.StreamConfig{Name: "A", Subjects: []string{"a.>"},
			RePublish: &jetstream.RePublish{Source: "a.>", Destination: "a.b.>"}}, 10052, "forms a cycle"},
		{jetstream.StreamConfig{Name: "A", Subjects: []string{"a.>"},
			RePublish: &jetstream.RePublish{Source: "a.*", Destination: "b.{{nosuch()}}"}}, 10052, "not valid"},
	}
	for i, c := range cases {
		_, err := n.js.CreateStream(ctx(t), c.cfg)
		if code := apiErrCode(err); code != c.code || !strings.Contains(err.Error(), c.text) {
			t.Errorf("case %d: got %v (code %d), want %d mentioning %q", i, err, code, c.code, c.text)
		}
	}
}

var _ = strconv.Itoa

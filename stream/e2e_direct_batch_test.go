package stream_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// directReplies sends a direct get and collects its replies up to and
// including the end-of-batch (or a lone status).
func directReplies(t *testing.T, n *node, stream, body string) []*nats.Msg {
	t.Helper()
	inbox := nats.NewInbox()
	sub, err := n.nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := n.nc.PublishRequest("$JS.API.DIRECT.GET."+stream, inbox, []byte(body)); err != nil {
		t.Fatal(err)
	}
	var out []*nats.Msg
	for {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("after %d replies: %v", len(out), err)
		}
		out = append(out, m)
		if st := m.Header.Get("Status"); st != "" {
			return out
		}
	}
}

// summary renders replies as "seq/pending/last ... status(pending,last)".
func summary(ms []*nats.Msg) string {
	var parts []string
	for _, m := range ms {
		h := m.Header
		if st := h.Get("Status"); st != "" {
			parts = append(parts, fmt.Sprintf("%s(%s,%s,%s)", st, h.Get("Nats-Num-Pending"), h.Get("Nats-Last-Sequence"), h.Get("Nats-UpTo-Sequence")))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s:%s/%s/%s", h.Get("Nats-Subject"), h.Get("Nats-Sequence"), h.Get("Nats-Num-Pending"), h.Get("Nats-Last-Sequence")))
	}
	return strings.Join(parts, " ")
}

func TestDirectGetBatchAndMultiLast(t *testing.T) {
	n := startNode(t, t.TempDir())
	s, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "D", Subjects: []string{"d.>"}, AllowDirect: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"d.a", "d.b", "d.a", "d.c", "d.b", "d.a"} {
		if _, err := n.js.Publish(ctx(t), subj, []byte(subj)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteMsg(ctx(t), 2); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ body, want string }{
		{`{"seq":1,"batch":3}`, "d.a:1/4/0 d.a:3/3/1 d.c:4/2/3 204(2,4,)"},
		{`{"seq":4,"batch":10}`, "d.c:4/2/0 d.b:5/1/4 d.a:6/0/5 204(0,6,)"},
		{`{"seq":1,"batch":2,"next_by_subj":"d.a"}`, "d.a:1/2/0 d.a:3/1/1 204(1,3,)"},
		{`{"seq":7,"batch":2}`, "404()"},
		{`{"multi_last":["d.a","d.b"]}`, "d.b:5/1/0 d.a:6/0/5 204(0,6,6)"},
		{`{"multi_last":["d.>"],"up_to_seq":4}`, "d.a:3/1/0 d.c:4/0/3 204(0,4,4)"},
		{`{"multi_last":["x.>"]}`, "404()"},
		{`{"seq":1,"batch":2,"last_by_subj":"d.a"}`, "408()"},
	}
	for _, c := range cases {
		got := summary(directReplies(t, n, "D", c.body))
		got = strings.ReplaceAll(got, "(,,)", "()")
		if got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.body, got, c.want)
		}
	}
	// By time: the batch starts at the first message at or after
	// start_time; multi_last stops before up_to_time.
	m4, err := s.GetMsg(ctx(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	at := m4.Time.UTC().Format(time.RFC3339Nano)
	for body, want := range map[string]string{
		`{"batch":1,"start_time":"` + at + `"}`:            "d.c:4/2/0 204(2,4,)",
		`{"multi_last":["d.>"],"up_to_time":"` + at + `"}`: "d.a:3/0/0 204(0,3,3)",
	} {
		if got := summary(directReplies(t, n, "D", body)); got != want {
			t.Errorf("%s:\n got %s\nwant %s", body, got, want)
		}
	}
	// A batched field on STREAM.MSG.GET is refused: it is for direct gets.
	r, err := n.nc.Request("$JS.API.STREAM.MSG.GET.D", []byte(`{"seq":1,"batch":2}`), 10*time.Second)
	if err != nil || !strings.Contains(string(r.Data), `"err_code":10003`) {
		t.Fatalf("STREAM.MSG.GET with batch: %v %s", err, r.Data)
	}
}

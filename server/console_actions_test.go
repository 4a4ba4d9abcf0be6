package server

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// jsFor is a nats.go JetStream context for user in the console server.
func jsFor(t *testing.T, s *Server, user, password string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc := connect(t, s, nats.UserInfo(user, password))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// messagesPage asks the console for a page of messages.
func messagesPage(t *testing.T, c *consoleClient, q url.Values) (subjects []string, seqs []float64, next float64) {
	t.Helper()
	status, out := c.call("GET", "/console/api/messages?"+q.Encode(), nil)
	if status != http.StatusOK {
		t.Fatalf("messages %s: %d %v", q.Encode(), status, out)
	}
	for _, m := range out["messages"].([]any) {
		m := m.(map[string]any)
		subjects = append(subjects, m["subject"].(string))
		seqs = append(seqs, m["seq"].(float64))
	}
	return subjects, seqs, out["next"].(float64)
}

// Browsing: pages by sequence, a subject filter, a start time; headers and
// payload come back as they were stored.
func TestConsoleBrowseMessages(t *testing.T) {
	s, _ := startConsoleServer(t, consoleUsers)
	_, js := jsFor(t, s, "alice", "alice-pw")
	ctx := testCtx(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	var middle time.Time
	for i := 1; i <= 30; i++ {
		if i == 21 {
			time.Sleep(20 * time.Millisecond) // a clear gap in stored times
			middle = time.Now()
			time.Sleep(20 * time.Millisecond)
		}
		m := nats.NewMsg(fmt.Sprintf("orders.%s", []string{"eu", "us"}[i%2]))
		m.Header.Set("Order-Id", fmt.Sprint(i))
		m.Data = []byte(fmt.Sprintf(`{"n":%d}`, i))
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	bob := newConsoleClient(t, s)
	bob.login("bob", "bob-pw")
	q := url.Values{"account": {"A"}, "stream": {"ORDERS"}, "limit": {"10"}}
	_, seqs, next := messagesPage(t, bob, q)
	if len(seqs) != 10 || seqs[0] != 1 || seqs[9] != 10 || next != 11 {
		t.Fatalf("first page: %v next %v", seqs, next)
	}
	q.Set("seq", "25")
	_, seqs, next = messagesPage(t, bob, q)
	if len(seqs) != 6 || seqs[0] != 25 || next != 0 {
		t.Fatalf("last page: %v next %v", seqs, next)
	}
	q.Set("seq", "1")
	q.Set("subject", "orders.eu")
	subjects, seqs, _ := messagesPage(t, bob, q)
	if len(seqs) != 10 || seqs[0] != 2 || seqs[9] != 20 || strings.Join(subjects, ",") != strings.Repeat("orders.eu,", 9)+"orders.eu" {
		t.Fatalf("filtered page: %v %v", seqs, subjects)
	}
	q.Del("subject")
	q.Del("seq")
	q.Set("time", middle.UTC().Format(time.RFC3339Nano))
	_, seqs, _ = messagesPage(t, bob, q)
	if len(seqs) == 0 || seqs[0] != 21 {
		t.Fatalf("page from a time: %v", seqs)
	}
	// One message, whole: headers and payload.
	status, out := bob.call("GET", "/console/api/messages?account=A&stream=ORDERS&seq=7&limit=1", nil)
	if status != http.StatusOK {
		t.Fatal(status, out)
	}
	m := out["messages"].([]any)[0].(map[string]any)
	hdr, _ := base64.StdEncoding.DecodeString(m["hdrs"].(string))
	data, _ := base64.StdEncoding.DecodeString(m["data"].(string))
	if !strings.Contains(string(hdr), "Order-Id: 7") || string(data) != `{"n":7}` {
		t.Errorf("message 7: headers %q data %q", hdr, data)
	}
	// Bad queries and unknown streams are refused with a reason.
	for q, want := range map[string]int{
		"account=A":                          http.StatusBadRequest,
		"account=A&stream=ORDERS&seq=x":      http.StatusBadRequest,
		"account=A&stream=ORDERS&time=today": http.StatusBadRequest,
		"account=A&stream=NOPE":              http.StatusBadRequest,
		"account=B&stream=ORDERS":            http.StatusForbidden,
	} {
		if status, out := bob.call("GET", "/console/api/messages?"+q, nil); status != want {
			t.Errorf("%s: %d %v, want %d", q, status, out, want)
		}
	}
}

// The operator's actions take effect as seen by a nats.go client.
func TestConsoleActions(t *testing.T) {
	s, log := startConsoleServer(t, consoleUsers)
	nc, js := jsFor(t, s, "bob", "bob-pw")
	ctx := testCtx(t)
	alice := newConsoleClient(t, s)
	alice.login("alice", "alice-pw")

	// Create a stream and a consumer from the console.
	if status, out := alice.js("A", "STREAM.CREATE.ORDERS", map[string]any{"name": "ORDERS", "subjects": []string{"orders.>"}, "storage": "file"}); status != http.StatusOK || out["error"] != nil {
		t.Fatalf("create stream: %d %v", status, out)
	}
	if status, out := alice.js("A", "CONSUMER.CREATE.ORDERS.audit", map[string]any{"stream_name": "ORDERS", "config": map[string]any{"durable_name": "audit", "ack_policy": "explicit"}}); status != http.StatusOK || out["error"] != nil {
		t.Fatalf("create consumer: %d %v", status, out)
	}
	// Publish with headers and an ack; then a core publish seen by a subscriber.
	status, out := alice.call("POST", "/console/api/publish", map[string]any{"account": "A", "subject": "orders.eu", "headers": [][2]string{{"Source", "console"}}, "payload": "first", "ack": true})
	if status != http.StatusOK || out["stream"] != "ORDERS" || out["seq"] != float64(1) {
		t.Fatalf("publish with ack: %d %v", status, out)
	}
	sub, _ := nc.SubscribeSync("news")
	nc.Flush()
	waitInterestIn(t, s, "A", "news")
	if status, out := alice.call("POST", "/console/api/publish", map[string]any{"account": "A", "subject": "news", "payload": "hello"}); status != http.StatusOK {
		t.Fatalf("core publish: %d %v", status, out)
	}
	if m := nextMsg(t, sub); string(m.Data) != "hello" {
		t.Errorf("core publish delivered %q", m.Data)
	}
	for i := 0; i < 4; i++ {
		alice.call("POST", "/console/api/publish", map[string]any{"account": "A", "subject": []string{"orders.eu", "orders.us"}[i%2], "payload": "more", "ack": true})
	}
	str, err := js.Stream(ctx, "ORDERS")
	if err != nil {
		t.Fatal(err)
	}
	m, err := str.GetMsg(ctx, 1)
	if err != nil || string(m.Data) != "first" || m.Header.Get("Source") != "console" {
		t.Fatalf("stored message 1: %v %+v", err, m)
	}
	// Delete one message, purge a subject, then everything.
	if status, out := alice.js("A", "STREAM.MSG.DELETE.ORDERS", map[string]any{"seq": 2}); status != http.StatusOK || out["success"] != true {
		t.Fatalf("delete message: %d %v", status, out)
	}
	if _, err := str.GetMsg(ctx, 2); err == nil {
		t.Error("message 2 still there")
	}
	if status, out := alice.js("A", "STREAM.PURGE.ORDERS", map[string]any{"filter": "orders.us"}); status != http.StatusOK || out["success"] != true {
		t.Fatalf("purge subject: %d %v", status, out)
	}
	info, _ := str.Info(ctx)
	if info.State.Msgs != 2 { // 1 and 4 were orders.eu; 3 and 5 orders.us
		t.Errorf("after purging orders.us: %d messages", info.State.Msgs)
	}
	if status, out := alice.js("A", "STREAM.PURGE.ORDERS", nil); status != http.StatusOK || out["success"] != true {
		t.Fatalf("purge: %d %v", status, out)
	}
	info, _ = str.Info(ctx)
	if info.State.Msgs != 0 {
		t.Errorf("after purge: %d messages", info.State.Msgs)
	}
	// Delete the consumer, then the stream.
	if status, out := alice.js("A", "CONSUMER.DELETE.ORDERS.audit", nil); status != http.StatusOK || out["success"] != true {
		t.Fatalf("delete consumer: %d %v", status, out)
	}
	if _, err := str.Consumer(ctx, "audit"); err == nil {
		t.Error("consumer still there")
	}
	if status, out := alice.js("A", "STREAM.DELETE.ORDERS", nil); status != http.StatusOK || out["success"] != true {
		t.Fatalf("delete stream: %d %v", status, out)
	}
	if _, err := js.Stream(ctx, "ORDERS"); err == nil {
		t.Error("stream still there")
	}
	for _, want := range []string{"STREAM.MSG.DELETE.ORDERS", "STREAM.PURGE.ORDERS", "CONSUMER.DELETE.ORDERS.audit", "STREAM.DELETE.ORDERS", `msg="console: publish" user=alice account=A client=127.0.0.1 subject=news`} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	// Bad input is refused with a reason.
	for _, body := range []map[string]any{
		{"account": "A", "subject": "bad subject", "payload": "x"},
		{"account": "A", "subject": "a", "headers": [][2]string{{"Bad Name", "v"}}},
		{"account": "A", "subject": "a", "headers": [][2]string{{"X", "two\r\nlines"}}},
	} {
		if status, _ := alice.call("POST", "/console/api/publish", body); status != http.StatusBadRequest {
			t.Errorf("publish %v: %d, want 400", body, status)
		}
	}
	if status, _ := alice.js("A", "STREAM.>", nil); status != http.StatusBadRequest {
		t.Errorf("wildcard API: %d, want 400", status)
	}
}

// waitInterestIn waits until account acc has interest in subject.
func waitInterestIn(t *testing.T, s *Server, acc, subject string) {
	t.Helper()
	b, err := s.Account(acc)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := b.acc.sl.Match([]byte(subject))
		if len(r.Plain) > 0 || len(r.Groups) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no interest in %q in account %s", subject, acc)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

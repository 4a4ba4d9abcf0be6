package stream_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// fastSession publishes the messages of one fast batch as nats-server
// 2.14's clients do (the batch is all in the reply subject:
// <inbox>.<flow>.<gap>.<seq>.<op>.$FI, the inbox's last token being the
// batch id) and collects what the server answers on the inbox.
type fastSession struct {
	t     *testing.T
	nc    *nats.Conn
	inbox string
	flow  string
	gap   string
	got   chan string
}

func newFastSession(t *testing.T, nc *nats.Conn, id, flow, gap string) *fastSession {
	t.Helper()
	f := &fastSession{t: t, nc: nc, inbox: "_INBOX." + id, flow: flow, gap: gap, got: make(chan string, 1000)}
	sub, err := nc.Subscribe(f.inbox+".>", func(m *nats.Msg) {
		f.got <- strings.TrimPrefix(m.Subject, f.inbox+".") + " " + string(m.Data)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return f
}

// send publishes message seq with operation op (0 start, 1 append,
// 2 commit, 3 end-of-batch, 4 ping) and header pairs.
func (f *fastSession) send(subj string, seq, op int, hdr ...string) {
	f.t.Helper()
	m := nats.NewMsg(subj)
	m.Data = []byte(fmt.Sprintf("m%d", seq))
	for i := 0; i+1 < len(hdr); i += 2 {
		m.Header.Set(hdr[i], hdr[i+1])
	}
	m.Reply = fmt.Sprintf("%s.%s.%s.%d.%d.$FI", f.inbox, f.flow, f.gap, seq, op)
	if err := f.nc.PublishMsg(m); err != nil {
		f.t.Fatal(err)
	}
}

// expect waits for the next n answers and checks them against want, each
// "<seq>.<op>.$FI <body>" (the reply subject after inbox.flow.gap.), or
// just "<body>" when the subject depends on timing.
func (f *fastSession) expect(want ...string) {
	f.t.Helper()
	prefix := f.flow + "." + f.gap + "."
	deadline := time.After(15 * time.Second)
	for i, w := range want {
		select {
		case g := <-f.got:
			want := prefix + w
			if strings.HasPrefix(w, "{") {
				// Sent on the reply subject of whichever message
				// settled the batch: only the body is fixed.
				_, g, _ = strings.Cut(g, " ")
				want = w
			}
			if g != want {
				f.t.Fatalf("answer %d: got\n  %s\nwant\n  %s", i+1, g, want)
			}
		case <-deadline:
			f.t.Fatalf("answer %d never came; want %s", i+1, prefix+w)
		}
	}
}

func createFastStream(t *testing.T, n *node, name string) jetstream.Stream {
	t.Helper()
	s, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: name, Subjects: []string{strings.ToLower(name) + ".>"},
		AllowBatchPublish: true, Duplicates: time.Minute})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return s
}

// storedData lists the payloads of the stream's messages from seq on, and
// fails if any carries a header (a fast batch adds none).
func storedData(t *testing.T, s jetstream.Stream, from uint64) []string {
	t.Helper()
	info, err := s.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for seq := from; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx(t), seq)
		if err != nil {
			continue
		}
		if len(m.Header) > 0 {
			t.Errorf("seq %d carries headers %v", seq, m.Header)
		}
		out = append(out, string(m.Data))
	}
	return out
}

// TestFastBatchFlowAckAndCommit: the first message is answered with the
// flow the server will ack at, then a flow ack comes every that many
// stored messages, and the commit is answered with the batch's PubAck;
// every message is stored as published, without batch headers, and
// allow_batched shows in the stream's config.
func TestFastBatchFlowAckAndCommit(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := createFastStream(t, n, "FAST")
	f := newFastSession(t, n.nc, "basic", "2", "fail")
	f.send("fast.a", 1, 0)
	f.expect(`1.0.$FI {"type":"ack","seq":0,"msgs":2}`)
	for seq := 2; seq <= 5; seq++ {
		f.send("fast.a", seq, 1)
	}
	f.send("fast.a", 6, 2)
	f.expect(`2.1.$FI {"type":"ack","seq":2,"msgs":2}`, `4.1.$FI {"type":"ack","seq":4,"msgs":2}`,
		`{"stream":"FAST","seq":6,"batch":"basic","count":6}`)
	if got := strings.Join(storedData(t, s, 1), " "); got != "m1 m2 m3 m4 m5 m6" {
		t.Fatalf("stored %s", got)
	}
	info, err := s.Info(ctx(t))
	if err != nil || !info.Config.AllowBatchPublish {
		t.Fatalf("info %v: allow_batched %v", err, info != nil && info.Config.AllowBatchPublish)
	}

	// An end-of-batch commit is not stored itself; the PubAck counts the
	// messages before it.
	f = newFastSession(t, n.nc, "eob", "10", "fail")
	f.send("fast.b", 1, 0)
	f.send("fast.b", 2, 1)
	f.send("fast.b", 3, 3)
	f.expect(`1.0.$FI {"type":"ack","seq":0,"msgs":10}`, `{"stream":"FAST","seq":8,"batch":"eob","count":2}`)
	if got := strings.Join(storedData(t, s, 7), " "); got != "m1 m2" {
		t.Fatalf("stored %s", got)
	}

	// A ping answers the last flow ack again.
	f = newFastSession(t, n.nc, "ping", "10", "fail")
	f.send("fast.c", 1, 0)
	f.send("fast.c", 2, 1)
	f.expect(`1.0.$FI {"type":"ack","seq":0,"msgs":10}`)
	f.send("fast.c", 2, 4)
	f.expect(`2.4.$FI {"type":"ack","seq":0,"msgs":10}`)
	f.send("fast.c", 3, 3)
	f.expect(`{"stream":"FAST","seq":10,"batch":"ping","count":2}`)
}

// TestFastBatchGaps: in "gap: fail" mode a skipped sequence is reported
// and ends the batch with what came before it; in "gap: ok" mode it is
// reported and the batch goes on.
func TestFastBatchGaps(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := createFastStream(t, n, "GAPS")
	f := newFastSession(t, n.nc, "gapfail", "10", "fail")
	f.send("gaps.a", 1, 0)
	f.expect(`1.0.$FI {"type":"ack","seq":0,"msgs":10}`)
	f.send("gaps.a", 3, 1)
	f.expect(`3.1.$FI {"type":"gap","last_seq":2,"seq":3}`, `{"stream":"GAPS","seq":1,"batch":"gapfail","count":1}`)
	f.send("gaps.a", 4, 1)
	f.expect(`4.1.$FI {"error":{"code":400,"err_code":10208,"description":"batch publish ID unknown"},"stream":"GAPS","seq":0}`)

	f = newFastSession(t, n.nc, "gapok", "10", "ok")
	f.send("gaps.b", 1, 0)
	f.expect(`1.0.$FI {"type":"ack","seq":0,"msgs":10}`)
	f.send("gaps.b", 3, 1)
	f.send("gaps.b", 4, 3)
	f.expect(`3.1.$FI {"type":"gap","last_seq":2,"seq":3}`, `{"stream":"GAPS","seq":3,"batch":"gapok","count":3}`)
	if got := strings.Join(storedData(t, s, 1), " "); got != "m1 m1 m3" {
		t.Fatalf("stored %s", got)
	}
}

// TestFastBatchRefusedMessage: a message the stream refuses is reported
// with its sequence; in "gap: fail" mode the batch ends there and nothing
// published after it is stored, even what the server had already queued
// (the state machine refuses it); a refused first message is answered
// as a lone publish.
func TestFastBatchRefusedMessage(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := createFastStream(t, n, "REF")
	f := newFastSession(t, n.nc, "errmid", "10", "fail")
	f.send("ref.a", 1, 0)
	f.expect(`1.0.$FI {"type":"ack","seq":0,"msgs":10}`)
	// Sent back to back: 3 to 5 are queued before 2 is refused.
	f.send("ref.a", 2, 1, "Nats-Expected-Last-Sequence", "999")
	for seq := 3; seq <= 5; seq++ {
		f.send("ref.a", seq, 1)
	}
	f.expect(`2.1.$FI {"type":"err","seq":2,"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 1"}}`)
	// The PubAck comes once every queued message is settled (on the
	// reply subject of whichever was last); a message that arrives after
	// it is "batch publish ID unknown", as nats-server answers.
	for deadline := time.After(15 * time.Second); ; {
		var g string
		select {
		case g = <-f.got:
		case <-deadline:
			t.Fatal("no PubAck")
		}
		if strings.HasSuffix(g, `{"stream":"REF","seq":1,"batch":"errmid","count":1}`) {
			break
		}
		if !strings.Contains(g, `"err_code":10208`) {
			t.Fatalf("answer %s", g)
		}
	}
	if got := strings.Join(storedData(t, s, 1), " "); got != "m1" {
		t.Fatalf("stored %s", got)
	}

	// "gap: ok" passes over it.
	f = newFastSession(t, n.nc, "errok", "10", "ok")
	f.send("ref.b", 1, 0)
	f.send("ref.b", 2, 1, "Nats-Expected-Last-Sequence", "999")
	f.send("ref.b", 3, 2)
	f.expect(`1.0.$FI {"type":"ack","seq":0,"msgs":10}`,
		`2.1.$FI {"type":"err","seq":2,"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 2"}}`,
		`{"stream":"REF","seq":3,"batch":"errok","count":3}`)

	// A refused first message.
	f = newFastSession(t, n.nc, "errfirst", "10", "fail")
	f.send("ref.c", 1, 0, "Nats-Expected-Last-Sequence", "999")
	f.expect(`1.0.$FI {"type":"ack","seq":0,"msgs":10}`,
		`1.0.$FI {"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"},"stream":"REF","seq":0}`)

	// A duplicate is passed over; a duplicate that is the whole batch is
	// answered as one.
	f = newFastSession(t, n.nc, "dup", "10", "fail")
	f.send("ref.d", 1, 0, "Nats-Msg-Id", "X")
	f.send("ref.d", 2, 1, "Nats-Msg-Id", "X")
	f.send("ref.d", 3, 2)
	f.expect(`1.0.$FI {"type":"ack","seq":0,"msgs":10}`, `{"stream":"REF","seq":5,"batch":"dup","count":3}`)
	f = newFastSession(t, n.nc, "dupall", "10", "fail")
	f.send("ref.d", 1, 2, "Nats-Msg-Id", "X")
	f.expect(`1.2.$FI {"stream":"REF","seq":4,"duplicate":true,"batch":"dupall","count":1}`)
}

// TestFastBatchRefusals: the errors nats-server answers a fast batch
// message with, each as a PubAck.
func TestFastBatchRefusals(t *testing.T) {
	n := startNode(t, t.TempDir())
	createFastStream(t, n, "R")
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "PLAIN", Subjects: []string{"plain.>"}}); err != nil {
		t.Fatal(err)
	}
	refused := func(id, flow, gap, subj string, seq, op int, code int, hdr ...string) {
		t.Helper()
		f := newFastSession(t, n.nc, id, flow, gap)
		f.send(subj, seq, op, hdr...)
		select {
		case g := <-f.got:
			if !strings.Contains(g, fmt.Sprintf(`"err_code":%d,`, code)) || !strings.HasSuffix(g, `"seq":0}`) {
				t.Errorf("%s: %s, want err_code %d", id, g, code)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("%s: no answer", id)
		}
	}
	refused("off", "10", "fail", "plain.a", 1, 0, 10205)
	refused("badgap", "10", "maybe", "r.a", 1, 0, 10206)
	refused("badop", "10", "fail", "r.a", 1, 7, 10206)
	refused("eobfirst", "10", "fail", "r.a", 1, 3, 10206)
	refused("appendone", "10", "fail", "r.a", 1, 1, 10206)
	refused(strings.Repeat("x", 65), "10", "fail", "r.a", 1, 0, 10207)
	refused("unknown", "10", "fail", "r.a", 2, 1, 10208)
	refused("level", "10", "fail", "r.a", 1, 0, 10185, "Nats-Required-Api-Level", "99")

	_, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "M", Mirror: &jetstream.StreamSource{Name: "R"}, AllowBatchPublish: true})
	if apiErrCode(err) != 10209 {
		t.Fatalf("mirror with allow_batched: %v, want 10209", err)
	}
	// The API level that clients check before using it.
	info, err := n.js.AccountInfo(ctx(t))
	if err != nil || info.API.Level < 4 {
		t.Fatalf("account info %v: API level %d, want at least 4", err, info.API.Level)
	}
}

// TestFastBatchForgottenOnRestart: an open batch does not survive a
// restart; what it stored does.
func TestFastBatchForgottenOnRestart(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	createFastStream(t, n, "RS")
	f := newFastSession(t, n.nc, "rs", "1", "fail") // a flow ack for every stored message
	f.send("rs.a", 1, 0)
	f.send("rs.a", 2, 1)
	f.expect(`1.0.$FI {"type":"ack","seq":0,"msgs":1}`, `1.0.$FI {"type":"ack","seq":1,"msgs":1}`,
		`2.1.$FI {"type":"ack","seq":2,"msgs":1}`)
	n.stop()
	n = startNode(t, dir)
	f = newFastSession(t, n.nc, "rs", "1", "fail")
	f.send("rs.a", 3, 2)
	f.expect(`3.2.$FI {"error":{"code":400,"err_code":10208,"description":"batch publish ID unknown"},"stream":"RS","seq":0}`)
	s, err := n.js.Stream(ctx(t), "RS")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(storedData(t, s, 1), " "); got != "m1 m2" {
		t.Fatalf("stored %s", got)
	}
}

// TestCLIBenchJSPubCreate: `nats bench js pub fast --create` and `nats
// bench js pub async --create` (natscli v0.5.0, which sets allow_batched
// and checks the API level) create their stream and publish every
// message.
func TestCLIBenchJSPubCreate(t *testing.T) {
	cli := natsCLI(t)
	n := startNode(t, t.TempDir())
	url := n.srv.ClientURL()
	want := uint64(0)
	for _, mode := range []string{"fast", "async"} {
		out, err := runCLI(t, cli, url, "bench", "js", "pub", mode, "bench.sub", "--create", "--msgs", "3000", "--size", "64", "--no-progress")
		if err != nil {
			t.Fatalf("bench js pub %s: %v\n%s", mode, err, out)
		}
		want += 3000
		s, err := n.js.Stream(ctx(t), "benchstream")
		if err != nil {
			t.Fatalf("%s: %v\n%s", mode, err, out)
		}
		info, err := s.Info(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != want || !info.Config.AllowBatchPublish {
			t.Fatalf("after %s: %d messages (want %d), allow_batched %v\n%s", mode, info.State.Msgs, want, info.Config.AllowBatchPublish, out)
		}
	}
}

package stream_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/stream"
)

// batchAck is the commit's PubAck (or a refusal) as nats-server shapes it.
type batchAck struct {
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"`
	Batch  string `json:"batch"`
	Count  int    `json:"count"`
	Val    string `json:"val"`
	Error  *struct {
		Code    int    `json:"code"`
		ErrCode int    `json:"err_code"`
		Desc    string `json:"description"`
	} `json:"error"`
}

// batchMsg builds message seq of batch id on subj; commit is the
// Nats-Batch-Commit value ("" for none).
func newBatchMsg(subj, id string, seq int, commit string, data string) *nats.Msg {
	m := nats.NewMsg(subj)
	m.Data = []byte(data)
	m.Header.Set("Nats-Batch-Id", id)
	m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(seq))
	if commit != "" {
		m.Header.Set("Nats-Batch-Commit", commit)
	}
	return m
}

// request sends m and decodes its PubAck.
func pubRequest(t *testing.T, nc *nats.Conn, m *nats.Msg) batchAck {
	t.Helper()
	r, err := nc.RequestMsg(m, 10*time.Second)
	if err != nil {
		t.Fatalf("request %s: %v", m.Subject, err)
	}
	var a batchAck
	if len(r.Data) > 0 {
		if err := json.Unmarshal(r.Data, &a); err != nil {
			t.Fatalf("ack %q: %v", r.Data, err)
		}
	}
	return a
}

// wantErr checks that a carries err_code code.
func wantAckErr(t *testing.T, what string, a batchAck, code int) {
	t.Helper()
	if a.Error == nil || a.Error.ErrCode != code {
		t.Errorf("%s: ack %+v, want err_code %d", what, a, code)
	}
}

func createBatchStream(t *testing.T, n *node, cfg jetstream.StreamConfig) jetstream.Stream {
	t.Helper()
	s, err := n.js.CreateStream(ctx(t), cfg)
	if err != nil {
		t.Fatalf("create %s: %v", cfg.Name, err)
	}
	return s
}

func batchStreamMsgs(t *testing.T, s jetstream.Stream) uint64 {
	t.Helper()
	info, err := s.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestE2EAtomicBatchCommit(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := createBatchStream(t, n, jetstream.StreamConfig{Name: "B", Subjects: []string{"b.>"}, AllowAtomicPublish: true})
	if _, err := n.js.Publish(ctx(t), "b.first", nil); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if err := n.nc.PublishMsg(newBatchMsg("b."+strconv.Itoa(i), "one", i, "", "x")); err != nil {
			t.Fatal(err)
		}
	}
	// A staged message with a reply gets an empty reply.
	r, err := n.nc.RequestMsg(newBatchMsg("b.4", "one", 4, "", "x"), 10*time.Second)
	if err != nil || len(r.Data) != 0 {
		t.Fatalf("staged reply %q, %v", r.Data, err)
	}
	if got := batchStreamMsgs(t, s); got != 1 {
		t.Fatalf("%d messages before the commit, want 1", got)
	}
	a := pubRequest(t, n.nc, newBatchMsg("b.5", "one", 5, "1", "x"))
	if a.Error != nil || a.Stream != "B" || a.Seq != 6 || a.Batch != "one" || a.Count != 5 {
		t.Fatalf("commit ack %+v", a)
	}
	if got := batchStreamMsgs(t, s); got != 6 {
		t.Fatalf("%d messages after the commit, want 6", got)
	}
	m, err := s.GetMsg(ctx(t), 4)
	if err != nil || m.Subject != "b.3" || m.Header.Get("Nats-Batch-Id") != "one" {
		t.Fatalf("seq 4: %+v %v", m, err)
	}

	// Committed by an end-of-batch marker: the marker is not stored and
	// the last message carries the commit header.
	for i := 1; i <= 2; i++ {
		if err := n.nc.PublishMsg(newBatchMsg("b.e", "two", i, "", "e")); err != nil {
			t.Fatal(err)
		}
	}
	a = pubRequest(t, n.nc, newBatchMsg("b.e", "two", 3, "eob", ""))
	if a.Error != nil || a.Seq != 8 || a.Count != 2 {
		t.Fatalf("eob ack %+v", a)
	}
	m, err = s.GetMsg(ctx(t), 8)
	if err != nil || m.Header.Get("Nats-Batch-Commit") != "1" {
		t.Fatalf("last of an eob batch: %+v %v", m, err)
	}

	// A source copies the messages one by one, without the batch headers.
	src := createBatchStream(t, n, jetstream.StreamConfig{Name: "SRC", Sources: []*jetstream.StreamSource{{Name: "B"}}})
	for deadline := time.Now().Add(30 * time.Second); batchStreamMsgs(t, src) < 8; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("SRC has %d messages, want 8", batchStreamMsgs(t, src))
		}
	}
	for seq := uint64(1); seq <= 8; seq++ {
		m, err := src.GetMsg(ctx(t), seq)
		if err != nil {
			t.Fatal(err)
		}
		for k := range m.Header {
			if strings.HasPrefix(k, "Nats-Batch-") {
				t.Errorf("copy %d keeps %s", seq, k)
			}
		}
	}
}

func TestE2EAtomicBatchErrors(t *testing.T) {
	n := startNodeWith(t, stream.Options{StoreDir: t.TempDir(), AtomicBatch: stream.BatchLimits{MaxSize: 3, MaxInflightPerStream: 2}})
	s := createBatchStream(t, n, jetstream.StreamConfig{Name: "E", Subjects: []string{"e.>"}, AllowAtomicPublish: true, AllowRollup: true})
	createBatchStream(t, n, jetstream.StreamConfig{Name: "OFF", Subjects: []string{"off.>"}})

	wantAckErr(t, "disabled", pubRequest(t, n.nc, newBatchMsg("off.a", "x", 1, "1", "")), 10174)
	m := newBatchMsg("e.a", "x", 1, "1", "")
	m.Header.Del("Nats-Batch-Sequence")
	wantAckErr(t, "missing sequence", pubRequest(t, n.nc, m), 10175)
	wantAckErr(t, "long id", pubRequest(t, n.nc, newBatchMsg("e.a", string(make([]byte, 65)), 1, "1", "")), 10179)
	wantAckErr(t, "unknown batch", pubRequest(t, n.nc, newBatchMsg("e.a", "nobody", 2, "1", "")), 10176)
	wantAckErr(t, "unknown batch over the limit", pubRequest(t, n.nc, newBatchMsg("e.a", "nobody", 9, "1", "")), 10199)

	// A gap drops the batch: its next message is unknown.
	pubRequest(t, n.nc, newBatchMsg("e.a", "gap", 1, "", ""))
	wantAckErr(t, "gap", pubRequest(t, n.nc, newBatchMsg("e.a", "gap", 3, "", "")), 10176)
	wantAckErr(t, "after a gap", pubRequest(t, n.nc, newBatchMsg("e.a", "gap", 2, "1", "")), 10176)

	pubRequest(t, n.nc, newBatchMsg("e.a", "bad", 1, "", ""))
	wantAckErr(t, "invalid commit", pubRequest(t, n.nc, newBatchMsg("e.a", "bad", 2, "yes", "")), 10200)

	for i := 1; i <= 3; i++ {
		pubRequest(t, n.nc, newBatchMsg("e.a", "big", i, "", ""))
	}
	wantAckErr(t, "too large", pubRequest(t, n.nc, newBatchMsg("e.a", "big", 4, "1", "")), 10199)

	pubRequest(t, n.nc, newBatchMsg("e.a", "open1", 1, "", ""))
	pubRequest(t, n.nc, newBatchMsg("e.a", "open2", 1, "", ""))
	wantAckErr(t, "too many", pubRequest(t, n.nc, newBatchMsg("e.a", "open3", 1, "", "")), 10210)
	wantAckErr(t, "open1 commit with eob at once", pubRequest(t, n.nc, newBatchMsg("e.a", "fresh", 1, "eob", "")), 10210)

	// Refusals found at the commit drop the whole batch.
	check := func(what string, code int, hdrs ...map[string]string) {
		t.Helper()
		id := "c" + what
		var a batchAck
		for i, h := range hdrs {
			commit := ""
			if i == len(hdrs)-1 {
				commit = "1"
			}
			m := newBatchMsg("e.c", id, i+1, commit, "")
			for k, v := range h {
				m.Header.Set(k, v)
			}
			a = pubRequest(t, n.nc, m)
		}
		wantAckErr(t, what, a, code)
	}
	// Free the two open batches first.
	pubRequest(t, n.nc, newBatchMsg("e.a", "open1", 2, "1", ""))
	pubRequest(t, n.nc, newBatchMsg("e.a", "open2", 2, "1", ""))
	before := batchStreamMsgs(t, s)
	check("dup", 10201, map[string]string{"Nats-Msg-Id": "m1"}, map[string]string{"Nats-Msg-Id": "m1"})
	check("lastid", 10177, map[string]string{}, map[string]string{"Nats-Expected-Last-Msg-Id": "m1"})
	check("lastseq", 10164, map[string]string{}, map[string]string{"Nats-Expected-Last-Sequence": strconv.FormatUint(before+1, 10)})
	check("lastseq-wrong", 10071, map[string]string{"Nats-Expected-Last-Sequence": "999"})
	check("subjseq", 10164, map[string]string{}, map[string]string{"Nats-Expected-Last-Subject-Sequence": "0"})
	check("rollupall", 10111, map[string]string{}, map[string]string{"Nats-Rollup": "all"})
	check("incr", 10168, map[string]string{"Nats-Incr": "1"})
	if got := batchStreamMsgs(t, s); got != before {
		t.Fatalf("refused batches stored %d messages", got-before)
	}
}

func TestE2EAtomicBatchTimeout(t *testing.T) {
	clock := stream.NewFakeClock(time.Now())
	n := startNodeWith(t, stream.Options{StoreDir: t.TempDir(), Clock: clock})
	createBatchStream(t, n, jetstream.StreamConfig{Name: "T", Subjects: []string{"t"}, AllowAtomicPublish: true})
	adv, err := n.nc.SubscribeSync("$JS.EVENT.ADVISORY.STREAM.BATCH_ABANDONED.T")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	wantAdvisory := func(batch, reason string) {
		t.Helper()
		m, err := adv.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("no advisory for %s: %v", batch, err)
		}
		var a struct{ Type, Stream, Batch, Reason string }
		if err := json.Unmarshal(m.Data, &a); err != nil || a.Type != "io.nats.jetstream.advisory.v1.stream_batch_abandoned" ||
			a.Stream != "T" || a.Batch != batch || a.Reason != reason {
			t.Fatalf("advisory %s (%v), want batch %s %s", m.Data, err, batch, reason)
		}
	}
	pubRequest(t, n.nc, newBatchMsg("t", "gap", 1, "", ""))
	pubRequest(t, n.nc, newBatchMsg("t", "gap", 3, "", ""))
	wantAdvisory("gap", "incomplete")
	pubRequest(t, n.nc, newBatchMsg("t", "slow", 1, "", ""))
	clock.Advance(9 * time.Second)
	pubRequest(t, n.nc, newBatchMsg("t", "slow", 2, "", "")) // extends the batch
	clock.Advance(9 * time.Second)
	if a := pubRequest(t, n.nc, newBatchMsg("t", "slow", 3, "", "")); a.Error != nil {
		t.Fatalf("batch abandoned while active: %+v", a)
	}
	clock.Advance(11 * time.Second)
	wantAdvisory("slow", "timeout")
	wantAckErr(t, "after the timeout", pubRequest(t, n.nc, newBatchMsg("t", "slow", 4, "1", "")), 10176)
}

func TestE2EAtomicBatchRestart(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	s := createBatchStream(t, n, jetstream.StreamConfig{Name: "R", Subjects: []string{"r.>"}, AllowAtomicPublish: true})
	for i := 1; i <= 3; i++ {
		pubRequest(t, n.nc, newBatchMsg("r.open", "open", i, "", "x"))
	}
	for i := 1; i <= 3; i++ {
		commit := ""
		if i == 3 {
			commit = "1"
		}
		pubRequest(t, n.nc, newBatchMsg("r.done", "done", i, commit, "y"))
	}
	if got := batchStreamMsgs(t, s); got != 3 {
		t.Fatalf("%d messages, want 3", got)
	}
	n.stop()

	n = startNode(t, dir)
	s, err := n.js.Stream(ctx(t), "R")
	if err != nil {
		t.Fatal(err)
	}
	if got := batchStreamMsgs(t, s); got != 3 {
		t.Fatalf("after restart %d messages, want the committed 3", got)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		m, err := s.GetMsg(ctx(t), seq)
		if err != nil || m.Subject != "r.done" {
			t.Fatalf("seq %d: %+v %v", seq, m, err)
		}
	}
	// The open batch is gone: continuing it is refused.
	wantAckErr(t, "continue after restart", pubRequest(t, n.nc, newBatchMsg("r.open", "open", 4, "1", "x")), 10176)
	if got := batchStreamMsgs(t, s); got != 3 {
		t.Fatalf("%d messages, want 3", got)
	}
}

// TestE2EAtomicBatchRequiredAPILevel: a batch message requiring an API
// level above Wisp's is refused with 412 / 10185 and drops its batch, as
// nats-server does; a requirement Wisp meets is not stored with the
// message.
func TestE2EAtomicBatchRequiredAPILevel(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := createBatchStream(t, n, jetstream.StreamConfig{Name: "L", Subjects: []string{"l.>"}, AllowAtomicPublish: true})
	pubRequest(t, n.nc, newBatchMsg("l.a", "hi", 1, "", ""))
	m := newBatchMsg("l.a", "hi", 2, "", "")
	m.Header.Set("Nats-Required-Api-Level", "99")
	wantAckErr(t, "level 99", pubRequest(t, n.nc, m), 10185)
	wantAckErr(t, "after the refusal", pubRequest(t, n.nc, newBatchMsg("l.a", "hi", 3, "1", "")), 10176)

	m = newBatchMsg("l.a", "ok", 1, "1", "x")
	m.Header.Set("Nats-Required-Api-Level", "2")
	if a := pubRequest(t, n.nc, m); a.Error != nil || a.Count != 1 {
		t.Fatalf("level 2: %+v", a)
	}
	got, err := s.GetMsg(ctx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.Header.Get("Nats-Required-Api-Level") != "" {
		t.Fatalf("stored with its requirement: %v", got.Header)
	}
}

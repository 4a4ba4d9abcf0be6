package stream_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// incr publishes an increment (and whatever other headers kv holds).
func incr(t *testing.T, nc *nats.Conn, subj, by string, data string, kv ...string) batchAck {
	t.Helper()
	m := nats.NewMsg(subj)
	m.Data = []byte(data)
	if by != "" {
		m.Header.Set("Nats-Incr", by)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m.Header.Set(kv[i], kv[i+1])
	}
	return pubRequest(t, nc, m)
}

// counterValue reads subject's stored counter.
func counterValue(t *testing.T, s jetstream.Stream, subj string) (string, *jetstream.RawStreamMsg) {
	t.Helper()
	m, err := s.GetLastMsgForSubject(ctx(t), subj)
	if err != nil {
		t.Fatalf("last of %s: %v", subj, err)
	}
	var v struct {
		Val string `json:"val"`
	}
	if err := json.Unmarshal(m.Data, &v); err != nil {
		t.Fatalf("stored %q: %v", m.Data, err)
	}
	return v.Val, m
}

func TestE2ECounter(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	s := createBatchStream(t, n, jetstream.StreamConfig{Name: "CNT", Subjects: []string{"cnt.>"}, AllowMsgCounter: true})
	createBatchStream(t, n, jetstream.StreamConfig{Name: "PLAIN", Subjects: []string{"plain"}})

	for _, c := range []struct{ by, want string }{
		{"5", "5"}, {"-7", "-2"}, {"+100000000000000000000000000000", "99999999999999999999999999998"}, {"2", "100000000000000000000000000000"},
	} {
		a := incr(t, n.nc, "cnt.a", c.by, "")
		if a.Error != nil || a.Val != c.want {
			t.Fatalf("increment %s: ack %+v, want val %s", c.by, a, c.want)
		}
	}
	if a := incr(t, n.nc, "cnt.b", "1", ""); a.Val != "1" || a.Seq != 5 {
		t.Fatalf("another subject: %+v", a)
	}
	val, m := counterValue(t, s, "cnt.a")
	if val != "100000000000000000000000000000" || m.Header.Get("Nats-Incr") != "2" {
		t.Fatalf("stored %s with headers %v", val, m.Header)
	}

	wantAckErr(t, "on a plain stream", incr(t, n.nc, "plain", "1", ""), 10168)
	wantAckErr(t, "malformed on a plain stream", incr(t, n.nc, "plain", "1.5", ""), 10171)
	wantAckErr(t, "payload", incr(t, n.nc, "cnt.a", "1", "x"), 10170)
	wantAckErr(t, "malformed", incr(t, n.nc, "cnt.a", "abc", ""), 10171)
	wantAckErr(t, "missing", incr(t, n.nc, "cnt.a", "", ""), 10169)
	wantAckErr(t, "with a rollup", incr(t, n.nc, "cnt.a", "1", "", "Nats-Rollup", "sub"), 10171)
	wantAckErr(t, "with an expectation", incr(t, n.nc, "cnt.a", "1", "", "Nats-Expected-Last-Sequence", "5"), 10171)

	cfg := s.CachedInfo().Config
	cfg.AllowMsgCounter = false
	if _, err := n.js.UpdateStream(ctx(t), cfg); apiErrCode(err) != 10052 {
		t.Errorf("turning counters off: %v, want 10052", err)
	}
	for _, bad := range []jetstream.StreamConfig{
		{Name: "BAD1", Subjects: []string{"bad1"}, AllowMsgCounter: true, Discard: jetstream.DiscardNew},
		{Name: "BAD2", Subjects: []string{"bad2"}, AllowMsgCounter: true, Retention: jetstream.WorkQueuePolicy},
	} {
		if _, err := n.js.CreateStream(ctx(t), bad); apiErrCode(err) != 10052 {
			t.Errorf("%s: %v, want 10052", bad.Name, err)
		}
	}

	// The value survives a restart.
	n.stop()
	n = startNode(t, dir)
	if a := incr(t, n.nc, "cnt.a", "-100000000000000000000000000000", ""); a.Val != "0" {
		t.Fatalf("after restart: %+v", a)
	}
}

// A counter stream sourcing two counters holds their sum, kept right when
// a source's totals arrive (Nats-Counter-Sources).
func TestE2ECounterSources(t *testing.T) {
	n := startNode(t, t.TempDir())
	createBatchStream(t, n, jetstream.StreamConfig{Name: "S1", Subjects: []string{"one"}, AllowMsgCounter: true})
	createBatchStream(t, n, jetstream.StreamConfig{Name: "S2", Subjects: []string{"two"}, AllowMsgCounter: true})
	agg := createBatchStream(t, n, jetstream.StreamConfig{Name: "AGG", Subjects: []string{"sum"}, AllowMsgCounter: true,
		Sources: []*jetstream.StreamSource{
			{Name: "S1", SubjectTransforms: []jetstream.SubjectTransformConfig{{Source: "one", Destination: "sum"}}},
			{Name: "S2", SubjectTransforms: []jetstream.SubjectTransformConfig{{Source: "two", Destination: "sum"}}},
		}})
	mirror := createBatchStream(t, n, jetstream.StreamConfig{Name: "M1", Mirror: &jetstream.StreamSource{Name: "S1"}})
	incr(t, n.nc, "one", "5", "")
	incr(t, n.nc, "two", "7", "")
	incr(t, n.nc, "one", "-2", "")
	incr(t, n.nc, "sum", "100", "")
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := agg.Info(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("AGG has %d messages, want 4", info.State.Msgs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A mirror (which cannot count) keeps the origin's values as they are.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		info, err := mirror.Info(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("M1 has %d messages, want 2 (%+v)", info.State.Msgs, info.Mirror)
		}
	}
	if val, _ := counterValue(t, mirror, "one"); val != "3" {
		t.Fatalf("mirror's value %s, want 3", val)
	}
	val, m := counterValue(t, agg, "sum")
	if val != "110" {
		t.Fatalf("sum %s, want 110", val)
	}
	var src map[string]map[string]string
	if err := json.Unmarshal([]byte(m.Header.Get("Nats-Counter-Sources")), &src); err != nil ||
		src["S1"]["one"] != "3" || src["S2"]["two"] != "7" {
		t.Fatalf("Nats-Counter-Sources %q (%v)", m.Header.Get("Nats-Counter-Sources"), err)
	}
}

// A batch of increments is counted in order and committed together.
func TestE2ECounterBatch(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := createBatchStream(t, n, jetstream.StreamConfig{Name: "CB", Subjects: []string{"cb.>"}, AllowMsgCounter: true, AllowAtomicPublish: true})
	incr(t, n.nc, "cb.a", "10", "")
	for i, by := range []string{"1", "2", "3"} {
		m := newBatchMsg("cb.a", "inc", i+1, "", "")
		m.Header.Set("Nats-Incr", by)
		if i == 2 {
			m.Header.Set("Nats-Batch-Commit", "1")
		}
		a := pubRequest(t, n.nc, m)
		if i == 2 && (a.Error != nil || a.Count != 3 || a.Seq != 4) {
			t.Fatalf("commit %+v", a)
		}
	}
	if val, _ := counterValue(t, s, "cb.a"); val != "16" {
		t.Fatalf("after the batch %s, want 16", val)
	}
	// One bad increment refuses the batch.
	pubRequest(t, n.nc, func() *nats.Msg { m := newBatchMsg("cb.a", "bad", 1, "", ""); m.Header.Set("Nats-Incr", "1"); return m }())
	wantAckErr(t, "bad increment in a batch", pubRequest(t, n.nc, newBatchMsg("cb.a", "bad", 2, "1", "")), 10169)
	if val, _ := counterValue(t, s, "cb.a"); val != "16" {
		t.Fatalf("after a refused batch %s, want 16", val)
	}
}

package stream

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wisp-mq/wisp/stream/store"
)

// TestReplayDeadLetters: dead letters change a consumer only through
// operations (the hold inside nak and redeliver-due, or dead-letter-hold
// for a term, then term or dead-lettered once the copy is stored), so the
// log of a run with dead letters replays into the same stored state and
// answers.
func TestReplayDeadLetters(t *testing.T) {
	clock := NewFakeClock(workloadStart)
	h := newHarnessWith(t, Options{Clock: clock, ConsumerFlushDelay: -1})
	var mu sync.Mutex
	var log []applied
	h.svc.recordOp = func(stream string, enc []byte) {
		mu.Lock()
		log = append(log, applied{stream, append([]byte(nil), enc...)})
		mu.Unlock()
	}
	call := func(api, body string) {
		t.Helper()
		b, _ := json.Marshal(h.svc.route(api, []byte(body)))
		if strings.Contains(string(b), `"error"`) {
			t.Fatalf("%s: %s", api, b)
		}
	}
	call("STREAM.CREATE.ORD", `{"name":"ORD","subjects":["ord.*"],"retention":"workqueue"}`)
	call("STREAM.CREATE.DLQ", `{"name":"DLQ","subjects":["dlq.>"]}`)
	call("CONSUMER.CREATE.ORD.C", `{"stream_name":"ORD","config":{"durable_name":"C","ack_policy":"explicit","ack_wait":1000000000,"max_deliver":2,"metadata":{"wisp.dead_letter_subject":"dlq.ord"}}}`)
	for _, subj := range []string{"ord.a", "ord.b", "ord.c"} {
		h.pub(subj, "x")
	}
	fetchAndAck(t, h, step{fetch: "ORD.C", batch: 3, acks: []string{"+TERM bad", "+ACK", ""}})
	// ord.c is delivered again, and only it: ord.a, terminated, is held
	// until its copy is stored.
	clock.Advance(time.Second)
	if got := fetchAndAck(t, h, step{fetch: "ORD.C", batch: 1, acks: []string{""}}); len(got) != 2 || !strings.HasPrefix(got[1], "msg $JS.ACK.ORD.C.2.3.") {
		t.Fatalf("second fetch %q, want ord.c's second delivery", got)
	}
	clock.Advance(time.Second) // ord.c: max_deliver
	c := h.svc.lookup("ORD").cons.get("C")
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.mu.Lock()
		pending := len(c.pending)
		c.mu.Unlock()
		if pending == 0 && h.info("DLQ").State.Msgs == 2 {
			break
		}
		if time.Now().After(deadline) {
			c.mu.Lock()
			for seq, p := range c.pending {
				t.Logf("pending %d: %+v", seq, *p)
			}
			c.mu.Unlock()
			m, _ := h.svc.lookup("DLQ").st.Reader().Msg(h.svc.lookup("DLQ").id, 1)
			t.Fatalf("dead letters not done: %d pending, DLQ %+v %q", pending, h.info("DLQ").State, m.Header)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.flushNow()
	for _, st := range []Store{h.svc.file, h.svc.mem} {
		if err := st.Do(func(*store.Batch) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	stored, final := dumpState(t, h.svc)
	mu.Lock()
	recorded := append([]applied(nil), log...)
	mu.Unlock()
	kinds := map[opKind]int{}
	for _, r := range recorded {
		kinds[opKind(r.enc[1])]++
	}
	if kinds[kindDeadLettered] != 1 || kinds[kindTerm] != 1 || kinds[kindDeadLetterHold] != 1 {
		t.Fatalf("applied kinds %v, want one dead-lettered, one dead-letter-hold and one term", kinds)
	}
	again := replay(t, recorded, store.SyncAlways, clock.Now())
	sameLines(t, "stored key/value", stored, again.stored)
	sameLines(t, "final answer", final, again.final)
}

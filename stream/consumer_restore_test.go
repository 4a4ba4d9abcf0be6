package stream

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestConsumerRestartKeepsDeadlines: what an operation decided about a
// pending message's redelivery survives a restart (and a replica's
// snapshot, which carries the same stored records): a nak's delay, a
// +WPI extension, a queued redelivery and a dead-letter hold come back
// as they were, not recomputed from the last delivery's ack_wait. A
// replica that restarted must hold the consumer as the replicas that did
// not, or it redelivers early once it leads.
func TestConsumerRestartKeepsDeadlines(t *testing.T) {
	h := newHarness(t)
	h.create(Config{Name: "S", Subjects: []string{"s"}})
	for range 5 {
		h.pub("s", "x")
	}
	if e := h.b.api(t, "CONSUMER.CREATE.S.C", map[string]any{"config": map[string]any{
		"durable_name": "C", "ack_policy": "explicit", "ack_wait": int64(time.Minute),
		"metadata": map[string]string{metaDeadLetter: "dl.c"}}}, nil); e != nil {
		t.Fatal(e)
	}
	c := h.svc.lookup("S").cons.byName["C"]
	c.stop(false) // the test is the only driver
	now := time.Now().UnixNano()
	apply := func(o operation) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.applyLocked(encodeOp(nil, "C", o), &outbox{})
	}
	deliver := now + int64(time.Minute)
	apply(&opDeliverBatch{Now: now, Items: []deliverItem{{Seq: 1, Deadline: deliver}, {Seq: 2, Deadline: deliver},
		{Seq: 3, Deadline: deliver}, {Seq: 4, Deadline: deliver}, {Seq: 5, Deadline: deliver}}})
	c.flushNow() // what follows changes records already stored
	nakUntil := now + int64(5*time.Hour)
	apply(&opNak{Seq: 2, Now: now, Deadline: nakUntil})
	wpiUntil := now + int64(3*time.Hour)
	apply(&opProgress{Seq: 3, Deadline: wpiUntil})
	apply(&opNak{Seq: 4, Now: now}) // queued for redelivery now
	apply(&opDeadLetterHold{Seq: 5})
	type want struct {
		due    int64
		queued bool
	}
	wants := map[uint64]want{1: {deliver, false}, 2: {nakUntil, false}, 3: {wpiUntil, false}, 4: {0, true}, 5: {0, false}}
	check := func(c *consumer, when string) {
		t.Helper()
		c.mu.Lock()
		defer c.mu.Unlock()
		for seq, w := range wants {
			p := c.pending[seq]
			if p == nil {
				t.Fatalf("%s: %d not pending", when, seq)
			}
			if p.due != w.due || p.queued != w.queued {
				t.Fatalf("%s: %d due %d queued %v, want due %d queued %v", when, seq, p.due, p.queued, w.due, w.queued)
			}
		}
	}
	check(c, "before the restart")
	h.restart()
	c2 := h.svc.lookup("S").cons.byName["C"]
	check(c2, "after the restart")
	c2.mu.Lock()
	defer c2.mu.Unlock()
	if at, ok := c2.nextDeadline(); !ok || at.UnixNano() != deliver {
		t.Fatalf("next deadline after the restart %v %v, want %v", at, ok, time.Unix(0, deliver))
	}
}

// ackSeq is the stream sequence in an ack reply subject.
func ackSeq(t *testing.T, reply string) uint64 {
	t.Helper()
	toks := strings.Split(reply, ".")
	if len(toks) < 9 {
		t.Fatalf("ack subject %q", reply)
	}
	seq, err := strconv.ParseUint(toks[5], 10, 64)
	if err != nil {
		t.Fatalf("ack subject %q: %v", reply, err)
	}
	return seq
}

// TestConsumerRestartKeepsLastPerSubject: a deliver_last_per_subject
// consumer that has delivered some of its starting messages delivers the
// rest after a restart, neither skipping nor repeating one.
func TestConsumerRestartKeepsLastPerSubject(t *testing.T) {
	h := newHarness(t)
	h.create(Config{Name: "S", Subjects: []string{"s.>"}})
	for _, subj := range []string{"s.a", "s.b", "s.a", "s.c", "s.b"} {
		h.pub(subj, "x") // the last of each: a 3, c 4, b 5
	}
	if e := h.b.api(t, "CONSUMER.CREATE.S.L", map[string]any{"config": map[string]any{
		"durable_name": "L", "ack_policy": "explicit", "ack_wait": int64(time.Hour),
		"deliver_policy": "last_per_subject", "filter_subject": "s.>"}}, nil); e != nil {
		t.Fatal(e)
	}
	acks := pullN(t, h, "L", 1)
	if got := ackSeq(t, acks[0]); got != 3 {
		t.Fatalf("first delivery %d, want 3", got)
	}
	_ = h.b.Publish(acks[0], "", nil, []byte("+ACK"))
	h.restart()
	var got []uint64
	for _, a := range pullN(t, h, "L", 2) {
		got = append(got, ackSeq(t, a))
	}
	if len(got) != 2 || got[0] != 4 || got[1] != 5 {
		t.Fatalf("after the restart got %v, want [4 5]", got)
	}
	h.pub("s.d", "x")
	if a := pullN(t, h, "L", 1); ackSeq(t, a[0]) != 6 {
		t.Fatalf("after the starts got %s, want 6", a[0])
	}
}

// TestConsumerStateRecordLastPerSubject: the state record carries the
// last-per-subject starts after its fixed part; a record without them
// (as every record was before) reads with none, and a damaged tail is
// refused rather than read as other starts.
func TestConsumerStateRecordLastPerSubject(t *testing.T) {
	a := newAckState(RetentionLimits)
	a.next, a.dseq, a.afC, a.afS = 1000, 7, 3, 2
	a.lps = []uint64{3, 5, 900, 1 << 40}
	rec := a.encodeState()
	b := newAckState(RetentionLimits)
	if err := b.decodeState(rec); err != nil {
		t.Fatal(err)
	}
	if b.next != 1000 || b.dseq != 7 || b.afC != 3 || b.afS != 2 || len(b.lps) != 4 || b.lps[2] != 900 || b.lps[3] != 1<<40 {
		t.Fatalf("decoded %+v", b)
	}
	if err := b.decodeState(rec[:stateLen]); err != nil || b.lps != nil {
		t.Fatalf("fixed part alone: lps %v, %v", b.lps, err)
	}
	for cut := stateLen + 1; cut < len(rec); cut++ {
		if err := b.decodeState(rec[:cut]); err == nil {
			t.Fatalf("a record cut at %d of %d read as %v", cut, len(rec), b.lps)
		}
	}
	if err := b.decodeState(append(rec, 0)); err == nil {
		t.Fatal("a trailing byte was accepted")
	}
}

package stream

import (
	"testing"
	"time"
)

// TestDeliverBatchApplySkipsWhatStateForbids: a replicated consumer's
// deliveries and acks are applied from log entries decided earlier, so
// apply itself refuses what the state no longer allows: a redelivery of
// a message acknowledged since the pass chose it is skipped (it would
// make an acknowledged message pending again); an ack batch
// acknowledges each of its messages and moves the floor.
func TestDeliverBatchApplySkipsWhatStateForbids(t *testing.T) {
	h := newHarness(t)
	h.create(Config{Name: "S", Subjects: []string{"s"}})
	for range 5 {
		h.pub("s", "x")
	}
	c := makeConsumer(t, h, "C")
	c.stop(false) // the test is the only driver
	now := time.Unix(1767225600, 0).UnixNano()
	deadline := now + int64(time.Hour)
	apply := func(o operation) ackResult {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.applyLocked(encodeOp(nil, "C", o), &outbox{})
	}
	res := apply(&opDeliverBatch{Now: now, Items: []deliverItem{{Seq: 1, Deadline: deadline},
		{Seq: 2, Deadline: deadline}, {Seq: 3, Deadline: deadline}}})
	for i, r := range res.dels {
		if r.count != 1 || r.dseq != uint64(i+1) || !r.first {
			t.Fatalf("first deliveries: item %d gave %+v", i, r)
		}
	}
	apply(&opNak{Seq: 2, Now: now})
	apply(&opNak{Seq: 3, Now: now})
	apply(&opAckBatch{Now: now, Seqs: []uint64{1, 2}})
	res = apply(&opDeliverBatch{Now: now, Items: []deliverItem{
		{Seq: 2, Redelivery: true, Deadline: deadline}, // acked since: skipped
		{Seq: 3, Redelivery: true, Deadline: deadline}, // still pending: redelivered
		{Seq: 4, Deadline: deadline},
	}})
	want := []deliverResult{{}, {count: 2, dseq: 4}, {count: 1, dseq: 5, first: true}}
	for i, r := range res.dels {
		if r != want[i] {
			t.Fatalf("item %d gave %+v, want %+v", i, r, want[i])
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending[2] != nil || c.pending[1] != nil || len(c.pending) != 2 || c.afS != 2 || c.next != 5 {
		t.Fatalf("pending %v, ack floor %d, next %d", c.pending, c.afS, c.next)
	}
}

// TestDeliverBatchApplySkipsStaleFirstDelivery: a pass's entry may apply
// after entries its leader had not applied when it chose the pass: a
// server that lost and regained leadership proposes from the state it
// held, behind its successor's deliveries and acks in the log. A first
// delivery of a message the consumer has delivered since (acknowledged
// or still pending) is skipped, so an acknowledged message never becomes
// pending again and a pending one is not delivered before its ack_wait.
func TestDeliverBatchApplySkipsStaleFirstDelivery(t *testing.T) {
	h := newHarness(t)
	h.create(Config{Name: "S", Subjects: []string{"s"}})
	for range 5 {
		h.pub("s", "x")
	}
	c := makeConsumer(t, h, "C")
	c.stop(false) // the test is the only driver
	now := time.Unix(1767225600, 0).UnixNano()
	deadline := now + int64(time.Hour)
	apply := func(o operation) ackResult {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.applyLocked(encodeOp(nil, "C", o), &outbox{})
	}
	// The successor's entries: messages 1 to 3 delivered, 1 and 2 acked.
	apply(&opDeliverBatch{Now: now, Items: []deliverItem{{Seq: 1, Deadline: deadline},
		{Seq: 2, Deadline: deadline}, {Seq: 3, Deadline: deadline}}})
	apply(&opAckBatch{Now: now, Seqs: []uint64{1, 2}})
	// The stale pass, chosen from a state where nothing was delivered.
	res := apply(&opDeliverBatch{Now: now, Items: []deliverItem{
		{Seq: 1, Deadline: deadline}, // acked since: skipped
		{Seq: 2, Deadline: deadline}, // acked since: skipped
		{Seq: 3, Deadline: deadline}, // pending since: skipped
		{Seq: 4, Deadline: deadline}, // new: delivered
	}})
	want := []deliverResult{{}, {}, {}, {count: 1, dseq: 4, first: true}}
	for i, r := range res.dels {
		if r != want[i] {
			t.Fatalf("item %d gave %+v, want %+v", i, r, want[i])
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending[1] != nil || c.pending[2] != nil || c.pending[3] == nil || c.pending[3].count != 1 ||
		len(c.pending) != 2 || c.afS != 2 || c.next != 5 || c.dseq != 4 {
		t.Fatalf("pending %v, ack floor %d, next %d, delivered %d", c.pending, c.afS, c.next, c.dseq)
	}
}

package stream

import (
	"testing"
	"time"
)

// The acknowledgement state runs without a Service, a clock or a store:
// these tests drive it as a replica's state machine would, with the time
// of each operation as an argument.

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func deliverN(a *ackState, policy AckPolicy, seqs ...uint64) {
	for _, s := range seqs {
		_, p, _ := a.delivered(policy, s, false, t0)
		if p != nil {
			a.schedule(s, p, t0.Add(time.Second))
		}
	}
}

func TestAckStateFloorFollowsOldestPending(t *testing.T) {
	a := newAckState(RetentionLimits)
	a.next = 1
	deliverN(&a, AckExplicit, 1, 2, 3)
	a.acked(AckExplicit, 2, t0)
	if a.afS != 0 || len(a.pending) != 2 {
		t.Fatalf("after acking 2: floor %d, %d pending", a.afS, len(a.pending))
	}
	a.acked(AckExplicit, 1, t0)
	if a.afS != 2 || a.afC != 2 {
		t.Fatalf("after acking 1: floor %d/%d, want 2/2", a.afS, a.afC)
	}
	a.acked(AckExplicit, 3, t0)
	if a.afS != 3 || a.afC != 3 || len(a.pending) != 0 {
		t.Fatalf("after acking 3: floor %d/%d, %d pending", a.afS, a.afC, len(a.pending))
	}
}

func TestAckStateAckAllAndRemovals(t *testing.T) {
	a := newAckState(RetentionWorkQueue)
	a.next = 1
	deliverN(&a, AckAll, 1, 2, 3, 4)
	a.acked(AckAll, 3, t0)
	if a.afS != 3 || len(a.pending) != 1 || len(a.removals) != 3 {
		t.Fatalf("floor %d, %d pending, removals %v", a.afS, len(a.pending), a.removals)
	}
}

func TestAckStateExpiryRedeliversThenGivesUp(t *testing.T) {
	a := newAckState(RetentionLimits)
	a.next = 1
	deliverN(&a, AckExplicit, 1, 2)
	if ex, q := a.expire(t0.Add(time.Second-1), 2); len(ex) != 0 || q {
		t.Fatal("expired before the deadline")
	}
	if at, ok := a.nextDeadline(); !ok || !at.Equal(t0.Add(time.Second)) {
		t.Fatalf("next deadline %v %v", at, ok)
	}
	ex, q := a.expire(t0.Add(time.Second), 2)
	if len(ex) != 0 || !q || len(a.rdq) != 2 {
		t.Fatalf("at the deadline: exhausted %v, queued %v, rdq %v", ex, q, a.rdq)
	}
	// Redeliver 1 (second delivery); at its next deadline it is exhausted.
	count, p, first := a.delivered(AckExplicit, 1, true, t0.Add(2*time.Second))
	if count != 2 || first || a.redelivered != 1 {
		t.Fatalf("redelivery count %d first %v redelivered %d", count, first, a.redelivered)
	}
	p.queued = false
	a.schedule(1, p, t0.Add(3*time.Second))
	ex, _ = a.expire(t0.Add(3*time.Second), 2)
	if len(ex) != 1 || ex[0] != 1 {
		t.Fatalf("exhausted %v, want [1]", ex)
	}
	a.givenUp(1, a.pending[1])
	if a.redelivered != 0 || a.pending[1] != nil || a.afS != 1 {
		t.Fatalf("after giving up: redelivered %d, floor %d", a.redelivered, a.afS)
	}
}

func TestAckStateIsDeterministic(t *testing.T) {
	run := func() []byte {
		a := newAckState(RetentionInterest)
		a.next = 1
		for i := uint64(1); i <= 50; i++ {
			deliverN(&a, AckExplicit, i)
			if i%3 == 0 {
				a.acked(AckExplicit, i-1, t0.Add(time.Duration(i)))
			}
		}
		a.expire(t0.Add(time.Second), 0)
		return append(a.encodeState(), byte(len(a.pending)), byte(len(a.rdq)), byte(len(a.removals)))
	}
	if a, b := run(), run(); string(a) != string(b) {
		t.Fatalf("same operations, different state:\n%x\n%x", a, b)
	}
	var back ackState
	a := newAckState(RetentionLimits)
	a.next, a.dseq, a.afC, a.afS, a.lastAck = 9, 7, 5, 6, t0
	if err := back.decodeState(a.encodeState()); err != nil || back.next != 9 || back.dseq != 7 || back.afC != 5 || back.afS != 6 || !back.lastAck.Equal(t0) {
		t.Fatalf("round trip %+v %v", back, err)
	}
}

// TestAckStateExpireReportsEachExhaustedOnce: a deadline set twice for the
// same time leaves two heap entries; the message is still given up once.
func TestAckStateExpireReportsEachExhaustedOnce(t *testing.T) {
	a := newAckState(RetentionLimits)
	a.next = 1
	deliverN(&a, AckExplicit, 1)
	a.schedule(1, a.pending[1], t0.Add(time.Second)) // as +WPI at the same instant would
	ex, _ := a.expire(t0.Add(time.Second), 1)
	if len(ex) != 1 {
		t.Fatalf("exhausted %v, want [1] once", ex)
	}
}

// FuzzAckStateDecode: a stored state record of any bytes decodes or is
// refused with an error, and what decodes encodes back to the same bytes.
func FuzzAckStateDecode(f *testing.F) {
	a := newAckState(RetentionLimits)
	a.next, a.dseq, a.afC, a.afS, a.lastDlv, a.lastAck = 9, 7, 5, 6, t0, t0.Add(time.Second)
	f.Add(a.encodeState())
	f.Add(make([]byte, stateLen))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s ackState
		if err := s.decodeState(b); err != nil {
			return
		}
		if got := s.encodeState(); string(got) != string(b) {
			t.Fatalf("decoded %x, encodes back as %x", b, got)
		}
	})
}

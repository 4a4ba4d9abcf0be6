package stream

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/wisp-mq/wisp/stream/store"
)

// ackState is a consumer's acknowledgement state: where it stands in the
// stream, what it handed out and is waiting to hear back about, and what
// is due for redelivery. It is the part of a consumer a replicated stream
// must hold identically on every replica, so it is kept apart from the
// consumer's driver (consumer.go: the timer, the delivery goroutine, pull
// requests, the outbox) and follows the state machine's rules (doc.go):
// every method is a function of the state and its arguments; time comes
// in as an argument, never from a clock; nothing here arms a timer, sends
// a message or touches the store. The driver calls it with the consumer's
// mu held, and arms its timer for what the methods report as due.
type ackState struct {
	retention Retention // the stream's, which never changes

	next     uint64   // next stream sequence to consider for a first delivery
	dseq     uint64   // consumer sequence of the last delivery
	afC, afS uint64   // ack floor (consumer and stream sequence)
	lps      []uint64 // last-per-subject sequences still to deliver first
	lastDlv  time.Time
	lastAck  time.Time

	pending     map[uint64]*pend // by stream sequence
	redelivered int              // pending entries delivered more than once
	rdq         seqHeap          // stream sequences due for redelivery
	deadlines   deadlineHeap

	// What changed since the last flush (consumer_store.go): pending
	// entries to write or delete, whether the state record changed, and
	// acknowledged sequences a workqueue or interest stream may drop.
	dirty      map[uint64]struct{}
	stateDirty bool
	removals   []uint64
}

func newAckState(retention Retention) ackState {
	return ackState{retention: retention, pending: map[uint64]*pend{}, dirty: map[uint64]struct{}{}}
}

// pend is one delivered, unacknowledged message.
type pend struct {
	dseq   uint64 // consumer sequence of the first delivery
	count  uint64 // deliveries so far
	ts     int64  // unix nanos of the last delivery
	due    int64  // redelivery deadline; 0 while queued for redelivery
	queued bool   // in rdq
	stored bool   // written by a flush: forgetting it takes a delete
}

// delivered records a delivery of stream sequence seq at now, and returns
// its delivery count and, unless policy is ack none, its pending entry;
// first says it was the first delivery of a message at or past next. The
// caller schedules the entry's redelivery (schedule).
func (a *ackState) delivered(policy AckPolicy, seq uint64, redelivery bool, now time.Time) (count uint64, p *pend, first bool) {
	a.dseq++
	a.lastDlv = now
	a.stateDirty = true
	if !redelivery && seq >= a.next {
		a.next = seq + 1
		first = true
	}
	if policy == AckNone {
		a.afC, a.afS = a.dseq, max(a.afS, seq)
		if a.retention == RetentionInterest {
			a.removals = append(a.removals, seq)
		}
		return 1, nil, first
	}
	p = a.pending[seq]
	if p == nil {
		p = &pend{dseq: a.dseq}
		a.pending[seq] = p
	}
	p.count++
	if p.count == 2 {
		a.redelivered++
	}
	p.ts = now.UnixNano()
	a.dirty[seq] = struct{}{}
	return p.count, p, first
}

// acked acknowledges seq (and, under ack all, everything below it) at now.
func (a *ackState) acked(policy AckPolicy, seq uint64, now time.Time) {
	switch policy {
	case AckNone:
		return
	case AckAll:
		// Walk whichever is shorter: the sequences above the floor, or the
		// pending set.
		if seq > a.afS && seq-a.afS <= uint64(len(a.pending)) {
			for s := a.afS + 1; s <= seq; s++ {
				if p := a.pending[s]; p != nil {
					a.dropPending(s, p)
				}
			}
		} else {
			for s, p := range a.pending {
				if s <= seq {
					a.dropPending(s, p)
				}
			}
		}
	default:
		p := a.pending[seq]
		if p == nil {
			return
		}
		a.dropPending(seq, p)
	}
	a.lastAck = now
	a.updateFloor()
}

// dropPending forgets a pending message as acknowledged.
func (a *ackState) dropPending(seq uint64, p *pend) {
	delete(a.pending, seq)
	if p.count > 1 {
		a.redelivered--
	}
	a.forgetStored(seq, p)
	if a.retention != RetentionLimits {
		a.removals = append(a.removals, seq)
	}
}

// givenUp forgets a pending message delivered max_deliver times: it is
// not acknowledged (a workqueue keeps it), but the ack floor may pass it.
func (a *ackState) givenUp(seq uint64, p *pend) {
	delete(a.pending, seq)
	if p.count > 1 {
		a.redelivered--
	}
	a.forgetStored(seq, p)
	a.updateFloor()
}

// forgetStored marks a forgotten pending entry for deletion if a flush
// wrote it, or drops its unwritten change.
func (a *ackState) forgetStored(seq uint64, p *pend) {
	if p.stored {
		a.dirty[seq] = struct{}{}
	} else {
		delete(a.dirty, seq)
	}
}

// updateFloor moves the ack floor up to just below the oldest pending
// message, or to what was delivered when nothing is pending. Every pending
// sequence stays above the floor (ack all relies on it). The walk is
// amortised: the floor only moves forward.
func (a *ackState) updateFloor() {
	if len(a.pending) == 0 {
		a.afC, a.afS = a.dseq, a.next-1
		if len(a.lps) > 0 && a.lps[0]-1 < a.afS {
			// Last-per-subject starts still to send lie below next.
			a.afS = a.lps[0] - 1
		}
		return
	}
	for s := a.afS + 1; s < a.next; s++ {
		if p := a.pending[s]; p != nil {
			a.afS = s - 1
			if p.dseq > 0 {
				a.afC = p.dseq - 1
			}
			return
		}
	}
}

// schedule (re)sets the redelivery deadline of pending message seq.
func (a *ackState) schedule(seq uint64, p *pend, at time.Time) {
	p.due = at.UnixNano()
	a.dirty[seq] = struct{}{} // the deadline is stored with it (storedDue)
	heap.Push(&a.deadlines, deadline{at: p.due, seq: seq})
	if len(a.deadlines) > 2*len(a.pending)+1024 {
		a.compactDeadlines()
	}
}

// compactDeadlines drops stale heap entries.
func (a *ackState) compactDeadlines() {
	live := a.deadlines[:0]
	for _, d := range a.deadlines {
		if p := a.pending[d.seq]; p != nil && !p.queued && p.due == d.at {
			live = append(live, d)
		}
	}
	clear(a.deadlines[len(live):])
	a.deadlines = live
	heap.Init(&a.deadlines)
}

// queueRedelivery puts pending message seq on the redelivery queue now.
func (a *ackState) queueRedelivery(seq uint64, p *pend) {
	if p.queued {
		return
	}
	p.queued, p.due = true, 0
	a.dirty[seq] = struct{}{}
	heap.Push(&a.rdq, seq)
}

// nextDeadline returns the earliest live redelivery deadline, dropping
// stale entries on the way.
func (a *ackState) nextDeadline() (time.Time, bool) {
	for len(a.deadlines) > 0 {
		d := a.deadlines[0]
		if p := a.pending[d.seq]; p != nil && !p.queued && p.due == d.at {
			return time.Unix(0, d.at), true
		}
		heap.Pop(&a.deadlines)
	}
	return time.Time{}, false
}

// expire moves every delivery whose deadline is not after now to the
// redelivery queue, and returns those delivered maxDeliver times (when
// maxDeliver > 0) instead, still pending, for the caller to give up on
// (givenUp) and report; each is returned once, its deadline cleared, even
// if stale heap entries name it again. queued says whether anything was
// queued.
func (a *ackState) expire(now time.Time, maxDeliver int) (exhausted []uint64, queued bool) {
	n := now.UnixNano()
	for len(a.deadlines) > 0 && a.deadlines[0].at <= n {
		d := heap.Pop(&a.deadlines).(deadline)
		p := a.pending[d.seq]
		if p == nil || p.queued || p.due != d.at {
			continue
		}
		if maxDeliver > 0 && p.count >= uint64(maxDeliver) {
			p.due = 0
			a.dirty[d.seq] = struct{}{}
			exhausted = append(exhausted, d.seq)
			continue
		}
		a.queueRedelivery(d.seq, p)
		queued = true
	}
	return exhausted, queued
}

// stateLen is the size of the stored state record's fixed part: next,
// dseq, ack floor (consumer, stream), last delivery and last ack times.
// While last-per-subject starts remain to be delivered they follow it:
// their number and each as the difference from the one before, as
// uvarints. Without them the record is the fixed part alone, as it was
// before the starts were stored.
const stateLen = 6 * 8

func (a *ackState) encodeState() []byte {
	b := make([]byte, 0, stateLen+len(a.lps)*3)
	b = binary.BigEndian.AppendUint64(b, a.next)
	b = binary.BigEndian.AppendUint64(b, a.dseq)
	b = binary.BigEndian.AppendUint64(b, a.afC)
	b = binary.BigEndian.AppendUint64(b, a.afS)
	b = binary.BigEndian.AppendUint64(b, uint64(unixNanos(a.lastDlv)))
	b = binary.BigEndian.AppendUint64(b, uint64(unixNanos(a.lastAck)))
	if len(a.lps) > 0 {
		b = binary.AppendUvarint(b, uint64(len(a.lps)))
		prev := uint64(0)
		for _, seq := range a.lps {
			b = binary.AppendUvarint(b, seq-prev)
			prev = seq
		}
	}
	return b
}

func (a *ackState) decodeState(b []byte) error {
	if len(b) < stateLen {
		return fmt.Errorf("%w: consumer state is %d bytes", store.ErrCorrupt, len(b))
	}
	lps, err := decodeLPS(b[stateLen:])
	if err != nil {
		return err
	}
	a.next = binary.BigEndian.Uint64(b[0:])
	a.dseq = binary.BigEndian.Uint64(b[8:])
	a.afC = binary.BigEndian.Uint64(b[16:])
	a.afS = binary.BigEndian.Uint64(b[24:])
	if ns := int64(binary.BigEndian.Uint64(b[32:])); ns != 0 {
		a.lastDlv = time.Unix(0, ns)
	}
	if ns := int64(binary.BigEndian.Uint64(b[40:])); ns != 0 {
		a.lastAck = time.Unix(0, ns)
	}
	a.lps = lps
	return nil
}

// decodeLPS reads the last-per-subject starts after the state record's
// fixed part, ascending as they were written.
func decodeLPS(b []byte) ([]uint64, error) {
	if len(b) == 0 {
		return nil, nil
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n == 0 || n > uint64(len(b)-k) { // each takes at least a byte
		return nil, fmt.Errorf("%w: consumer state's last-per-subject count", store.ErrCorrupt)
	}
	b = b[k:]
	lps := make([]uint64, 0, n)
	prev := uint64(0)
	for range n {
		d, k := binary.Uvarint(b)
		if k <= 0 || d == 0 || prev+d < prev {
			return nil, fmt.Errorf("%w: consumer state's last-per-subject starts", store.ErrCorrupt)
		}
		b = b[k:]
		prev += d
		lps = append(lps, prev)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the consumer state", store.ErrCorrupt, len(b))
	}
	return lps, nil
}

// Stored redelivery marks (store.Pending.Due): a pending message's
// redelivery as the operations left it, so that a restart, or a replica
// installing a snapshot, holds what the others hold. A positive Due is
// the deadline; 0 is a record from before they were stored.
const (
	dueQueued int64 = -1 // queued for redelivery now
	dueHeld   int64 = -2 // no deadline: held while its dead-letter copy is stored
)

// storedDue is p's redelivery as stored.
func (p *pend) storedDue() int64 {
	switch {
	case p.queued:
		return dueQueued
	case p.due == 0:
		return dueHeld
	}
	return p.due
}

// unixNanos is t in unix nanoseconds, with the zero time as 0.
func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

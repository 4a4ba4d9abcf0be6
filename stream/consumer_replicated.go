package stream

import (
	"container/heap"
	"strconv"
	"sync"

	"github.com/wisp-mq/wisp/stream/store"
)

// A replicated stream's consumers change their acknowledgement state
// only by applying committed entries of the stream's log, on every
// replica, the leader included, in log order (replica.go). The leader's
// driver still decides (which message goes next, to which pull request,
// with which deadline), but a decision is an operation proposed to the
// log, not a change: the delivery, ack, nak, term, progress, forget,
// redelivery and reset take effect when their entry applies. So no
// replica ever holds a change the log lost (a deposed leader's, or a
// restarted leader's that it applied and logged twice), and every
// replica's consumers match the log's.
//
// Deliveries cost one entry per pass of the delivery goroutine (an
// opDeliverBatch of up to replDeliverChunk messages): the driver
// proposes them, waits for the entry to apply, and only then sends the
// messages, with the delivery counts and consumer sequences the apply
// gave them. A client therefore never holds a message whose delivery
// the log does not have, and its ack of it always finds the delivery.
// Acks are gathered while one ack entry is on its way and proposed
// together (an opAckBatch) when it applied. A DoubleAck (AckSync) is
// answered once the entry holding its ack committed in the log and
// applied on the leader.

// replDeliverChunk bounds one pass of a replicated consumer's driver:
// larger than deliverChunk, since each pass waits for a commit.
const replDeliverChunk = 256

// replDriver is the part of a consumer's driver that only replicated
// streams use, under the consumer's mu except propMu.
type replDriver struct {
	props  []*consOp  // proposed under mu, submitted after it (submitProposals)
	propMu sync.Mutex // keeps submissions in the order they were made

	plan     []plannedDelivery // this pass's deliveries, until their entry applies
	planNew  int               // of them, first deliveries (they count against max_ack_pending)
	planNext uint64            // the sequence after the last first delivery planned
	lpsSkip  int               // last-per-subject starts planned or forgotten this pass

	dueProposed  bool // a redeliver-due is in the log's hands: do not propose another
	resetPending bool // a reset is in the log's hands: plan nothing from the old position

	// Acks gather while one ack entry is on its way (batchAckLocked).
	acks        []uint64
	acksNow     int64    // when the last of them arrived
	ackWaiting  []string // DoubleAck replies of the gathered acks
	ackInFlight bool
}

// plannedDelivery is one delivery of a pass: its item in the entry and
// its message in the pass's outbox, whose reply is filled in once the
// entry applied.
type plannedDelivery struct {
	item deliverItem
	idx  int // in out.msgs
	m    *store.Msg
}

// consOp is a consumer operation proposed to a replicated stream's log.
// On the leader that proposed it, its Apply is the entry's apply.
type consOp struct {
	c       *consumer
	kind    opKind
	enc     []byte
	res     ackResult
	out     outbox
	reply   string     // a DoubleAck's reply, sent once the entry applied
	replies []string   // an ack batch's DoubleAck replies, likewise
	done    chan error // told the outcome, for a waiting driver
}

func (o *consOp) logEntry() []byte { return o.enc }

func (o *consOp) Apply(*store.Batch) error {
	o.res = o.c.applyLogged(o.enc, &o.out)
	return nil
}

// Done runs once the entry applied and the local store committed it, or
// once the proposal failed (not the leader, leadership lost, stopped).
func (o *consOp) Done(err error) {
	c := o.c
	if err != nil && o.kind == kindRedeliverDue {
		c.mu.Lock()
		c.dueProposed = false // another may be proposed
		c.rearmLocked(c.svc.clock.Now())
		c.mu.Unlock()
	}
	if err != nil && o.kind == kindConsumerReset {
		c.mu.Lock()
		c.resetPending = false
		c.mu.Unlock()
		c.wake()
	}
	if err == nil {
		if o.reply != "" {
			_ = c.svc.broker.Publish(o.reply, "", nil, nil)
		}
		for _, r := range o.replies {
			_ = c.svc.broker.Publish(r, "", nil, nil)
		}
		if len(o.out.msgs) > 0 || len(o.out.dl) > 0 {
			// Not from the store's writer: an advisory may be captured
			// by a stream, whose publish waits for the writer.
			go o.out.send(c.svc)
		}
	}
	if o.done != nil {
		o.done <- err
	}
	if o.kind == kindAckBatch {
		// The acks gathered meanwhile go now, in one entry; submitted
		// from a goroutine of their own, not the store's writer.
		c.mu.Lock()
		c.ackInFlight = false
		more := c.proposeAcksLocked()
		c.mu.Unlock()
		if more {
			go c.submitProposals()
		}
	}
}

// batchAckLocked takes an ack of a replicated consumer, with the
// DoubleAck reply to send once it applied (if any): proposed at once
// when no ack entry is on its way, gathered with the others otherwise,
// so that a stream of acks costs about one entry per commit rather than
// one per message. Called with mu held, on the leader.
func (c *consumer) batchAckLocked(seq uint64, now int64, reply string) {
	c.acks = append(c.acks, seq)
	c.acksNow = now
	if reply != "" {
		c.ackWaiting = append(c.ackWaiting, reply)
	}
	if !c.ackInFlight {
		c.proposeAcksLocked()
	}
}

// proposeAcksLocked queues the gathered acks as one entry, and reports
// whether it did. Not the leader any more, they are dropped, unanswered:
// the clients ask again. Called with mu held.
func (c *consumer) proposeAcksLocked() bool {
	if len(c.acks) == 0 {
		return false
	}
	c.opBuf = encodeOp(c.opBuf[:0], c.name, &opAckBatch{Now: c.acksNow, Seqs: c.acks})
	o := c.queueProposalLocked(kindAckBatch)
	if o != nil {
		o.replies = c.ackWaiting
		c.ackInFlight = true
	}
	c.acks, c.ackWaiting = nil, nil
	return o != nil
}

// applyLogged applies a committed consumer operation of a replicated
// stream (the leader's own consOp, or any entry through the stream's
// apply) and, on the leader, lets the driver act on it: its timer is
// re-armed and its delivery goroutine woken. What the apply queued on
// out (advisories, dead letters) is the leader's to send; a follower
// drops it.
func (c *consumer) applyLogged(enc []byte, out *outbox) ackResult {
	c.mu.Lock()
	if c.deleted {
		c.mu.Unlock()
		return ackResult{}
	}
	res := c.applyLocked(enc, out)
	leader := c.s.isLeader()
	if k, _, _, err := opHeader(enc); err == nil {
		switch k {
		case kindRedeliverDue:
			c.dueProposed = false
			if leader {
				c.rearmLocked(c.svc.clock.Now())
			}
		case kindConsumerReset:
			c.resetPending = false
			// What the driver read ahead was read from the old position.
			clear(c.ahead)
			c.ahead = c.ahead[:0]
			clear(c.redo)
			c.redo = c.redo[:0]
		}
	}
	c.mu.Unlock()
	if !leader {
		out.msgs, out.dl = out.msgs[:0], out.dl[:0]
		return res
	}
	c.wake()
	return res
}

// queueProposalLocked encodes nothing itself: it queues the operation in
// c.opBuf for the stream's log, to be submitted once mu is released
// (submitProposals). Only the leader proposes. Called with mu held.
func (c *consumer) queueProposalLocked(k opKind) *consOp {
	if !c.s.repl.leader.Load() {
		return nil
	}
	o := &consOp{c: c, kind: k, enc: append([]byte(nil), c.opBuf...)}
	switch k {
	case kindRedeliverDue:
		c.dueProposed = true
	case kindConsumerReset:
		c.resetPending = true
	}
	c.props = append(c.props, o)
	return o
}

// submitProposals proposes the operations queued under mu, in order.
// Called without mu.
func (c *consumer) submitProposals() {
	if c.s.repl == nil {
		return
	}
	c.propMu.Lock()
	defer c.propMu.Unlock()
	c.mu.Lock()
	props := c.props
	c.props = nil
	c.mu.Unlock()
	for _, o := range props {
		c.s.repl.Submit(o)
	}
}

// planLocked records a delivery a pass decided, instead of applying it:
// the message goes into out without its reply subject until the pass's
// entry applied (finishPass). Called with mu held.
func (c *consumer) planLocked(m *store.Msg, to string, redelivery bool, deadline int64, out *outbox) {
	if redelivery {
		for _, p := range c.plan {
			if p.item.Seq == m.Seq && p.item.Redelivery {
				return // queued twice (a queue rebuilt on taking over): once is enough
			}
		}
	}
	c.plan = append(c.plan, plannedDelivery{item: deliverItem{Seq: m.Seq, Redelivery: redelivery, Deadline: deadline},
		idx: len(out.msgs), m: m})
	if !redelivery {
		c.planNew++
		if m.Seq >= c.next {
			c.planNext = m.Seq + 1
		} else if len(c.lps) > c.lpsSkip && c.lps[c.lpsSkip] == m.Seq {
			c.lpsSkip++
		}
	}
	hdr, data := m.Header, m.Data
	if c.cfg.HeadersOnly {
		hdr = headersOnly(m.Header, len(m.Data))
		data = nil
	}
	out.msgs = append(out.msgs, outMsg{subject: string(m.Subject), hdr: hdr, data: data, to: to})
}

// proposePassLocked queues the pass's deliveries as one entry, and
// returns the operation to wait for (nil when nothing was planned or
// this server does not lead). Called with mu held.
func (c *consumer) proposePassLocked(now int64) *consOp {
	if len(c.plan) == 0 {
		return nil
	}
	items := make([]deliverItem, len(c.plan))
	for i := range c.plan {
		items[i] = c.plan[i].item
	}
	c.opBuf = encodeOp(c.opBuf[:0], c.name, &opDeliverBatch{Now: now, Items: items})
	o := c.queueProposalLocked(kindDeliverBatch)
	if o != nil {
		o.done = make(chan error, 1)
	}
	return o
}

// finishPass waits for the pass's entry to apply, then sends the pass's
// outbox: the deliveries the apply recorded, with their reply subjects,
// and whatever else the pass queued (status messages, flow control), in
// the order it was queued. A delivery the apply skipped (its message
// acknowledged or removed meanwhile) or a pass whose entry failed sends
// no message; a failed pass puts its redeliveries back in the queue and
// drops what it read ahead, so that a later pass decides again from the
// state the log gives. It reports false when the consumer is stopping.
func (c *consumer) finishPass(o *consOp, out *outbox) bool {
	var err error
	if o != nil {
		select {
		case err = <-o.done:
		case <-c.quit:
			c.mu.Lock()
			c.clearPassLocked()
			c.mu.Unlock()
			return false
		}
	}
	c.mu.Lock()
	drop := map[int]bool{}
	for i, p := range c.plan {
		var r deliverResult
		if o != nil && err == nil && i < len(o.res.dels) {
			r = o.res.dels[i]
		}
		if r.count == 0 {
			drop[p.idx] = true
			if o == nil || err != nil {
				c.undoPlannedLocked(p)
			}
			continue
		}
		if r.first {
			c.est.Add(-1)
		}
		reply := append(c.scratch[:0], c.ackPrefix...)
		reply = strconv.AppendUint(reply, r.count, 10)
		reply = append(reply, '.')
		reply = strconv.AppendUint(reply, p.m.Seq, 10)
		reply = append(reply, '.')
		reply = strconv.AppendUint(reply, r.dseq, 10)
		reply = append(reply, '.')
		reply = strconv.AppendInt(reply, p.m.Time, 10)
		reply = append(reply, '.')
		reply = strconv.AppendInt(reply, max(c.est.Load(), 0)+int64(len(c.lps)), 10)
		c.scratch = reply
		out.msgs[p.idx].reply = string(reply)
	}
	if (o == nil || err != nil) && len(c.plan) > 0 {
		clear(c.ahead)
		c.ahead = c.ahead[:0]
	}
	c.clearPassLocked()
	c.mu.Unlock()
	if len(drop) > 0 {
		keep := out.msgs[:0]
		for i, m := range out.msgs {
			if !drop[i] {
				keep = append(keep, m)
			}
		}
		clear(out.msgs[len(keep):])
		out.msgs = keep
	}
	out.send(c.svc)
	return true
}

// undoPlannedLocked puts a redelivery that was not applied back in the
// redelivery queue (it is still marked queued). Called with mu held.
func (c *consumer) undoPlannedLocked(p plannedDelivery) {
	if !p.item.Redelivery {
		return
	}
	if q := c.pending[p.item.Seq]; q != nil && q.queued {
		heap.Push(&c.rdq, p.item.Seq)
	}
}

func (c *consumer) clearPassLocked() {
	clear(c.plan)
	c.plan = c.plan[:0]
	c.planNew, c.planNext, c.lpsSkip = 0, 0, 0
}

// takeOverLocked readies a replicated consumer's driver on a server that
// has just become the stream's leader: what an earlier leadership of
// this server read ahead or took off the redelivery queue without its
// delivery applying is decided again from the state the log gave.
// Called with mu held.
func (c *consumer) takeOverLocked() {
	clear(c.ahead)
	c.ahead = c.ahead[:0]
	clear(c.redo)
	c.redo = c.redo[:0]
	c.rdq = c.rdq[:0]
	for seq, p := range c.pending {
		if p.queued {
			c.rdq = append(c.rdq, seq)
		}
	}
	heap.Init(&c.rdq)
	c.dueProposed, c.resetPending = false, false
	c.ackInFlight = false
}

// deliverResult is what the apply of one item of an opDeliverBatch gave
// it: count 0 when it was skipped.
type deliverResult struct {
	count uint64
	dseq  uint64
	first bool
}

// applyDeliverBatch applies a pass's deliveries in order, skipping a
// redelivery of a message that is not pending any more: acknowledged
// (or terminated, forgotten) between the pass's choice and its entry;
// and a first delivery of a message delivered since: a pass chosen from
// a state older than the log's (a server that lost and regained
// leadership proposes from what it had applied, and its entry lands
// behind its successor's deliveries and acks) would otherwise make an
// acknowledged message pending again. The tests read only state every
// replica stores and restores alike (the pending set, the position and
// the last-per-subject starts), not what a restart rebuilds (which
// message is queued for redelivery), so that replicas never skip
// differently.
func (c *consumer) applyDeliverBatch(o *opDeliverBatch) []deliverResult {
	res := make([]deliverResult, len(o.Items))
	for i, it := range o.Items {
		if it.Redelivery && c.pending[it.Seq] == nil {
			continue
		}
		if !it.Redelivery && !c.firstDeliveryDue(it.Seq) {
			continue
		}
		r := c.applyDeliver(&opDeliver{Seq: it.Seq, Redelivery: it.Redelivery, Now: o.Now, Deadline: it.Deadline})
		res[i] = deliverResult{count: r.count, dseq: c.dseq, first: r.first}
	}
	return res
}

// firstDeliveryDue reports whether seq is still to be delivered for the
// first time: at or past the position, or the next last-per-subject
// start below it.
func (c *consumer) firstDeliveryDue(seq uint64) bool {
	return seq >= c.next || (len(c.lps) > 0 && c.lps[0] == seq)
}

package stream

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/wisp-mq/wisp/stream/store"
)

// Consumer persistence. A consumer's definition is written once (create,
// update); its state — position, ack floor and the pending set — is
// written by a flushOp, at most one queued per consumer at a time. Every
// ack, nak or delivery marks what it changed as dirty and arms the flush
// (needFlushLocked) if none is queued; the flush writes whatever is dirty
// when the writer reaches it. One flush carries the acks of the flush
// delay (20ms by default), and it rides the same batch (and fsync) as the
// publishes around it, so acks never cost a sync of their own; a message
// delivered and acked within one delay is never written. After a crash at
// most the changes of the last delay and uncommitted batch are lost: a
// lost ack means a redelivery, never a lost message.
//
// The same flush removes acknowledged messages from workqueue and
// interest streams, so the removal commits with the ack that caused it.

// consumerMeta is the stored form of a consumer's definition.
type consumerMeta struct {
	Created time.Time      `json:"created"`
	Config  ConsumerConfig `json:"config"`
}

// needFlushLocked reports whether a flush must be submitted now, marking
// one queued. Called with mu held; the caller submits after unlocking.
//
// A flush is not submitted at the first change: it is armed on flushTimer
// for the service's flushDelay, so that the changes of that time share one
// write, and a message delivered and acked within it is never written at
// all. A DoubleAck reply or an API call (a reset) waiting for the commit
// submits at once, taking over an armed flush.
func (c *consumer) needFlushLocked() bool {
	urgent := len(c.ackReplies) > 0 || len(c.commitWaits) > 0 || c.svc.flushDelay == 0
	if c.flushQueued || c.deleted {
		if urgent && c.flushArmed && c.flushTimer.Stop() {
			c.flushArmed = false
			return true
		}
		return false
	}
	if !c.persist {
		clear(c.dirty)
		c.stateDirty = false
		if len(c.removals) == 0 {
			return false
		}
	} else if len(c.dirty) == 0 && !c.stateDirty && len(c.removals) == 0 && len(c.ackReplies) == 0 &&
		len(c.commitWaits) == 0 && !c.rewrite {
		return false
	}
	c.flushQueued = true
	if urgent {
		return true
	}
	c.flushArmed = true
	c.flushTimer.Reset(c.svc.flushDelay)
	return false
}

func (c *consumer) submitFlush() { c.s.st.Submit(&c.fop) }

// fireFlush submits the armed flush when flushTimer fires, unless an
// urgent need submitted it first.
func (c *consumer) fireFlush() {
	c.mu.Lock()
	armed := c.flushArmed
	c.flushArmed = false
	c.mu.Unlock()
	if armed {
		c.submitFlush()
	}
}

// flushNow writes the consumer's state and waits for the commit; used on
// shutdown.
func (c *consumer) flushNow() {
	if err := c.s.st.Do(c.fop.Apply); err != nil && !errors.Is(err, store.ErrClosed) {
		c.svc.log.Error("consumer state flush failed", "stream", c.s.name, "consumer", c.name, "err", err)
		c.s.settle(err)
	}
}

// flushOp writes a consumer's dirty state. One per consumer, reused: it
// is never queued twice at once (flushQueued).
type flushOp struct {
	c        *consumer
	replies  []string
	waits    []chan error // told the commit's outcome
	removals []uint64     // the removals this flush applies
}

// Apply hands the waiters and replies to this flush, then applies the
// consumer's flush operation (consumer_apply.go) through its stream.
func (f *flushOp) Apply(b *store.Batch) error {
	c := f.c
	c.mu.Lock()
	c.flushQueued = false
	// Appended, not replaced: flushNow may apply this op's state once more
	// in the same batch, and no waiter may be dropped.
	f.waits = append(f.waits, c.commitWaits...)
	clear(c.commitWaits)
	c.commitWaits = c.commitWaits[:0]
	if c.deleted {
		c.ackReplies = nil
	}
	f.replies = append(f.replies[:0], c.ackReplies...)
	c.ackReplies = c.ackReplies[:0]
	f.removals = append(f.removals[:0], c.removals...)
	c.mu.Unlock()
	if c.flushEnc == nil {
		c.flushEnc = encodeOp(nil, c.name, &opConsumerFlush{})
	}
	var res opResult
	return c.s.apply(b, c.flushEnc, c, &res)
}

// writeStateLocked writes the dirty pending entries and the state record.
func (c *consumer) writeStateLocked(b *store.Batch) error {
	id, name := c.s.id, c.name
	if c.rewrite {
		if err := b.DeleteAllPending(id, name); err != nil {
			return err
		}
		for seq, p := range c.pending {
			if err := b.PutPending(id, name, store.Pending{Seq: seq, DSeq: p.dseq, Count: p.count, TS: p.ts, Due: p.storedDue()}); err != nil {
				return err
			}
			p.stored = true
		}
		c.rewrite = false
	} else {
		for seq := range c.dirty {
			var err error
			if p := c.pending[seq]; p != nil {
				err = b.PutPending(id, name, store.Pending{Seq: seq, DSeq: p.dseq, Count: p.count, TS: p.ts, Due: p.storedDue()})
				p.stored = true
			} else {
				err = b.DeletePending(id, name, seq)
			}
			if err != nil {
				return err
			}
		}
	}
	clear(c.dirty)
	c.stateDirty = false
	return b.PutConsumerState(id, name, c.encodeState())
}

// logEntry makes the flush an entry of a replicated stream's log: the
// DoubleAck replies it carries go out only once it, and so every ack
// before it, committed in the log (replica.go).
func (f *flushOp) logEntry() []byte {
	c := f.c
	if c.flushEnc == nil {
		c.flushEnc = encodeOp(nil, c.name, &opConsumerFlush{})
	}
	return c.flushEnc
}

func (f *flushOp) Done(err error) {
	c := f.c
	if err != nil && c.s.repl != nil && errors.Is(err, store.ErrNotApplied) {
		// Not proposed (this server does not lead) or not committed: the
		// entries that commit write the state (replica.go); no retry.
		// The waiters are taken under mu: once flushQueued is false the
		// same op may be applied again at once (a new flush, or flushNow
		// on shutdown), and its Apply hands waiters over under mu.
		c.mu.Lock()
		c.flushQueued = false
		waits := f.waits
		f.waits = nil
		c.mu.Unlock()
		for _, w := range waits {
			w <- err
		}
		return
	}
	if err != nil && !errors.Is(err, store.ErrClosed) {
		c.svc.log.Error("consumer state commit failed", "stream", c.s.name, "consumer", c.name, "err", err)
		c.mu.Lock()
		c.rewrite = true
		if len(f.removals) > 0 {
			// Not written: they are due again with the next flush.
			c.removals = append(c.removals, f.removals...)
		}
		c.mu.Unlock()
		c.s.settle(err)
		// Not from the writer goroutine: Submit may block on a full queue.
		retry := func() {
			c.mu.Lock()
			need := c.needFlushLocked()
			c.mu.Unlock()
			if need {
				c.submitFlush()
			}
		}
		if errors.Is(err, store.ErrNoSpace) || errors.Is(err, store.ErrFailed) {
			// The store refuses until space returns: try again later,
			// not in a loop.
			c.svc.clock.AfterFunc(time.Second, retry)
		} else {
			go retry()
		}
	}
	for _, r := range f.replies {
		_ = c.svc.broker.Publish(r, "", nil, nil)
	}
	clear(f.replies)
	f.replies = f.replies[:0]
	c.mu.Lock()
	if errors.Is(err, store.ErrClosed) {
		// Done without Apply: no flush will come for the waiters left.
		f.waits = append(f.waits, c.commitWaits...)
		c.commitWaits = nil
	}
	// Under mu, as the failed-proposal path above takes them: on a
	// replicated stream a proposal of this op may fail on the replica's
	// watcher while another commits here.
	waits := f.waits
	f.waits = nil
	c.mu.Unlock()
	for _, w := range waits {
		w <- err
	}
	f.removals = f.removals[:0]
}

// removeAcked drops acknowledged messages from a workqueue stream, or from
// an interest stream once no consumer that wants them still holds them.
// It runs on the writer goroutine holding no consumer lock.
func (s *stream) removeAcked(b *store.Batch, seqs []uint64) error {
	interest := s.cfgRetention() == RetentionInterest
	var consumers []*consumer
	if interest {
		consumers = s.cons.all()
	}
	r := b.Reader()
	for _, seq := range seqs {
		m, err := r.Msg(s.id, seq)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if interest && heldByAny(consumers, seq, string(m.Subject)) {
			continue
		}
		s.lockApply()
		if !s.deleted {
			err = s.removeMsg(b, m)
		}
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// heldByAny reports whether one of consumers that wants subject has not
// yet acknowledged seq. Locks one consumer at a time.
func heldByAny(consumers []*consumer, seq uint64, subject string) bool {
	for _, c := range consumers {
		if c.holds(seq, subject) {
			return true
		}
	}
	return false
}

// dropUnheld removes the messages of an interest stream that no consumer
// holds any more, after one of its consumers was deleted.
func (s *stream) dropUnheld() {
	consumers := s.cons.all()
	var seqs []uint64
	_ = s.st.Reader().Scan(s.id, 0, func(m *store.Msg) bool {
		if !heldByAny(consumers, m.Seq, string(m.Subject)) {
			seqs = append(seqs, m.Seq)
		}
		return true
	})
	for len(seqs) > 0 {
		chunk := seqs[:min(len(seqs), 4096)]
		seqs = seqs[len(chunk):]
		if _, err := s.propose(&opRemoveUnheld{Seqs: chunk}, "", true); err != nil {
			s.svc.log.Error("interest stream cleanup failed", "stream", s.name, "err", err)
			return
		}
	}
}

func (c *consumer) holds(seq uint64, subject string) bool {
	if !c.matches(subject) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.deleted {
		return false
	}
	if c.pending[seq] != nil || seq >= c.next {
		return true
	}
	for _, l := range c.lps {
		if l == seq {
			return true
		}
	}
	return false
}

// loadConsumers brings back the consumers stored for s after a restart:
// config, position, ack floor, and the pending set with delivery counts.
// Pending messages whose ack_wait ran out while the server was down are
// redelivered as soon as the consumer is asked for messages.
func (svc *Service) loadConsumers(s *stream) {
	stored, err := s.st.Reader().Consumers(s.id)
	if err != nil {
		svc.log.Error("reading consumers failed", "stream", s.name, "err", err)
		return
	}
	for _, sc := range stored {
		svc.loadConsumer(s, sc)
	}
}

// restoreDue gives a pending message brought back from the store the
// redelivery its operations decided (storedDue): a nak's delay or a
// +WPI extension stays, a queued message is queued again, a message held
// for its dead-letter copy stays held (its leader copies it,
// heldJobsLocked). A record from before deadlines were stored, or a
// hold the consumer has no dead-letter subject for any more, is due an
// ack_wait after its last delivery. Called with mu held.
func (c *consumer) restoreDue(seq uint64, p *pend, due int64) {
	switch {
	case due > 0:
		c.setDeadline(seq, p, time.Unix(0, due))
	case due == dueQueued:
		c.queueRedelivery(seq, p)
	case due == dueHeld && c.cfg.deadLetterSubject() != "":
		p.due = 0
	default:
		c.setDeadline(seq, p, time.Unix(0, p.ts).Add(c.ackWaitFor(p.count)))
	}
}

// loadConsumer brings back one stored consumer of s and starts it.
func (svc *Service) loadConsumer(s *stream, sc *store.StoredConsumer) {
	var meta consumerMeta
	if err := json.Unmarshal(sc.Meta, &meta); err != nil || meta.Config.Name != sc.Name {
		svc.log.Error("skipping consumer with an unreadable definition", "stream", s.name, "consumer", sc.Name, "err", err)
		return
	}
	c := newConsumer(s, &meta.Config, meta.Created, svc.clock.Now())
	c.mu.Lock()
	if err := c.decodeState(sc.State); err != nil {
		// Start over from the deliver policy: at-least-once survives
		// a lost position, at the price of redeliveries.
		svc.log.Error("consumer state unreadable; restarting from its deliver policy",
			"stream", s.name, "consumer", sc.Name, "err", err)
		c.next, c.lps = c.startPosition()
		c.updateFloor()
	}
	for _, p := range sc.Pending {
		e := &pend{dseq: p.DSeq, count: p.Count, ts: p.TS, stored: true}
		c.pending[p.Seq] = e
		if p.Count > 1 {
			c.redelivered++
		}
		c.restoreDue(p.Seq, e, p.Due)
		if p.Seq <= c.afS { // keep every pending sequence above the floor
			c.afS = p.Seq - 1
			c.afC = min(c.afC, p.DSeq-1)
		}
	}
	clear(c.dirty) // stored as they are
	c.mu.Unlock()
	c.est.Store(int64(c.countPending(c.next)))
	s.cons.mu.Lock()
	s.cons.add(c)
	s.cons.mu.Unlock()
	s.mu.Lock()
	s.consumers++
	s.mu.Unlock()
	if err := c.start(); err != nil {
		svc.log.Error("starting consumer failed", "stream", s.name, "consumer", c.name, "err", err)
	}
	svc.log.Info("recovered consumer", "stream", s.name, "consumer", c.name, "pending", len(sc.Pending))
}

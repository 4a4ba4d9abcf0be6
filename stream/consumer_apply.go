package stream

import (
	"encoding/json"
	"time"

	"github.com/wisp-mq/wisp/stream/store"
)

// A consumer's part of the state machine. The driver (consumer.go: the
// timer, the delivery goroutine, acks arriving, pull requests) decides
// what happens and stamps it on an operation: the time, the sequence,
// the redelivery deadline. It then applies the operation through
// applyLocked, the only way its acknowledgement state (ackState)
// changes. The definition kinds (create, update, remove, pause) and the
// flush that writes the state go through the stream's apply on the
// store's writer, as they write to the store.

// ackResult is what applying a consumer operation tells its driver.
type ackResult struct {
	count  uint64          // deliver: the delivery count
	first  bool            // deliver: the first delivery of a message at or past next
	queued bool            // nak, redeliver-due: something was queued for redelivery
	dels   []deliverResult // deliver-batch: each item's outcome
}

// proposeLocked encodes one operation of kind k (fields written by
// fields) for this consumer and applies it. Called with mu held. The
// fields are written by a function rather than from an operation value
// so that the delivery and ack paths encode without allocating.
//
// In a replicated stream the operation is not applied here: the
// leader's driver queues it for the stream's log (submitProposals sends
// it once mu is released) and it applies when its entry does, on every
// replica (consumer_replicated.go); the result is then empty. A
// follower's driver does nothing.
func (c *consumer) proposeLocked(k opKind, fields func(w opWriter) opWriter, out *outbox) ackResult {
	w := opWriter(append(c.opBuf[:0], opVersion, byte(k)))
	w.str(c.name)
	c.opBuf = fields(w)
	if c.s.repl != nil {
		c.queueProposalLocked(k)
		return ackResult{}
	}
	return c.applyLocked(c.opBuf, out)
}

// flushDirty writes what the consumer changed in memory and the
// removals its acks released, into b (a replicated stream's entries,
// replica.go). A no-op when nothing changed.
func (c *consumer) flushDirty(b *store.Batch) error {
	c.mu.Lock()
	if c.deleted || (len(c.dirty) == 0 && !c.stateDirty && !c.rewrite && len(c.removals) == 0) {
		c.mu.Unlock()
		return nil
	}
	return c.writeAndUnlock(b)
}

// applyLocked decodes and applies one consumer operation to the
// acknowledgement state. Called with mu held. Advisories it causes are
// queued on out; the timer is armed for new deadlines (the driver's
// business, read from the operation, not a clock). A malformed record
// changes nothing.
func (c *consumer) applyLocked(enc []byte, out *outbox) (res ackResult) {
	k, _, r, err := opHeader(enc)
	if err != nil {
		return res
	}
	c.s.record(enc)
	switch k {
	case kindAck:
		var o opAck
		if o.decodeFields(&r); r.err == nil {
			c.acked(c.cfg.AckPolicy, o.Seq, time.Unix(0, o.Now))
		}
	case kindDeliver:
		var o opDeliver
		if o.decodeFields(&r); r.err == nil {
			res = c.applyDeliver(&o)
		}
	case kindAckBatch:
		var o opAckBatch
		if o.decodeFields(&r); r.err == nil {
			now := time.Unix(0, o.Now)
			for _, seq := range o.Seqs {
				c.acked(c.cfg.AckPolicy, seq, now)
			}
		}
	case kindDeliverBatch:
		var o opDeliverBatch
		if o.decodeFields(&r); r.err == nil {
			res.dels = c.applyDeliverBatch(&o)
		}
	case kindNak:
		var o opNak
		if o.decodeFields(&r); r.err == nil {
			res.queued = c.applyNak(&o, out)
		}
	case kindTerm:
		var o opTerm
		if o.decodeFields(&r); r.err == nil {
			if p := c.pending[o.Seq]; p != nil {
				c.acked(c.cfg.AckPolicy, o.Seq, time.Unix(0, o.Now))
			}
		}
	case kindProgress:
		var o opProgress
		if o.decodeFields(&r); r.err == nil {
			if p := c.pending[o.Seq]; p != nil && !p.queued {
				c.setDeadline(o.Seq, p, time.Unix(0, o.Deadline))
			}
		}
	case kindRedeliverDue:
		var o opRedeliverDue
		if o.decodeFields(&r); r.err == nil {
			now := time.Unix(0, o.Now)
			exhausted, queued := c.expire(now, c.cfg.MaxDeliver)
			for _, seq := range exhausted {
				if p := c.pending[seq]; p != nil {
					c.passOver(seq, p, now, out)
				}
			}
			res.queued = queued
		}
	case kindForget:
		var o opForget
		if o.decodeFields(&r); r.err == nil {
			if len(c.lps) > 0 && c.lps[0] == o.Seq {
				c.lps = c.lps[1:]
				c.stateDirty = true // the stored starts lose it too
			}
			if p := c.pending[o.Seq]; p != nil {
				c.dropPending(o.Seq, p)
				c.updateFloor()
			}
		}
	case kindConsumerReset:
		var o opConsumerReset
		if o.decodeFields(&r); r.err == nil {
			c.applyReset(o.Seq)
		}
	case kindDeadLettered:
		var o opDeadLettered
		if o.decodeFields(&r); r.err == nil {
			c.applyDeadLettered(&o, out)
		}
	case kindDeadLetterHold:
		var o opDeadLetterHold
		if o.decodeFields(&r); r.err == nil {
			if p := c.pending[o.Seq]; p != nil && !p.queued {
				p.due = 0 // no redelivery while its copy is stored; its heap entry is stale now
				c.dirty[o.Seq] = struct{}{}
			}
		}
	}
	return res
}

// applyDeliver records a delivery and schedules its redelivery.
func (c *consumer) applyDeliver(o *opDeliver) ackResult {
	if !o.Redelivery && len(c.lps) > 0 && c.lps[0] == o.Seq {
		c.lps = c.lps[1:]
	}
	count, p, first := c.delivered(c.cfg.AckPolicy, o.Seq, o.Redelivery, time.Unix(0, o.Now))
	if p != nil {
		p.queued = false
		c.setDeadline(o.Seq, p, time.Unix(0, o.Deadline))
	}
	return ackResult{count: count, first: first}
}

// applyNak queues a redelivery, now or at the deadline; at max_deliver
// the message is passed over instead.
func (c *consumer) applyNak(o *opNak, out *outbox) bool {
	p := c.pending[o.Seq]
	if p == nil || p.queued {
		return false
	}
	if c.cfg.MaxDeliver > 0 && p.count >= uint64(c.cfg.MaxDeliver) {
		c.passOver(o.Seq, p, time.Unix(0, o.Now), out)
		return false
	}
	if o.Deadline != 0 {
		c.setDeadline(o.Seq, p, time.Unix(0, o.Deadline))
		return false
	}
	c.queueRedelivery(o.Seq, p)
	return true
}

// applyReset replaces the position, the floor and the pending set, as
// if the consumer had been created to start at seq.
func (c *consumer) applyReset(seq uint64) {
	clear(c.pending)
	c.redelivered = 0
	c.rdq = c.rdq[:0]
	clear(c.deadlines)
	c.deadlines = c.deadlines[:0]
	c.lps = nil
	c.next, c.dseq = seq, 0
	c.afC, c.afS = 0, seq-1
	// Every stored pending record goes, whichever flush wrote it.
	clear(c.dirty)
	c.rewrite = c.persist
	c.stateDirty = true
}

// purgedBelow forgets what a purge removed from the stream's front:
// pending entries below first can never be redelivered, and a position
// below it moves up to it, as nats-server does on purge.
func (a *ackState) purgedBelow(first uint64) {
	for seq, p := range a.pending {
		if seq < first {
			delete(a.pending, seq)
			if p.count > 1 {
				a.redelivered--
			}
			a.forgetStored(seq, p)
		}
	}
	if a.next < first {
		a.next = first
		a.lps = nil
	}
	if a.afS < first-1 && len(a.pending) == 0 {
		a.afS = first - 1
	}
	a.updateFloor()
	a.stateDirty = true
}

// consumersPurged applies a purge to every consumer of the stream: part
// of the purge's apply, on the writer goroutine, without the stream's
// lock (consumer locks come first). afterPurge is the drivers' part.
func (s *stream) consumersPurged(first uint64) {
	for _, c := range s.cons.all() {
		c.mu.Lock()
		c.purgedBelow(first)
		clear(c.ahead) // read ahead before the purge
		c.ahead = c.ahead[:0]
		c.mu.Unlock()
	}
}

// afterPurge has the consumers write what a committed purge changed and
// recount what they have left to deliver.
func (s *stream) afterPurge() {
	for _, c := range s.cons.all() {
		c.mu.Lock()
		flush := c.needFlushLocked()
		next := c.next
		c.mu.Unlock()
		c.est.Store(int64(c.countPending(next)))
		if flush {
			c.submitFlush()
		}
	}
}

// applyConsumerDef applies the kinds that change consumer c's
// definition or write its state.
func (s *stream) applyConsumerDef(b *store.Batch, c *consumer, o operation, res *opResult) error {
	switch o := o.(type) {
	case *opConsumerRemove:
		s.cons.remove(c)
		s.mu.Lock()
		s.consumers--
		s.mu.Unlock()
		c.mu.Lock()
		c.deleted = true
		persist := c.persist
		c.mu.Unlock()
		if persist {
			return b.DropConsumer(s.id, c.name)
		}
		return nil
	case *opConsumerUpdate:
		var cfg ConsumerConfig
		if err := json.Unmarshal(o.Config, &cfg); err != nil {
			res.err = apiErr(errInvalidJSON, err)
			return errRejected
		}
		c.mu.Lock()
		cfg.PauseUntil = c.cfg.PauseUntil // only a pause changes it
		c.cfg = cfg
		f := cfg.filters()
		c.filt.Store(&f)
		clear(c.ahead) // read under the old filters
		c.ahead = c.ahead[:0]
		c.mu.Unlock()
		return c.putMeta(b)
	case *opConsumerPause:
		var until *time.Time
		if o.Until != 0 {
			u := unixTime(o.Until)
			until = &u
		}
		c.mu.Lock()
		c.cfg.PauseUntil, c.pauseEnd = until, pauseDeadline(until, time.Unix(0, o.Now))
		c.mu.Unlock()
		return c.putMeta(b)
	}
	res.err = apiErr(errBadRequest)
	return errRejected
}

// applyConsumerCreate makes a consumer at the position the operation
// carries and stores its definition and state. Its driver is started by
// the proposer once the commit succeeded.
func (s *stream) applyConsumerCreate(b *store.Batch, name string, o *opConsumerCreate, res *opResult) error {
	var cfg ConsumerConfig
	if err := json.Unmarshal(o.Config, &cfg); err != nil || cfg.Name != name {
		res.err = apiErr(errConsumerCreate, "bad consumer definition")
		return errRejected
	}
	if s.cons.byName[name] != nil {
		res.err = apiErr(errConsumerExists)
		return errRejected
	}
	created := unixTime(o.Created)
	c := newConsumer(s, &cfg, created, created)
	c.next, c.lps = o.Next, o.LPS
	c.updateFloor() // below next, or below the first last-per-subject start
	if c.persist {
		if err := c.putMeta(b); err != nil {
			return err
		}
		if err := b.PutConsumerState(s.id, name, c.encodeState()); err != nil {
			return err
		}
	}
	// In the set before it starts: a message stored from now on wakes it.
	s.cons.add(c)
	s.mu.Lock()
	s.consumers++
	s.mu.Unlock()
	res.cons = c
	return nil
}

// putMeta writes the consumer's definition to b, for a stored consumer.
func (c *consumer) putMeta(b *store.Batch) error {
	if !c.persist {
		return nil
	}
	c.mu.Lock()
	v, err := json.Marshal(&consumerMeta{Created: c.created, Config: c.cfg})
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return b.PutConsumerMeta(c.s.id, c.name, v)
}

// applyFlush writes the consumer's changed state and removes the
// messages its acks released (a workqueue's, or an interest stream's
// that no other consumer holds).
func (c *consumer) applyFlush(b *store.Batch, enc []byte) error {
	c.mu.Lock()
	c.s.record(enc)
	if c.deleted {
		clear(c.dirty)
		c.removals = nil
		c.mu.Unlock()
		return nil
	}
	return c.writeAndUnlock(b)
}

// reconcileConsumers brings the consumers' definitions in memory back in
// line with the store after a fault (apply.go): a consumer whose
// creation did not commit goes, one whose removal did not commit comes
// back, and a definition change that did not commit is replaced by the
// stored one. Memory-only consumers have nothing stored to compare.
func (s *stream) reconcileConsumers() {
	stored, err := s.st.Reader().Consumers(s.id)
	if err != nil {
		s.svc.log.Error("reading consumers failed", "stream", s.name, "err", err)
		return
	}
	byName := map[string]*store.StoredConsumer{}
	for _, sc := range stored {
		byName[sc.Name] = sc
	}
	s.cons.mu.Lock()
	var gone []*consumer
	for name, c := range s.cons.byName {
		sc := byName[name]
		delete(byName, name)
		if !c.persist {
			continue
		}
		var meta consumerMeta
		if sc == nil || json.Unmarshal(sc.Meta, &meta) != nil {
			s.cons.remove(c)
			gone = append(gone, c)
			continue
		}
		c.mu.Lock()
		if !sameConsumerConfig(&c.cfg, &meta.Config) {
			c.cfg = meta.Config
			f := meta.Config.filters()
			c.filt.Store(&f)
			c.pauseEnd = pauseDeadline(meta.Config.PauseUntil, s.svc.clock.Now())
		}
		c.mu.Unlock()
	}
	s.cons.mu.Unlock()
	for _, c := range gone {
		s.mu.Lock()
		s.consumers--
		s.mu.Unlock()
		c.mu.Lock()
		c.deleted = true
		c.mu.Unlock()
		c.stop(true)
	}
	for _, sc := range byName {
		s.svc.loadConsumer(s, sc)
	}
}

// writeAndUnlock writes the consumer's changed state into b and removes
// the messages its acks released. It is called with c.mu held and
// releases it before the removals, which take the stream's locks.
func (c *consumer) writeAndUnlock(b *store.Batch) error {
	var err error
	if c.persist {
		err = c.writeStateLocked(b)
	}
	removals := c.removals
	c.removals = nil
	c.mu.Unlock()
	if err == nil && len(removals) > 0 {
		err = c.s.removeAcked(b, removals)
	}
	return err
}

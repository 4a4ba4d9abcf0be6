package stream

import (
	"encoding/json"
	"errors"
	"strconv"
	"sync"

	"github.com/wisp-mq/wisp/stream/store"
)

// maxHeaderSize is the largest header block a stored message may carry.
const maxHeaderSize = 64 * 1024

// pubOp is one publish on its way to disk: its encoded operation
// (opPublish, op.go) and the reply subject its PubAck goes to, which is
// the proposer's business, not the state machine's. It is pooled: the
// broker's slices are copied into enc once, and the op is reused after
// its ack.
type pubOp struct {
	s     *stream
	enc   []byte
	reply []byte
	res   opResult
	// done, when set (a copier's copy: copier.go), is told the result
	// once it is committed, in place of a PubAck.
	done func(res *opResult)
}

var pubPool = sync.Pool{New: func() any { return new(pubOp) }}

// onPublish is the broker callback for a stream's subjects. It stamps the
// message with the time it was received, encodes it and queues it; it
// blocks only while the writer's queue is full.
func (s *stream) onPublish(subject, reply, hdr, data []byte) {
	if isFastReply(reply) {
		s.fastPublish(subject, reply, hdr, data)
		return
	}
	if len(hdr) > 0 && s.stageBatch(subject, reply, hdr, data) {
		return
	}
	s.submit(s.transformIn(subject), reply, hdr, data, copied{})
}

// submit queues a message for the stream; from says where a copied one
// came from (copier.go), the zero value for a published one: part of the
// operation, decided by the copier.
func (s *stream) submit(subject, reply, hdr, data []byte, from copied) {
	s.submitDone(subject, reply, hdr, data, from, nil)
}

// submitDone is submit with a function told the result once committed.
func (s *stream) submitDone(subject, reply, hdr, data []byte, from copied, done func(res *opResult)) {
	p := pubPool.Get().(*pubOp)
	p.s = s
	p.done = done
	p.reply = append(p.reply[:0], reply...)
	p.res = opResult{}
	w := opWriter(append(p.enc[:0], opVersion, byte(kindPublish)))
	w.i(s.svc.clock.Now().UnixNano())
	w.u(from.at)
	w.str(from.key)
	w.u(from.seq)
	w.bytes(subject)
	w.bytes(hdr)
	p.enc = append(w, data...)
	s.st.Submit(p)
}

// Apply runs the publish through the stream's state machine.
func (p *pubOp) Apply(b *store.Batch) error { return p.s.apply(b, p.enc, nil, &p.res) }

// applyPublish checks the message against the stream's rules and stores
// it. It runs on the writer goroutine.
func (s *stream) applyPublish(b *store.Batch, o *opPublish, res *opResult) error {
	s.lockApply()
	defer s.mu.Unlock()
	return s.applyPublishLocked(b, o, res)
}

// applyPublishLocked is applyPublish with the stream's lock held.
func (s *stream) applyPublishLocked(b *store.Batch, o *opPublish, res *opResult) error {
	res.noAck = s.cfg.NoAck
	res.subject = o.Subject
	if o.From.at > 0 && o.From.at <= s.state.last {
		// A mirror's copy of a message it holds already, or has passed
		// (a copier retrying after a refusal): as nats-server's mirrors,
		// ignore it rather than store it out of place.
		res.dup, res.seq = true, o.From.at
		return errRejected
	}
	rollup, e := s.checkPublish(o, res)
	if res.err = e; e != nil || res.dup {
		return errRejected
	}
	if s.cfg.AllowMsgCounter {
		if res.err = s.countPublish(b.Reader(), o, res); res.err != nil {
			return errRejected
		}
	}
	if res.err = s.checkQuota(store.MsgSize(len(o.Subject), len(o.Header), len(o.Data))); res.err != nil {
		return errRejected
	}
	return s.storePublish(b, o, res, rollup)
}

// storePublish stores a message that passed every check, with the
// rollup it asked for. Called with the stream's lock held, on the writer
// goroutine.
func (s *stream) storePublish(b *store.Batch, o *opPublish, res *opResult, rollup rollupKind) error {
	replaced, err := s.rollupBefore(b, rollup, o.Subject)
	if err != nil {
		// Only reads (subject rollup) or range deletions on the batch
		// (stream rollup, which fail only on a closed batch) come before
		// this point, so the refused message leaves nothing behind.
		res.err = apiErr(errStreamStoreFailed, err)
		return errRejected
	}
	now := o.Now
	if now <= s.state.lastTime {
		now = s.state.lastTime + 1 // keep times in sequence order for expiry
	}
	var ttl int64
	if s.cfg.AllowMsgTTL && o.Header != nil {
		o.Header, ttl = s.stampTTL(o.Header) // ttl.go
	}
	res.seq = s.state.last + 1
	if o.From.at > res.seq {
		res.seq = o.From.at // a mirror skips what its origin no longer has
	}
	res.msg = store.Msg{Seq: res.seq, Time: now, Subject: o.Subject, Header: o.Header, Data: o.Data}
	msg := &res.msg
	if err := b.PutMsg(s.id, msg); err != nil {
		res.err = apiErr(errStreamStoreFailed, err)
		return errRejected
	}
	if err := o.From.record(b, s.id); err != nil {
		res.err = apiErr(errStreamStoreFailed, err)
		return errRejected
	}
	wasEmpty := s.state.msgs == 0
	if s.republishing(o.Subject) {
		res.prevSubjSeq = s.lastSeqOf(o.Subject)
	}
	s.noteAdded(o.Subject, res.seq, now, msg.Size())
	if ttl > 0 {
		s.trackTTL(res.seq, now, ttl, o.Now)
	}
	if s.cfg.AllowSchedules && o.Header != nil {
		s.noteScheduleStored(o.Subject, res.seq, o.Header, now, o.Now) // schedule.go
	}
	if err := s.rollupAfter(b, replaced); err != nil {
		// Only a write to the batch can fail here, and the message is
		// already in it: as with limits below, log rather than fail.
		s.svc.log.Error("stream rollup failed", "stream", s.name, "err", err)
	}
	if s.cfg.AllowSchedules && o.Header != nil {
		if err := s.afterScheduleStored(b, o.Header); err != nil {
			s.svc.log.Error("removing a message schedule failed", "stream", s.name, "err", err)
		}
	}
	// Like nats-server, the last msg id is that of the last message, even
	// when it had none.
	s.lastMsgID = ""
	if id := headerValue(o.Header, hdrMsgID); len(id) > 0 {
		s.lastMsgID = string(id)
		s.rememberMsgID(s.lastMsgID, res.seq, now)
	}
	if s.cfg.Retention == RetentionInterest && !s.wantedByConsumer(o.Subject) {
		// Nobody will ever ack it (consumer.go): as nats-server, keep the
		// sequence and drop the message.
		if err := s.removeMsg(b, msg); err != nil {
			s.svc.log.Error("dropping uninteresting message failed", "stream", s.name, "err", err)
		}
	}
	if err := s.enforceLimits(b, o.Subject); err != nil {
		// The message is in the batch; a failed removal leaves the stream
		// over its limit until the next publish, which is not worth
		// failing this one for.
		s.svc.log.Error("stream limit enforcement failed", "stream", s.name, "err", err)
	}
	if wasEmpty && s.cfg.MaxAge > 0 && s.state.msgs > 0 {
		s.armExpiry(s.cfg.MaxAge)
	}
	return nil
}

// checkPublish applies, in nats-server's order, every rule that can refuse
// a message or mark it a duplicate (res.dup, res.seq), and returns the
// rollup the message asks for. It writes nothing.
func (s *stream) checkPublish(o *opPublish, res *opResult) (rollupKind, *APIError) {
	if s.deleted {
		return rollupNone, apiErr(errStreamNotFound)
	}
	c := &s.cfg
	if c.Sealed {
		return rollupNone, apiErr(errStreamSealed)
	}
	if len(o.Header) > maxHeaderSize {
		return rollupNone, apiErr(errHeaderTooBig)
	}
	size := store.MsgSize(len(o.Subject), len(o.Header), len(o.Data))
	if c.MaxMsgSize >= 0 && len(o.Header)+len(o.Data) > int(c.MaxMsgSize) ||
		c.MaxBytes > 0 && size > uint64(c.MaxBytes) {
		return rollupNone, apiErr(errMsgTooBig)
	}
	if e := s.checkIncr(o.Header, o.Data, o.From != (copied{})); e != nil {
		return rollupNone, e
	}
	if o.Header == nil {
		return rollupNone, s.checkDiscardNew(o.Subject, size)
	}
	if id := headerValue(o.Header, hdrMsgID); len(id) > 0 {
		// An id the stream still holds is a duplicate even after a loss;
		// only an id it does not know may be one of the lost messages'.
		s.pruneDedupe(o.Now)
		if e, ok := s.dedupe[string(id)]; ok {
			res.dup, res.seq = true, e.seq
			return rollupNone, nil
		}
		if e := s.checkDedupeGap(o.Now); e != nil {
			return rollupNone, e
		}
	}
	if v := headerValue(o.Header, hdrExpStream); v != nil && string(v) != s.name {
		return rollupNone, apiErr(errExpectedStream)
	}
	if v := headerValue(o.Header, hdrExpLastMsgID); v != nil && string(v) != s.lastMsgID {
		return rollupNone, apiErr(errWrongLastMsgID, s.lastMsgID)
	}
	if v, present, ok := headerUint(o.Header, hdrExpLastSeq); present && (!ok || v != s.state.last) {
		return rollupNone, apiErr(errWrongLastSeq, s.state.last)
	}
	if v, present, ok := headerUint(o.Header, hdrExpLastSubjSeq); present {
		subj := o.Subject
		if alt := headerValue(o.Header, hdrExpLastSubjSubj); len(alt) > 0 {
			subj = alt
		}
		var last uint64
		if ss := s.subjects[string(subj)]; ss != nil {
			last = ss.last
		}
		if !ok || v != last {
			return rollupNone, apiErr(errWrongLastSeq, last)
		}
	}
	if ttl, sched := shapingHeaderNames(o.Header); ttl || sched {
		if e := s.checkShaping(o, ttl, sched); e != nil { // ttl.go, schedule.go
			return rollupNone, e
		}
	}
	rollup, e := s.checkRollup(o.Header)
	if e != nil {
		return rollupNone, e
	}
	return rollup, s.checkDiscardNew(o.Subject, size)
}

// checkDiscardNew refuses a message that a discard-new limit has no room for.
func (s *stream) checkDiscardNew(subject []byte, size uint64) *APIError {
	c := &s.cfg
	if c.Discard != DiscardNew {
		return nil
	}
	if c.MaxMsgs > 0 && s.state.msgs >= uint64(c.MaxMsgs) {
		return apiErr(errStreamStoreFailed, "maximum messages exceeded")
	}
	if c.MaxBytes > 0 && s.state.bytes+size > uint64(c.MaxBytes) {
		return apiErr(errStreamStoreFailed, "maximum bytes exceeded")
	}
	if c.DiscardNewPerSubject && c.MaxMsgsPerSubject > 0 {
		if ss := s.subjects[string(subject)]; ss != nil && ss.msgs >= uint64(c.MaxMsgsPerSubject) {
			return apiErr(errStreamStoreFailed, "maximum messages per subject exceeded")
		}
	}
	return nil
}

// Done sends the PubAck (if the publisher asked for one) and recycles p.
func (p *pubOp) Done(err error) {
	s := p.s
	s.settle(err)
	switch {
	case err == nil, errors.Is(err, errRejected):
	case errors.Is(err, store.ErrClosed):
		p.res.err = apiErr(errStreamStoreFailed, "stream store is closed")
	case errors.Is(err, store.ErrNotApplied), errors.Is(err, store.ErrNoSpace), errors.Is(err, store.ErrFailed):
		p.res.err = storeErr(errStreamStoreFailed, err)
	default:
		p.res.err = apiErr(errStreamStoreFailed, err)
	}
	if err == nil {
		s.wakeConsumers(p.res.subject)
		s.republish(&p.res.msg, p.res.prevSubjSeq)
	}
	if p.done != nil {
		p.done(&p.res)
	} else if len(p.reply) > 0 && !p.res.noAck {
		// A fresh buffer: the Broker contract does not promise Publish
		// keeps no reference to data after it returns.
		_ = s.svc.broker.Publish(string(p.reply), "", nil, p.appendAck(make([]byte, 0, 48+len(s.nameJSON))))
	}
	p.s, p.res, p.done = nil, opResult{}, nil
	if cap(p.enc) <= 64*1024 {
		pubPool.Put(p)
	}
}

// appendAck writes the PubAck JSON by hand: it is sent once per message,
// and the shape is fixed.
func (p *pubOp) appendAck(b []byte) []byte {
	if p.res.err != nil {
		e, _ := json.Marshal(p.res.err)
		b = append(b, `{"error":`...)
		b = append(b, e...)
		b = append(b, `,"stream":`...)
		b = append(b, p.s.nameJSON...)
		return append(b, `,"seq":0}`...)
	}
	b = append(b, `{"stream":`...)
	b = append(b, p.s.nameJSON...)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, p.res.seq, 10)
	if p.res.dup {
		b = append(b, `,"duplicate":true`...)
	} else if p.res.counter != "" {
		b = append(b, `,"val":"`...)
		b = append(b, p.res.counter...)
		b = append(b, '"')
	}
	return append(b, '}')
}

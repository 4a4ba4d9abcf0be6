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

// pubOp is one publish on its way to disk. It is pooled: the broker's
// slices are copied into buf once, and the op is reused after its ack.
type pubOp struct {
	s       *stream
	buf     []byte
	subject []byte
	reply   []byte
	hdr     []byte
	data    []byte
	msg     store.Msg

	// now is when the message was received, stamped before it is queued
	// so that Apply reads no clock: the message's time and the duplicate
	// window are decided from it.
	now    int64
	seq    uint64
	dup    bool
	rollup rollupKind
	noAck  bool // the stream's no_ack: answer nothing, not even an error
	// prevSubjSeq is the subject's last sequence before this message, for
	// the republished copy's Nats-Last-Sequence (transform.go).
	prevSubjSeq uint64
	// from is where a mirrored or sourced message came from (copier.go).
	from copied
	err  *APIError
}

var pubPool = sync.Pool{New: func() any { return new(pubOp) }}

// onPublish is the broker callback for a stream's subjects. It copies the
// message and queues it; it blocks only while the writer's queue is full.
func (s *stream) onPublish(subject, reply, hdr, data []byte) {
	s.submit(s.transformIn(subject), reply, hdr, data, copied{})
}

// submit queues a message for the stream; from says where a copied one
// came from (copier.go), the zero value for a published one.
func (s *stream) submit(subject, reply, hdr, data []byte, from copied) {
	p := pubPool.Get().(*pubOp)
	p.s = s
	p.buf = append(append(append(append(p.buf[:0], subject...), reply...), hdr...), data...)
	n := 0
	p.subject, n = p.buf[n:n+len(subject):n+len(subject)], n+len(subject)
	p.reply, n = p.buf[n:n+len(reply):n+len(reply)], n+len(reply)
	p.hdr, n = p.buf[n:n+len(hdr):n+len(hdr)], n+len(hdr)
	p.data = p.buf[n:]
	if len(p.hdr) == 0 {
		p.hdr = nil
	}
	p.seq, p.dup, p.rollup, p.noAck, p.err, p.prevSubjSeq, p.from = 0, false, rollupNone, false, nil, 0, from
	p.now = s.svc.clock.Now().UnixNano()
	s.st.Submit(p)
}

// errRejected marks an Apply that refused the message; the reason is in
// p.err, and nothing was written.
var errRejected = errors.New("stream: publish rejected")

// Apply checks the message against the stream's rules and stores it. It
// runs on the writer goroutine.
func (p *pubOp) Apply(b *store.Batch) error {
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	p.noAck = s.cfg.NoAck
	if p.err = s.checkPublish(p); p.err != nil || p.dup {
		return errRejected
	}
	if p.err = s.checkQuota(store.MsgSize(len(p.subject), len(p.hdr), len(p.data))); p.err != nil {
		return errRejected
	}
	replaced, err := s.rollupBefore(b, p.rollup, p.subject)
	if err != nil {
		// Only reads (subject rollup) or range deletions on the batch
		// (stream rollup, which fail only on a closed batch) come before
		// this point, so the refused message leaves nothing behind.
		p.err = apiErr(errStreamStoreFailed, err)
		return errRejected
	}
	now := p.now
	if now <= s.state.lastTime {
		now = s.state.lastTime + 1 // keep times in sequence order for expiry
	}
	p.seq = s.state.last + 1
	if p.from.at > p.seq {
		p.seq = p.from.at // a mirror skips what its origin no longer has
	}
	p.msg = store.Msg{Seq: p.seq, Time: now, Subject: p.subject, Header: p.hdr, Data: p.data}
	if err := b.PutMsg(s.id, &p.msg); err != nil {
		p.err = apiErr(errStreamStoreFailed, err)
		return errRejected
	}
	if err := p.from.record(b, s.id); err != nil {
		p.err = apiErr(errStreamStoreFailed, err)
		return errRejected
	}
	wasEmpty := s.state.msgs == 0
	if s.republishing(p.subject) {
		p.prevSubjSeq = s.lastSeqOf(p.subject)
	}
	s.noteAdded(p.subject, p.seq, now, p.msg.Size())
	if err := s.rollupAfter(b, replaced); err != nil {
		// Only a write to the batch can fail here, and the message is
		// already in it: as with limits below, log rather than fail.
		s.svc.log.Error("stream rollup failed", "stream", s.name, "err", err)
	}
	// Like nats-server, the last msg id is that of the last message, even
	// when it had none.
	s.lastMsgID = ""
	if id := headerValue(p.hdr, hdrMsgID); len(id) > 0 {
		s.lastMsgID = string(id)
		s.rememberMsgID(s.lastMsgID, p.seq, now)
	}
	if s.cfg.Retention == RetentionInterest && !s.wantedByConsumer(p.subject) {
		// Nobody will ever ack it (consumer.go): as nats-server, keep the
		// sequence and drop the message.
		if err := s.removeMsg(b, &p.msg); err != nil {
			s.svc.log.Error("dropping uninteresting message failed", "stream", s.name, "err", err)
		}
	}
	if err := s.enforceLimits(b, p.subject); err != nil {
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
// a message or mark it a duplicate. It writes nothing.
func (s *stream) checkPublish(p *pubOp) *APIError {
	if s.deleted {
		return apiErr(errStreamNotFound)
	}
	c := &s.cfg
	if c.Sealed {
		return apiErr(errStreamSealed)
	}
	if len(p.hdr) > maxHeaderSize {
		return apiErr(errHeaderTooBig)
	}
	size := store.MsgSize(len(p.subject), len(p.hdr), len(p.data))
	if c.MaxMsgSize >= 0 && len(p.hdr)+len(p.data) > int(c.MaxMsgSize) ||
		c.MaxBytes > 0 && size > uint64(c.MaxBytes) {
		return apiErr(errMsgTooBig)
	}
	if p.hdr == nil {
		return s.checkDiscardNew(p.subject, size)
	}
	if id := headerValue(p.hdr, hdrMsgID); len(id) > 0 {
		if e := s.checkDedupeGap(p.now); e != nil {
			return e
		}
		s.pruneDedupe(p.now)
		if e, ok := s.dedupe[string(id)]; ok {
			p.dup, p.seq = true, e.seq
			return nil
		}
	}
	if v := headerValue(p.hdr, hdrExpStream); v != nil && string(v) != s.name {
		return apiErr(errExpectedStream)
	}
	if v := headerValue(p.hdr, hdrExpLastMsgID); v != nil && string(v) != s.lastMsgID {
		return apiErr(errWrongLastMsgID, s.lastMsgID)
	}
	if v, present, ok := headerUint(p.hdr, hdrExpLastSeq); present && (!ok || v != s.state.last) {
		return apiErr(errWrongLastSeq, s.state.last)
	}
	if v, present, ok := headerUint(p.hdr, hdrExpLastSubjSeq); present {
		subj := p.subject
		if alt := headerValue(p.hdr, hdrExpLastSubjSubj); len(alt) > 0 {
			subj = alt
		}
		var last uint64
		if ss := s.subjects[string(subj)]; ss != nil {
			last = ss.last
		}
		if !ok || v != last {
			return apiErr(errWrongLastSeq, last)
		}
	}
	var e *APIError
	if p.rollup, e = s.checkRollup(p.hdr); e != nil {
		return e
	}
	return s.checkDiscardNew(p.subject, size)
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
	switch {
	case err == nil, errors.Is(err, errRejected):
	case errors.Is(err, store.ErrClosed):
		p.err = apiErr(errStreamStoreFailed, "stream store is closed")
	case errors.Is(err, store.ErrNotApplied):
		// Refused before Apply (no space, or a failed store): nothing to undo.
		p.err = storeErr(errStreamStoreFailed, err)
	case errors.Is(err, store.ErrNoSpace), errors.Is(err, store.ErrFailed):
		p.err = storeErr(errStreamStoreFailed, err)
		s.svc.reload(s)
	default:
		// The commit failed: the state changed in Apply is not on disk.
		p.err = apiErr(errStreamStoreFailed, err)
		s.svc.reload(s)
	}
	if err == nil {
		s.wakeConsumers(p.subject)
		s.republish(&p.msg, p.prevSubjSeq)
	}
	if len(p.reply) > 0 && !p.noAck {
		// A fresh buffer: the Broker contract does not promise Publish
		// keeps no reference to data after it returns.
		_ = s.svc.broker.Publish(string(p.reply), "", nil, p.appendAck(make([]byte, 0, 48+len(s.nameJSON))))
	}
	p.s, p.msg = nil, store.Msg{}
	if cap(p.buf) <= 64*1024 {
		pubPool.Put(p)
	}
}

// appendAck writes the PubAck JSON by hand: it is sent once per message,
// and the shape is fixed.
func (p *pubOp) appendAck(b []byte) []byte {
	if p.err != nil {
		e, _ := json.Marshal(p.err)
		b = append(b, `{"error":`...)
		b = append(b, e...)
		b = append(b, `,"stream":`...)
		b = append(b, p.s.nameJSON...)
		return append(b, `,"seq":0}`...)
	}
	b = append(b, `{"stream":`...)
	b = append(b, p.s.nameJSON...)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, p.seq, 10)
	if p.dup {
		b = append(b, `,"duplicate":true`...)
	}
	return append(b, '}')
}

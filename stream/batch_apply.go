package stream

import (
	"errors"
	"fmt"

	"github.com/wisp-mq/wisp/stream/store"
)

// batchStored is one message a batch stored, for the work after its commit
// (waking consumers, republishing).
type batchStored struct {
	msg         store.Msg
	prevSubjSeq uint64
}

// batchPlan is what checking a batch decided for one of its messages:
// the header and payload to store (a counter's total replaces its
// increment) and the rollup it asks for.
type batchPlan struct {
	hdr, data []byte
	rollup    rollupKind
}

// applyBatch stores an atomic batch: it checks every message against the
// stream's rules as if the ones before it were stored, writing nothing,
// then stores them all. A refusal of any message refuses the batch.
func (s *stream) applyBatch(b *store.Batch, o *opBatch, res *opResult) error {
	s.lockApply()
	defer s.mu.Unlock()
	res.noAck = s.cfg.NoAck
	plan, e := s.checkBatch(b.Reader(), o)
	if res.err = e; e != nil {
		return errRejected
	}
	res.stored = make([]batchStored, 0, len(o.Msgs))
	for i := range o.Msgs {
		p := opPublish{Now: o.Now, Subject: o.Msgs[i].Subject, Header: plan[i].hdr, Data: plan[i].data}
		var r opResult
		if err := s.storePublish(b, &p, &r, plan[i].rollup); err != nil {
			if i == 0 && errors.Is(err, errRejected) {
				res.err = r.err
				return errRejected
			}
			// Only a failed write to the batch gets here, after some of
			// the batch was written: the stream faults and is rebuilt
			// from its store (apply.go).
			return fmt.Errorf("stream: storing message %d of batch %q: %v", i+1, o.ID, r.err)
		}
		res.stored = append(res.stored, batchStored{msg: r.msg, prevSubjSeq: r.prevSubjSeq})
		res.seq = r.seq
	}
	return nil
}

// batchCheck is the running account of a batch being checked: what its
// earlier messages would have changed.
type batchCheck struct {
	ids      map[string]struct{}
	counters map[string]*counterTotal
	subjects map[string]uint64 // messages per subject so far
	expected map[string]uint64 // last subject sequences already checked
	bytes    uint64
}

// checkBatch applies to every message of a batch the rules a publish
// obeys, in nats-server's order and with its limits for batches: no
// Nats-Expected-Last-Msg-Id, an expected last sequence only on the first
// message, an expected subject sequence or subject rollup only on a
// subject's first message, a stream rollup only first, no duplicate
// message id (in the window or in the batch). It writes nothing.
func (s *stream) checkBatch(r store.Reader, o *opBatch) ([]batchPlan, *APIError) {
	c := &s.cfg
	switch {
	case s.deleted:
		return nil, apiErr(errStreamNotFound)
	case c.Sealed:
		return nil, apiErr(errStreamSealed)
	case !c.AllowAtomic:
		return nil, apiErr(errAtomicDisabled)
	}
	bc := batchCheck{subjects: map[string]uint64{}}
	plan := make([]batchPlan, len(o.Msgs))
	for i := range o.Msgs {
		if e := s.checkBatchMsg(r, o.Now, i, &o.Msgs[i], &plan[i], &bc); e != nil {
			return nil, e
		}
	}
	if e := s.checkQuota(bc.bytes); e != nil {
		return nil, e
	}
	return plan, nil
}

// checkBatchMsg checks message i of a batch and fills its plan.
func (s *stream) checkBatchMsg(r store.Reader, now int64, i int, m *batchMsg, p *batchPlan, bc *batchCheck) *APIError {
	c := &s.cfg
	hdr, data := m.Header, m.Data
	if len(headerValue(hdr, hdrExpLastMsgID)) > 0 {
		return apiErr(errAtomicUnsupportedHeader, hdrExpLastMsgID)
	}
	if len(hdr) > maxHeaderSize {
		return apiErr(errHeaderTooBig)
	}
	if c.MaxMsgSize >= 0 && len(hdr)+len(data) > int(c.MaxMsgSize) ||
		c.MaxBytes > 0 && store.MsgSize(len(m.Subject), len(hdr), len(data)) > uint64(c.MaxBytes) {
		return apiErr(errMsgTooBig)
	}
	if e := s.checkIncr(hdr, data, false); e != nil {
		return e
	}
	if v := headerValue(hdr, hdrExpStream); len(v) > 0 && string(v) != s.name {
		return apiErr(errExpectedStream)
	}
	if e := s.checkBatchMsgID(now, hdr, bc); e != nil {
		return e
	}
	subj := string(m.Subject)
	if c.AllowMsgCounter {
		t := bc.counters[subj]
		if t == nil {
			var e *APIError
			if t, e = s.loadCounter(r, m.Subject); e != nil {
				return e
			}
			if bc.counters == nil {
				bc.counters = map[string]*counterTotal{}
			}
			bc.counters[subj] = t
		}
		h, d, e := t.add(m.Subject, hdr, data, false)
		if e != nil {
			return e
		}
		if e := s.checkCountedSize(h, d); e != nil {
			return e
		}
		hdr, data = h, d
	}
	p.hdr, p.data = hdr, data
	if e := s.checkBatchExpected(i, m.Subject, hdr, bc); e != nil {
		return e
	}
	rollup, e := s.checkRollup(hdr)
	switch {
	case e != nil:
		return e
	case rollup == rollupSubject && bc.subjects[subj] > 0:
		return apiErr(errStreamRollupFailed, "batch rollup sub invalid")
	case rollup == rollupAll && i > 0:
		return apiErr(errStreamRollupFailed, "batch rollup all invalid")
	}
	p.rollup = rollup
	bc.subjects[subj]++
	bc.bytes += store.MsgSize(len(m.Subject), len(hdr), len(data))
	return s.checkBatchDiscardNew(i, subj, rollup, bc)
}

// checkBatchMsgID refuses a message id seen in the duplicate window or
// earlier in the batch.
func (s *stream) checkBatchMsgID(now int64, hdr []byte, bc *batchCheck) *APIError {
	id := headerValue(hdr, hdrMsgID)
	if len(id) == 0 {
		return nil
	}
	if e := s.checkDedupeGap(now); e != nil {
		return e
	}
	s.pruneDedupe(now)
	if _, dup := bc.ids[string(id)]; dup {
		return apiErr(errAtomicDuplicateMsg)
	}
	if _, dup := s.dedupe[string(id)]; dup {
		return apiErr(errAtomicDuplicateMsg)
	}
	if bc.ids == nil {
		bc.ids = map[string]struct{}{}
	}
	bc.ids[string(id)] = struct{}{}
	return nil
}

// checkBatchExpected checks the expected last sequence (against the
// sequence message i would follow: only the first may carry one) and the
// expected last subject sequence (against the stream before the batch;
// only before the batch writes that subject).
func (s *stream) checkBatchExpected(i int, subject, hdr []byte, bc *batchCheck) *APIError {
	if v, present, ok := headerUint(hdr, hdrExpLastSeq); present {
		want := s.state.last + uint64(i)
		if !ok || v != want {
			return apiErr(errWrongLastSeq, want)
		}
		if i > 0 {
			return apiErr(errWrongLastSeqConstant)
		}
	}
	v, present, ok := headerUint(hdr, hdrExpLastSubjSeq)
	if !present {
		return nil
	}
	subj := subject
	if alt := headerValue(hdr, hdrExpLastSubjSubj); len(alt) > 0 {
		subj = alt
	}
	if bc.subjects[string(subj)] > 0 {
		return apiErr(errWrongLastSeqConstant)
	}
	last, seen := bc.expected[string(subj)]
	if !seen {
		last = s.lastSeqOf(subj)
	}
	if !ok || v != last {
		return apiErr(errWrongLastSeq, last)
	}
	if bc.expected == nil {
		bc.expected = map[string]uint64{}
	}
	bc.expected[string(subj)] = last
	return nil
}

// checkBatchDiscardNew refuses a batch that a discard-new limit has no
// room for, counting the messages before it in the batch.
func (s *stream) checkBatchDiscardNew(i int, subj string, rollup rollupKind, bc *batchCheck) *APIError {
	c := &s.cfg
	if c.Discard != DiscardNew {
		return nil
	}
	if c.MaxMsgs > 0 && s.state.msgs+uint64(i+1) > uint64(c.MaxMsgs) {
		return apiErr(errStreamStoreFailed, "maximum messages exceeded")
	}
	if c.MaxBytes > 0 && s.state.bytes+bc.bytes > uint64(c.MaxBytes) {
		return apiErr(errStreamStoreFailed, "maximum bytes exceeded")
	}
	if c.DiscardNewPerSubject && c.MaxMsgsPerSubject > 0 && rollup == rollupNone {
		n := bc.subjects[subj]
		if ss := s.subjects[subj]; ss != nil {
			n += ss.msgs
		}
		if n > uint64(c.MaxMsgsPerSubject) {
			return apiErr(errStreamStoreFailed, "maximum messages per subject exceeded")
		}
	}
	return nil
}

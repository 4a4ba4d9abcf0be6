package stream

import (
	"github.com/wisp-mq/wisp/stream/store"
)

// opFastPublish stores one message of a fast batch (fast_batch.go). It is
// checked and stored as a publish is; what it adds is the batch's order,
// which the state machine keeps so that every replica agrees on it: in
// "gap: fail" mode a batch stops at its first refused message, and every
// later message of it is refused too, whatever the proposer had queued
// behind it. ID and Seq name the batch and the message's place in it,
// GapOK its gap mode, Commit whether it ends the batch.
type opFastPublish struct {
	Now                   int64
	ID                    string
	Seq                   uint64
	GapOK, Commit         bool
	Subject, Header, Data []byte
}

func (*opFastPublish) kind() opKind { return kindFastPublish }

func (o *opFastPublish) encodeFields(w *opWriter) {
	w.i(o.Now)
	w.str(o.ID)
	w.u(o.Seq)
	w.flag(o.GapOK)
	w.flag(o.Commit)
	w.bytes(o.Subject)
	w.bytes(o.Header)
	w.bytes(o.Data)
}

func (o *opFastPublish) decodeFields(r *opReader) {
	o.Now = r.i()
	o.ID = r.str()
	o.Seq = r.u()
	o.GapOK = r.flag()
	o.Commit = r.flag()
	o.Subject = r.bytes()
	if o.Header = r.bytes(); len(o.Header) == 0 {
		o.Header = nil
	}
	o.Data = r.bytes()
	switch {
	case r.err != nil:
	case len(o.Subject) == 0:
		r.fail("subject")
	case o.ID == "":
		r.fail("batch id")
	case o.Seq == 0:
		r.fail("batch sequence")
	}
}

// fastApplied is what the state machine keeps of one fast batch: the
// sequence its next message should carry, whether it stopped at a
// refused message, and when it last stored one (to forget batches whose
// publisher went away: see forgetFastBatches).
type fastApplied struct {
	next   uint64
	failed bool
	last   int64
}

// applyFastPublish stores one message of a fast batch, or refuses it: as
// a publish would be, or because its batch is unknown here, or because a
// "gap: fail" batch already stopped.
func (s *stream) applyFastPublish(b *store.Batch, o *opFastPublish, res *opResult) error {
	s.lockApply()
	defer s.mu.Unlock()
	res.noAck = s.cfg.NoAck
	res.subject = o.Subject
	if !s.deleted && !s.cfg.AllowBatched {
		res.err = apiErr(errFastDisabled)
		return errRejected
	}
	fb := s.fastBatches
	if o.Seq == 1 {
		s.forgetFastBatches(o.Now)
		if fb == nil {
			fb = map[string]*fastApplied{}
			s.fastBatches = fb
		}
		fb[o.ID] = &fastApplied{next: 1}
	}
	st := fb[o.ID]
	switch {
	case st == nil:
		res.err = apiErr(errFastUnknownID)
		return errRejected
	case st.failed || !o.GapOK && o.Seq != st.next:
		res.err = apiErr(errFastUnknownID)
		return errRejected
	}
	st.last = o.Now
	if o.Commit {
		delete(fb, o.ID)
	}
	p := opPublish{Now: o.Now, Subject: o.Subject, Header: o.Header, Data: o.Data}
	err := s.applyPublishLocked(b, &p, res)
	if res.err != nil && !o.GapOK {
		st.failed = true
		return err
	}
	st.next = o.Seq + 1
	return err
}

// forgetFastBatches drops the batches that stored nothing for longer than
// the batch timeout before now (a stamped time, so every replica forgets
// the same ones); their publishers' batches timed out long ago.
func (s *stream) forgetFastBatches(now int64) {
	cut := now - int64(s.svc.batches.limits.Timeout)
	for id, st := range s.fastBatches {
		if st.last < cut {
			delete(s.fastBatches, id)
		}
	}
}

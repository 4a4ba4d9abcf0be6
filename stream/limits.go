package stream

import (
	"bytes"
	"errors"
	"time"

	"github.com/wisp-mq/wisp/stream/store"
)

// This file keeps a stream inside its limits. All of it runs on the
// writer goroutine with s.mu held, against the batch being gathered, so a
// removal and the publish that caused it commit together.

// noteAdded updates the state for a message just written to the batch.
func (s *stream) noteAdded(subject []byte, seq uint64, ts int64, size uint64) {
	st := &s.state
	if st.msgs == 0 {
		st.first, st.firstTime = seq, ts
	}
	st.msgs++
	st.bytes += size
	s.countBytes(int64(size))
	st.last, st.lastTime = seq, ts
	if ss := s.subjects[string(subject)]; ss != nil {
		ss.msgs++
		ss.last = seq
		return
	}
	s.subjects[string(subject)] = &subjState{msgs: 1, first: seq, last: seq}
}

// removeMsg deletes m and keeps counts, first sequence and the subject
// state right. Finding a subject's or the stream's new first message is a
// short scan of the subject index or the message range from the old one;
// but messages are mostly removed oldest first (an interest or work-queue
// stream acknowledged in order), and then the next message, m.Seq+1, is
// the new first of the stream and often of the subject as well: one point
// read finds it where each scan would open an iterator of its own.
func (s *stream) removeMsg(b *store.Batch, m *store.Msg) error {
	if err := b.DeleteMsg(s.id, m.Seq, m.Subject); err != nil {
		return err
	}
	r := b.Reader()
	var succ *store.Msg // message m.Seq+1, read at most once; nil if absent or unreadable
	succRead := false
	successor := func() *store.Msg {
		if !succRead {
			succRead = true
			succ, _ = r.Msg(s.id, m.Seq+1)
		}
		return succ
	}
	st := &s.state
	st.msgs--
	s.countBytes(-int64(min(st.bytes, m.Size())))
	st.bytes -= min(st.bytes, m.Size())
	if ss := s.subjects[string(m.Subject)]; ss != nil {
		ss.msgs--
		switch {
		case ss.msgs == 0:
			delete(s.subjects, string(m.Subject))
		default:
			if m.Seq == ss.first {
				if next := successor(); next != nil && bytes.Equal(next.Subject, m.Subject) {
					ss.first = next.Seq
				} else {
					_ = r.SubjectSeqs(s.id, string(m.Subject), m.Seq+1, func(seq uint64) bool { ss.first = seq; return false })
				}
			}
			if m.Seq == ss.last {
				if last, err := r.LastSubjectSeq(s.id, string(m.Subject)); err == nil {
					ss.last = last
				}
			}
		}
	}
	if m.Seq == st.last {
		// The key holding the last sequence is gone: record it so a
		// restart does not hand the sequence out again.
		if err := b.SetLastSeq(s.id, st.last, st.lastTime); err != nil {
			return err
		}
	}
	if st.msgs == 0 {
		st.first, st.firstTime = st.last+1, 0
		return nil
	}
	if m.Seq == st.first {
		next := successor()
		if next == nil {
			var err error
			if next, err = r.Next(s.id, m.Seq+1); err != nil {
				// Counts say messages remain but none is readable: the
				// rest are corrupt. Report the stream as empty rather
				// than loop.
				st.msgs, st.bytes, st.first, st.firstTime = 0, 0, st.last+1, 0
				clear(s.subjects)
				return nil
			}
		}
		st.first, st.firstTime = next.Seq, next.Time
	}
	return nil
}

// removeFirst removes the stream's oldest message.
func (s *stream) removeFirst(b *store.Batch) error {
	m, err := b.Reader().Next(s.id, s.state.first)
	if errors.Is(err, store.ErrNotFound) {
		s.countBytes(-int64(s.state.bytes))
		s.state.msgs, s.state.bytes = 0, 0
		s.state.first, s.state.firstTime = s.state.last+1, 0
		clear(s.subjects)
		return nil
	}
	if err != nil {
		return err
	}
	return s.removeMsg(b, m)
}

// enforceLimits applies discard-old limits after a message on subject was
// added: first the subject's own limit, then the stream's.
func (s *stream) enforceLimits(b *store.Batch, subject []byte) error {
	if max := s.cfg.MaxMsgsPerSubject; max > 0 {
		if err := s.trimSubject(b, string(subject), uint64(max)); err != nil {
			return err
		}
	}
	return s.trimStream(b)
}

// trimSubject removes a subject's oldest messages until it has at most max.
func (s *stream) trimSubject(b *store.Batch, subject string, max uint64) error {
	for ss := s.subjects[subject]; ss != nil && ss.msgs > max; ss = s.subjects[subject] {
		m, err := b.Reader().Msg(s.id, ss.first)
		if err != nil {
			return err
		}
		if err := s.removeMsg(b, m); err != nil {
			return err
		}
	}
	return nil
}

// trimStream removes the oldest messages until max_msgs and max_bytes hold.
func (s *stream) trimStream(b *store.Batch) error {
	c := &s.cfg
	for s.state.msgs > 0 &&
		(c.MaxMsgs > 0 && s.state.msgs > uint64(c.MaxMsgs) || c.MaxBytes > 0 && s.state.bytes > uint64(c.MaxBytes)) {
		if err := s.removeFirst(b); err != nil {
			return err
		}
	}
	return nil
}

// applyAllLimits trims a stream whose limits just shrank (an update).
func (s *stream) applyAllLimits(b *store.Batch, now time.Time) error {
	if max := s.cfg.MaxMsgsPerSubject; max > 0 {
		var over []string
		for subj, ss := range s.subjects {
			if ss.msgs > uint64(max) {
				over = append(over, subj)
			}
		}
		for _, subj := range over {
			if err := s.trimSubject(b, subj, uint64(max)); err != nil {
				return err
			}
		}
	}
	if err := s.trimStream(b); err != nil {
		return err
	}
	return s.expire(b, now)
}

// expire removes messages older than max_age and re-arms the stream's one
// expiry timer for the next oldest message. One timer per stream, not per
// message: messages expire in sequence order because they arrive in time
// order.
func (s *stream) expire(b *store.Batch, now time.Time) error {
	if s.cfg.MaxAge <= 0 {
		return nil
	}
	if s.cfg.AllowMsgTTL {
		return s.expireAgedTTL(b, now) // ttl.go
	}
	cutoff := now.UnixNano() - int64(s.cfg.MaxAge)
	for s.state.msgs > 0 && s.state.firstTime <= cutoff {
		if err := s.removeFirst(b); err != nil {
			return err
		}
	}
	if s.state.msgs > 0 {
		s.armExpiry(time.Duration(s.state.firstTime + int64(s.cfg.MaxAge) - now.UnixNano()))
	}
	return nil
}

// armExpiry makes the expiry timer fire after d (at least 1ms). A timer
// that fires early is harmless: expire finds nothing and re-arms.
func (s *stream) armExpiry(d time.Duration) {
	d = max(d, time.Millisecond)
	if s.ageTimer == nil {
		s.ageTimer = s.svc.clock.AfterFunc(d, s.onExpiryTimer)
		return
	}
	s.ageTimer.Reset(d)
}

// onExpiryTimer runs on the timer's goroutine: it hands the work to the
// writer, which is the only goroutine that changes stored data.
func (s *stream) onExpiryTimer() {
	// The cut-off is decided here, before the operation is queued: the
	// writer applies it without reading a clock.
	s.st.Submit(&streamOp{s: s, enc: encodeOp(nil, "", &opExpire{Now: s.svc.clock.Now().UnixNano()}),
		done: make(chan error, 1)})
}

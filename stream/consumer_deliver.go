package stream

import (
	"container/heap"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/wisp-mq/wisp/stream/store"
)

// deliverChunk bounds how many messages one pass prepares under the lock
// before sending them.
const deliverChunk = 64

// deliverLoop is the consumer's delivery goroutine: woken by a stored
// message, a pull request, an ack or a redelivery, it sends until it runs
// out of messages or of places to send them.
func (c *consumer) deliverLoop() {
	defer close(c.done)
	var out outbox
	for {
		select {
		case <-c.kick:
		case <-c.quit:
			return
		}
		for c.deliverSome(&out) {
			select {
			case <-c.quit:
				return
			default:
			}
		}
	}
}

// deliverSome prepares up to deliverChunk messages under the lock, sends
// them, and reports whether there may be more to do.
func (c *consumer) deliverSome(out *outbox) bool {
	c.mu.Lock()
	if c.closed || !c.s.isLeader() || c.resetPending {
		// A replicated stream's leader delivers (replica.go), and not
		// while a reset it proposed is on its way: a pass planned from
		// the old position would apply after the reset.
		c.mu.Unlock()
		return false
	}
	now := c.svc.clock.Now()
	more := false
	push := c.cfg.isPush()
	if c.pausedLocked(now) {
		// Nothing goes out; the timer wakes us when the pause ends. A
		// no_wait request gets its answer now, as with nothing to send.
		if !push {
			c.endNoWait(out)
		}
		c.mu.Unlock()
		out.send(c.svc)
		return false
	}
	if push && !c.hasInterest() {
		c.retryLaterLocked()
		c.mu.Unlock()
		return false
	}
	repl := c.s.repl != nil
	chunk := deliverChunk
	if repl {
		chunk = replDeliverChunk // one entry per pass (consumer_replicated.go)
	}
	for n := 0; n < chunk; n++ {
		if push && c.stalled() {
			break // the flow control answer wakes us
		}
		var r *pullReq
		claim := false
		if !push {
			if c.cfg.PriorityPolicy != "" {
				r, claim = c.pickByPriority(out)
			} else {
				r = c.pickRequest()
			}
			if r == nil {
				break
			}
		}
		m, redelivery, ok := c.nextMsg()
		if !ok {
			c.endNoWait(out)
			break
		}
		if !redelivery && c.cfg.ReplayPolicy == ReplayOriginal && c.holdForReplay(m, now) ||
			push && c.cfg.RateLimit > 0 && c.rateLimited(now) {
			c.unread(m, redelivery)
			break
		}
		size := len(m.Subject) + len(m.Header) + len(m.Data) + len(c.ackPrefix) + 40
		if r != nil && r.limited && size > r.maxBytes {
			// It does not fit this request: end the request, keep the message.
			c.unread(m, redelivery)
			out.status(r.reply, 409, "Message Size Exceeds MaxBytes", nil)
			c.dropRequest(r)
			n--
			continue
		}
		to := c.cfg.DeliverSubject
		if r != nil {
			to = r.reply
		}
		if claim {
			c.pinLocked(r, now, out)
		}
		c.emit(m, to, redelivery, now, out)
		if r != nil && c.pinID != "" {
			last := &out.msgs[len(out.msgs)-1]
			last.hdr = withPinHeader(last.hdr, c.pinID)
		}
		if r != nil {
			c.served(r, size, now)
		}
		more = n == chunk-1
	}
	if push && c.cfg.IdleHeartbeat > 0 && len(out.msgs) > 0 {
		c.hbNext = now.Add(c.cfg.IdleHeartbeat)
	}
	flush := c.needFlushLocked()
	var pass *consOp
	if repl {
		pass = c.proposePassLocked(now.UnixNano())
	}
	c.mu.Unlock()
	if repl {
		// The deliveries go out once their entry applied.
		c.submitProposals()
		if !c.finishPass(pass, out) {
			return false
		}
	} else {
		out.send(c.svc)
	}
	if flush {
		c.submitFlush()
	}
	return more
}

// nextMsg picks the next message to send: a due redelivery first, then
// last-per-subject starts, then the next new message, unless
// max_ack_pending holds new ones back. Called with mu held.
func (c *consumer) nextMsg() (m *store.Msg, redelivery, ok bool) {
	r := c.s.st.Reader()
	if m := c.nextRedelivery(r); m != nil {
		return m, true, true
	}
	if c.cfg.AckPolicy != AckNone && c.cfg.MaxAckPending > 0 && len(c.pending)+c.planNew >= c.cfg.MaxAckPending {
		return nil, false, false
	}
	for len(c.lps) > c.lpsSkip {
		// Left in place: delivering it (or forgetting it) takes it off;
		// a replicated consumer's pass skips those it planned
		// (lpsSkip), which come off when the pass's entry applies.
		seq := c.lps[c.lpsSkip]
		if m, err := r.Msg(c.s.id, seq); err == nil {
			return m, false, true
		}
		if c.s.repl != nil {
			c.lpsSkip++
		}
		c.proposeLocked(kindForget, func(w opWriter) opWriter { w.u(seq); return w }, nil)
	}
	m = c.readAhead(r)
	if m == nil {
		c.est.Store(0)
		return nil, false, false
	}
	return m, false, true
}

// nextRedelivery returns the next message due for redelivery, reading
// them from the store a batch at a time. A message stays marked queued
// until it is sent, so a nak meanwhile does not queue it twice; one acked
// meanwhile is skipped.
func (c *consumer) nextRedelivery(r store.Reader) *store.Msg {
	for {
		for len(c.redo) > 0 {
			m := c.redo[0]
			c.redo[0] = nil
			c.redo = c.redo[1:]
			if p := c.pending[m.Seq]; p != nil && p.queued {
				return m // still queued until its delivery is applied
			}
		}
		if len(c.rdq) == 0 {
			return nil
		}
		var seqs []uint64
		for len(c.rdq) > 0 && len(seqs) < readAheadMax {
			seq := heap.Pop(&c.rdq).(uint64)
			if p := c.pending[seq]; p != nil && p.queued && (len(seqs) == 0 || seqs[len(seqs)-1] != seq) {
				seqs = append(seqs, seq)
			}
		}
		found := map[uint64]bool{}
		_ = r.Msgs(c.s.id, seqs, func(m *store.Msg) bool {
			found[m.Seq] = true
			c.redo = append(c.redo, m)
			return true
		})
		for _, seq := range seqs {
			if !found[seq] {
				// Gone from the stream (limits, purge, delete): nothing to
				// redeliver, so it is as good as acknowledged.
				c.proposeLocked(kindForget, func(w opWriter) opWriter { w.u(seq); return w }, nil)
			}
		}
	}
}

// readAheadMax is how many upcoming messages one read takes from the
// store: one iterator per batch instead of one per message.
const readAheadMax = 128

// readAhead returns the next new message, refilling c.ahead from the
// store when it is empty. Messages read ahead that a purge or limit has
// since removed from the front of the stream are dropped.
func (c *consumer) readAhead(r store.Reader) *store.Msg {
	first := c.s.firstSeq()
	for {
		for len(c.ahead) > 0 {
			m := c.ahead[0]
			c.ahead[0] = nil
			c.ahead = c.ahead[1:]
			if m.Seq >= c.next && m.Seq >= first && m.Seq >= c.planNext {
				return m
			}
		}
		// From the stream's first sequence at least: a purge being applied
		// has moved first up before its removals are committed, and
		// reading from below it would find the same dropped messages
		// again and again while holding the lock the purge waits for.
		c.ahead = c.readBatch(r, max(c.next, first, c.planNext), c.ahead[:0])
		if len(c.ahead) == 0 {
			return nil
		}
	}
}

// readBatch appends up to readAheadMax messages at or after from that the
// consumer's filters select.
func (c *consumer) readBatch(r store.Reader, from uint64, dst []*store.Msg) []*store.Msg {
	s := c.s
	f := *c.filt.Load()
	collect := func(m *store.Msg) bool {
		dst = append(dst, m)
		return len(dst) < readAheadMax
	}
	if len(f) == 0 {
		_ = r.Scan(s.id, from, collect)
		return dst
	}
	subjects, scan := c.candidateSubjects(f, from)
	if scan {
		_ = r.Scan(s.id, from, func(m *store.Msg) bool {
			if c.matches(string(m.Subject)) {
				return collect(m)
			}
			return true
		})
		return dst
	}
	var seqs []uint64
	for _, subj := range subjects {
		k := 0
		_ = r.SubjectSeqs(s.id, subj, from, func(seq uint64) bool {
			seqs = append(seqs, seq)
			k++
			return k < readAheadMax
		})
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	if len(seqs) > readAheadMax {
		seqs = seqs[:readAheadMax]
	}
	_ = r.Msgs(s.id, seqs, collect)
	return dst
}

// firstSeq is the stream's first sequence.
func (s *stream) firstSeq() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state.first
}

// unread undoes nextMsg for a message that could not be sent.
func (c *consumer) unread(m *store.Msg, redelivery bool) {
	seq := m.Seq
	if redelivery {
		if p := c.pending[seq]; p != nil {
			c.redo = append(c.redo, nil)
			copy(c.redo[1:], c.redo)
			c.redo[0] = m
		}
		return
	}
	if seq < c.next {
		return // a last-per-subject start, still first in lps
	}
	c.ahead = append(c.ahead, nil)
	copy(c.ahead[1:], c.ahead)
	c.ahead[0] = m
}

// emit applies the delivery of m and queues it for to. Called with mu
// held.
func (c *consumer) emit(m *store.Msg, to string, redelivery bool, now time.Time, out *outbox) {
	// The redelivery deadline is decided here, from the delivery count
	// this delivery will have.
	var deadline int64
	if c.cfg.AckPolicy != AckNone {
		count := uint64(1)
		if p := c.pending[m.Seq]; p != nil {
			count = p.count + 1
		}
		deadline = now.Add(c.ackWaitFor(count)).UnixNano()
	}
	if c.s.repl != nil {
		c.planLocked(m, to, redelivery, deadline, out)
		c.afterEmitLocked(m, now, out)
		return
	}
	seq, nowNS := m.Seq, now.UnixNano()
	res := c.proposeLocked(kindDeliver, func(w opWriter) opWriter { w.u(seq); w.flag(redelivery); w.i(nowNS); w.i(deadline); return w }, out)
	count := res.count
	if res.first {
		c.est.Add(-1)
	}
	reply := append(c.scratch[:0], c.ackPrefix...)
	reply = strconv.AppendUint(reply, count, 10)
	reply = append(reply, '.')
	reply = strconv.AppendUint(reply, m.Seq, 10)
	reply = append(reply, '.')
	reply = strconv.AppendUint(reply, c.dseq, 10)
	reply = append(reply, '.')
	reply = strconv.AppendInt(reply, m.Time, 10)
	reply = append(reply, '.')
	reply = strconv.AppendInt(reply, max(c.est.Load(), 0)+int64(len(c.lps)), 10)
	hdr, data := m.Header, m.Data
	if c.cfg.HeadersOnly {
		hdr = headersOnly(m.Header, len(m.Data))
		data = nil
	}
	c.scratch = reply
	out.msgs = append(out.msgs, outMsg{subject: string(m.Subject), reply: string(reply), hdr: hdr, data: data, to: to})
	c.afterEmitLocked(m, now, out)
}

// afterEmitLocked does a push consumer's flow control and rate limit
// accounting for a message just queued. Called with mu held.
func (c *consumer) afterEmitLocked(m *store.Msg, now time.Time, out *outbox) {
	if c.cfg.isPush() {
		c.flowControlLocked(len(m.Header)+len(m.Data), out)
		if c.cfg.RateLimit > 0 {
			// The next message may go once this one's bits have had their time.
			bits := time.Duration(8 * (len(m.Subject) + len(m.Header) + len(m.Data)))
			if c.rateNext.Before(now) {
				c.rateNext = now
			}
			c.rateNext = c.rateNext.Add(bits * time.Second / time.Duration(c.cfg.RateLimit))
		}
	}
}

// rateLimited reports whether rate_limit_bps holds the next message back,
// and arms a wake-up for when it may go. Called with mu held.
func (c *consumer) rateLimited(now time.Time) bool {
	if !now.Before(c.rateNext) {
		return false
	}
	c.wakeAt(c.rateNext.Sub(now))
	return true
}

// wakeAt wakes the delivery goroutine after d (once, however often asked
// before then). Called with mu held.
func (c *consumer) wakeAt(d time.Duration) {
	if c.retryArmed {
		return
	}
	c.retryArmed = true
	c.svc.clock.AfterFunc(d, func() {
		c.mu.Lock()
		c.retryArmed = false
		c.mu.Unlock()
		c.wake()
	})
}

// holdForReplay reports whether, replaying at original speed, m is not
// due yet: messages go out spaced as they were stored. It arms a wake-up
// for when m is due. Called with mu held.
func (c *consumer) holdForReplay(m *store.Msg, now time.Time) bool {
	if c.replayTS != 0 {
		due := c.replaySent.Add(time.Duration(m.Time - c.replayTS))
		if now.Before(due) {
			c.wakeAt(due.Sub(now))
			return true
		}
	}
	c.replayTS, c.replaySent = m.Time, now
	return false
}

// headersOnly is the header block of a headers_only delivery: the stored
// headers plus Nats-Msg-Size.
func headersOnly(stored []byte, size int) []byte {
	b := make([]byte, 0, len(stored)+32)
	b = append(b, hdrPreamble+"\r\n"...)
	if len(stored) > 0 {
		for i := 0; i < len(stored); i++ {
			if stored[i] == '\n' {
				body := trimCRLF(stored[i+1:])
				if len(body) > 0 {
					b = append(b, body...)
					b = append(b, "\r\n"...)
				}
				break
			}
		}
	}
	b = appendHeader(b, "Nats-Msg-Size", strconv.Itoa(size))
	return append(b, "\r\n"...)
}

func trimCRLF(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}

// candidateSubjects lists the stored subjects matching filters that have
// messages at or after from; scan is true when there are too many
// subjects to merge and a stream scan is cheaper.
func (c *consumer) candidateSubjects(filters []string, from uint64) (subjects []string, scan bool) {
	s := c.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	literal := true
	for _, f := range filters {
		if hasWildcard(f) {
			literal = false
		}
	}
	if literal {
		for _, f := range filters {
			if ss := s.subjects[f]; ss != nil && ss.last >= from {
				subjects = append(subjects, f)
			}
		}
		return subjects, false
	}
	if len(s.subjects) > 256 {
		return nil, true
	}
	for subj, ss := range s.subjects {
		if ss.last >= from && c.matches(subj) {
			subjects = append(subjects, subj)
		}
	}
	return subjects, false
}

// countPending counts the messages at or after from that the consumer's
// filters select: exact, from the subject table where it can, from the
// index otherwise.
func (c *consumer) countPending(from uint64) uint64 {
	s := c.s
	f := *c.filt.Load()
	r := s.st.Reader()
	s.mu.RLock()
	st := s.state
	if len(f) == 0 {
		s.mu.RUnlock()
		switch {
		case st.msgs == 0 || from > st.last:
			return 0
		case from <= st.first:
			return st.msgs
		case st.numDeleted() == 0:
			return st.last - from + 1
		}
		n, _ := r.CountMsgs(s.id, from)
		return n
	}
	var n uint64
	var partial []string
	count := func(subj string, ss *subjState) {
		switch {
		case ss == nil || ss.last < from:
		case from <= ss.first:
			n += ss.msgs
		default:
			partial = append(partial, subj)
		}
	}
	if literal := !slices.ContainsFunc(f, hasWildcard); literal {
		// Filters overlap nowhere (validated), so each subject counts once.
		for _, subj := range f {
			count(subj, s.subjects[subj])
		}
	} else {
		for subj, ss := range s.subjects {
			if c.matches(subj) {
				count(subj, ss)
			}
		}
	}
	s.mu.RUnlock()
	for _, subj := range partial {
		k, _ := r.CountSubject(s.id, subj, from)
		n += k
	}
	return n
}

// startPosition computes where a new consumer begins: the first stream
// sequence to deliver, and for last_per_subject the sequences to deliver
// before it.
func (c *consumer) startPosition() (next uint64, lps []uint64) {
	s := c.s
	cfg := &c.cfg
	s.mu.RLock()
	st := s.state
	s.mu.RUnlock()
	f := *c.filt.Load()
	switch cfg.DeliverPolicy {
	case DeliverAll:
		return max(st.first, 1), nil
	case DeliverNew:
		return st.last + 1, nil
	case DeliverByStartSequence:
		return cfg.OptStartSeq, nil
	case DeliverByStartTime:
		t := cfg.OptStartTime.UnixNano()
		next = st.last + 1
		_ = s.st.Reader().Scan(s.id, st.first, func(m *store.Msg) bool {
			if m.Time >= t {
				next = m.Seq
				return false
			}
			return true
		})
		return next, nil
	case DeliverLast:
		if len(f) == 0 {
			if st.msgs == 0 {
				return st.last + 1, nil
			}
			return st.last, nil
		}
		var last uint64
		for _, p := range f {
			last = max(last, s.lastSeqFor(p))
		}
		if last == 0 {
			return st.last + 1, nil
		}
		return last, nil
	case DeliverLastPerSubject:
		s.mu.RLock()
		for subj, ss := range s.subjects {
			if c.matches(subj) {
				lps = append(lps, ss.last)
			}
		}
		s.mu.RUnlock()
		sort.Slice(lps, func(i, j int) bool { return lps[i] < lps[j] })
		return st.last + 1, lps
	}
	return max(st.first, 1), nil
}

// cfgRetention is the stream's retention policy (it never changes).
func (s *stream) cfgRetention() Retention {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cfg.Retention
}

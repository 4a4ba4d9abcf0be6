package stream

import (
	"bytes"
	"container/heap"
	"strconv"
	"strings"
	"time"

	"github.com/wisp-mq/wisp/stream/store"
)

// Per-message TTL. A stream with allow_msg_ttl keeps a message published
// with a "Nats-TTL" header until its own deadline: its stored time plus
// the TTL. "never" keeps it past max_age too. The deadlines live in a heap
// in memory (derived state, rebuilt from the stored headers when the
// stream loads); a timer armed for the earliest one proposes an
// opExpireTTL stamped with the time it fired, and apply removes every
// message whose deadline is not after that time. Streams without
// allow_msg_ttl never allocate any of it: the publish path checks one
// boolean, and a message without headers not even that.

const (
	hdrTTL = "Nats-TTL"
	// ttlNever is the TTL of a message that must outlive max_age.
	ttlNever = -1
)

// API errors of per-message TTL, with nats-server's codes.
func errMsgTTLInvalid() *APIError  { return &APIError{400, 10165, "invalid per-message TTL"} }
func errMsgTTLDisabled() *APIError { return &APIError{400, 10166, "per-message TTL is disabled"} }

// parseMsgTTL reads a Nats-TTL value as nats-server does: "never" (any
// case) is ttlNever; a Go duration must be at least a second and counts in
// whole seconds; otherwise a non-negative count of seconds. 0 means none.
func parseMsgTTL(v []byte) (secs int64, ok bool) {
	if len(v) == 5 && strings.EqualFold(string(v), "never") {
		return ttlNever, true
	}
	if d, err := time.ParseDuration(string(v)); err == nil {
		if d < time.Second {
			return 0, false
		}
		return int64(d / time.Second), true
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// headerTTL is the TTL a header block asks for: 0 for none (or a header
// that does not parse), ttlNever, or seconds.
func headerTTL(hdr []byte) int64 {
	v := headerValue(hdr, hdrTTL)
	if len(v) == 0 {
		return 0
	}
	ttl, _ := parseMsgTTL(v)
	return ttl
}

// checkMsgTTL refuses a message whose Nats-TTL does not parse, or that
// asks for a TTL on a stream that does not allow them. A copied message
// (mirror, source) was checked by its origin and keeps its header as is.
func (s *stream) checkMsgTTL(o *opPublish) *APIError {
	v := headerValue(o.Header, hdrTTL)
	if len(v) == 0 {
		return nil // absent, or empty: none, as in nats-server
	}
	ttl, ok := parseMsgTTL(v)
	switch {
	case !ok:
		return errMsgTTLInvalid()
	case ttl != 0 && !s.cfg.AllowMsgTTL && o.From == (copied{}):
		return errMsgTTLDisabled()
	}
	return nil
}

// checkShaping runs the TTL and schedule checks a message's header names
// call for.
func (s *stream) checkShaping(o *opPublish, ttl, sched bool) *APIError {
	if ttl {
		if e := s.checkMsgTTL(o); e != nil {
			return e
		}
	}
	if sched {
		return s.checkSchedule(o) // may add a rollup header
	}
	return nil
}

// stampTTL returns the header a message of a TTL stream is stored with,
// and its TTL. With subject delete markers a TTL shorter than the
// markers' is raised to theirs (unless the subject keeps one message),
// so a key cannot vanish before the marker saying it did; the header is
// rewritten to say so, as nats-server does.
func (s *stream) stampTTL(hdr []byte) ([]byte, int64) {
	ttl := headerTTL(hdr)
	if ttl <= 0 || s.cfg.SubjectDeleteMarkerTTL <= 0 || s.cfg.MaxMsgsPerSubject == 1 {
		return hdr, ttl
	}
	if min := int64(s.cfg.SubjectDeleteMarkerTTL / time.Second); ttl < min {
		return replaceHeader(hdr, hdrTTL, strconv.FormatInt(min, 10)), min
	}
	return hdr, ttl
}

// replaceHeader returns a copy of hdr without any key header and with
// "key: value" appended.
func replaceHeader(hdr []byte, key, value string) []byte {
	out := make([]byte, 0, len(hdr)+len(key)+len(value)+4)
	out = append(out, hdrPreamble+"\r\n"...)
	out = appendHeadersExcept(out, hdr, func(name []byte, named bool) bool {
		return named && bytes.EqualFold(name, []byte(key))
	})
	return append(appendHeader(out, key, value), "\r\n"...)
}

// msgTTLs is a TTL stream's pending deadlines. Entries of messages that
// left the stream another way stay until their deadline and are dropped
// then: a removal costs nothing here.
type msgTTLs struct {
	due ttlHeap
	stampedTimer
}

type ttlEntry struct {
	at  int64 // unix nanos
	seq uint64
}

type ttlHeap []ttlEntry

func (h ttlHeap) Len() int { return len(h) }
func (h ttlHeap) Less(i, j int) bool {
	return h[i].at < h[j].at || h[i].at == h[j].at && h[i].seq < h[j].seq
}
func (h ttlHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *ttlHeap) Push(x any)   { *h = append(*h, x.(ttlEntry)) }
func (h *ttlHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// trackTTL notes that message seq, stored at ts, expires ttl seconds
// later, and arms the timer if that is the earliest deadline; now is the
// applying operation's time. Called with mu held.
func (s *stream) trackTTL(seq uint64, ts, ttl, now int64) {
	if ttl <= 0 {
		return
	}
	if s.ttls == nil {
		s.ttls = &msgTTLs{}
	}
	at := ts + ttl*int64(time.Second)
	heap.Push(&s.ttls.due, ttlEntry{at: at, seq: seq})
	if s.ttls.armedAt == 0 || at < s.ttls.armedAt {
		s.armTTL(at, now)
	}
}

// armTTL arms the TTL timer for deadline at, seen from now.
func (s *stream) armTTL(at, now int64) {
	s.ttls.arm(s.svc.clock, at, now, s.onTTLTimer)
}

// onTTLTimer proposes the expiry of what is due, stamped with the time
// the timer fired: apply reads no clock. Once it is applied, the timer is
// armed again for the next deadline, measured on the clock.
func (s *stream) onTTLTimer() {
	applied := s.proposeStamped(func() *stampedTimer {
		if s.ttls == nil {
			return nil
		}
		return &s.ttls.stampedTimer
	}, func(now int64) operation { return &opExpireTTL{Now: now} })
	if !applied {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.ttls; t != nil && !s.deleted && len(t.due) > 0 {
		s.armTTL(t.due[0].at, s.svc.clock.Now().UnixNano())
	}
}

// applyExpireTTL removes every message whose TTL ran out by o.Now,
// leaving a subject delete marker where that was a subject's last message.
func (s *stream) applyExpireTTL(b *store.Batch, o *opExpireTTL) error {
	s.lockApply()
	defer s.mu.Unlock()
	if s.deleted || s.ttls == nil {
		return nil
	}
	t := s.ttls
	for len(t.due) > 0 && t.due[0].at <= o.Now {
		e := heap.Pop(&t.due).(ttlEntry)
		m, err := b.Reader().Msg(s.id, e.seq)
		if err != nil {
			continue // gone already (purged, deleted, limits)
		}
		if err := s.expireMsg(b, m, o.Now); err != nil {
			return err
		}
	}
	return nil
}

// loadTTL notes a stored message's deadline while the stream loads.
func (s *stream) loadTTL(m *store.Msg, now int64) {
	if len(m.Header) == 0 {
		return
	}
	s.trackTTL(m.Seq, m.Time, headerTTL(m.Header), now)
}

// resetTTLs forgets every deadline, before the stream is loaded again.
func (s *stream) resetTTLs() {
	if s.ttls == nil {
		return
	}
	s.ttls.due = s.ttls.due[:0]
	s.ttls.armedAt = 0
	if s.ttls.timer != nil {
		s.ttls.timer.Stop()
	}
}

// stopShapingTimers stops the timers of per-message TTL and schedules;
// called with mu held where the stream's max_age timer is stopped.
func (s *stream) stopShapingTimers() {
	if s.ttls != nil && s.ttls.timer != nil {
		s.ttls.timer.Stop()
	}
	if s.sched != nil && s.sched.timer != nil {
		s.sched.timer.Stop()
	}
}

// expireAgedTTL is max_age expiry for a stream that allows per-message
// TTLs: messages whose TTL is "never" stay, and a subject's last message
// leaves a delete marker when the stream asks for them.
func (s *stream) expireAgedTTL(b *store.Batch, now time.Time) error {
	nowNs := now.UnixNano()
	cutoff := nowNs - int64(s.cfg.MaxAge)
	seq := s.state.first
	for s.state.msgs > 0 {
		m, err := b.Reader().Next(s.id, seq)
		if err != nil {
			break
		}
		if m.Time > cutoff {
			s.armExpiry(time.Duration(m.Time + int64(s.cfg.MaxAge) - nowNs))
			return nil
		}
		seq = m.Seq + 1
		if headerTTL(m.Header) == ttlNever {
			continue
		}
		if err := s.expireMsg(b, m, nowNs); err != nil {
			return err
		}
	}
	if s.state.msgs > 0 {
		// Only messages that never expire are left: look again a
		// max_age later, when newer ones may have come of age.
		s.armExpiry(s.cfg.MaxAge)
	}
	return nil
}

package stream

import (
	"bytes"
	"slices"
	"strings"
	"time"

	"github.com/wisp-mq/wisp/stream/store"
)

// Message schedules (allow_msg_schedules). A message published with a
// "Nats-Schedule" header is a schedule: the stream keeps it (alone on its
// subject, through a subject rollup) and, when it falls due, stores a new
// message on its "Nats-Schedule-Target" subject with the schedule's data
// and headers, less the scheduling ones, plus "Nats-Scheduler" (the
// schedule's subject) and "Nats-Schedule-Next" (the next firing, or
// "purge" for a schedule that fires once, which then removes it).
//
// Each schedule's next firing is derived state: rebuilt from the stored
// messages in sequence order on load (the schedule itself, then the
// Nats-Schedule-Next of each message it produced). A timer armed for the
// earliest proposes an opFireSchedules stamped with the time it fired;
// apply fires every schedule due by then and computes repeating ones'
// next firing from that time, so a replay stores the same bytes. The
// produced message and the schedule's removal (or its next firing)
// commit in one batch, so a schedule fires once even across a crash.

const (
	hdrSchedule         = "Nats-Schedule"
	hdrScheduleTZ       = "Nats-Schedule-Time-Zone"
	hdrScheduleTTL      = "Nats-Schedule-TTL"
	hdrScheduleRollup   = "Nats-Schedule-Rollup"
	hdrScheduleTarget   = "Nats-Schedule-Target"
	hdrScheduleSource   = "Nats-Schedule-Source"
	hdrScheduler        = "Nats-Scheduler"
	hdrScheduleNext     = "Nats-Schedule-Next"
	scheduleNextPurge   = "purge"
	hdrExpectedPrefix   = "Nats-Expected-"
	schedulePrefixLower = "nats-schedule"
)

// API errors of message schedules, with nats-server's codes.
func errSchedulesDisabled() *APIError { return &APIError{400, 10188, "message schedules is disabled"} }
func errSchedulePattern() *APIError {
	return &APIError{400, 10189, "message schedules pattern is invalid"}
}
func errScheduleTarget() *APIError {
	return &APIError{400, 10190, "message schedules target is invalid"}
}
func errScheduleTTL() *APIError {
	return &APIError{400, 10191, "message schedules invalid per-message TTL"}
}
func errScheduleRollup() *APIError { return &APIError{400, 10192, "message schedules invalid rollup"} }
func errScheduleSource() *APIError {
	return &APIError{400, 10203, "message schedules source is invalid"}
}
func errScheduler() *APIError { return &APIError{400, 10212, "message schedules invalid scheduler"} }
func errScheduleTZ() *APIError {
	return &APIError{400, 10223, "message schedules time zone is invalid"}
}
func errMirrorWithSchedules() *APIError {
	return &APIError{400, 10186, "stream mirrors can not also schedule messages"}
}
func errSourceWithSchedules() *APIError {
	return &APIError{400, 10187, "stream source can not also schedule messages"}
}

// msgSchedules is a schedule stream's pending schedules by subject.
type msgSchedules struct {
	bySubj map[string]schedEntry
	stampedTimer
}

type schedEntry struct {
	seq uint64 // the schedule message
	at  int64  // next firing, unix nanos
}

// scheduleLocation reads Nats-Schedule-Time-Zone: nil when absent.
func scheduleLocation(hdr []byte) (*time.Location, *APIError) {
	tz := headerValue(hdr, hdrScheduleTZ)
	if tz == nil {
		return nil, nil
	}
	if len(tz) == 0 {
		return nil, errScheduleTZ()
	}
	loc, err := time.LoadLocation(string(tz))
	if err != nil {
		return nil, errScheduleTZ()
	}
	return loc, nil
}

// nextFiring is when the schedule in hdr fires first or next after prev
// (unix nanos), seen at now: zero when hdr holds no schedule. A repeating
// schedule that missed firings (a server that was down) fires once and
// moves on from now, as nats-server does.
func nextFiring(hdr []byte, prev, now int64) (at int64, repeat bool, e *APIError) {
	pattern := headerValue(hdr, hdrSchedule)
	if len(pattern) == 0 {
		return 0, false, nil
	}
	loc, e := scheduleLocation(hdr)
	if e != nil {
		return 0, false, e
	}
	t, repeat, ok := parseSchedule(string(pattern), loc, prev, now)
	if !ok {
		return 0, false, errSchedulePattern()
	}
	return t.UnixNano(), repeat, nil
}

// parseSchedule reads a schedule pattern: "@at <RFC 3339 time>" fires
// once; "@every <duration>" (at least a second) repeats; a cron pattern
// of six fields (seconds first) or one of @yearly, @annually, @monthly,
// @weekly, @daily, @midnight and @hourly repeats in loc (UTC when nil).
// A time zone goes with cron patterns only.
func parseSchedule(pattern string, loc *time.Location, prev, now int64) (time.Time, bool, bool) {
	switch {
	case strings.HasPrefix(pattern, "@at "):
		if loc != nil {
			return time.Time{}, false, false
		}
		t, err := time.Parse(time.RFC3339, pattern[len("@at "):])
		return t, false, err == nil
	case strings.HasPrefix(pattern, "@every "):
		if loc != nil {
			return time.Time{}, false, false
		}
		d, err := time.ParseDuration(pattern[len("@every "):])
		if err != nil || d < time.Second {
			return time.Time{}, false, false
		}
		next := time.Unix(0, prev).UTC().Round(time.Second).Add(d)
		if n := time.Unix(0, now).UTC(); next.Before(n) {
			next = n.Round(time.Second).Add(d)
		}
		return next, true, true
	}
	spec, ok := parseCronSpec(pattern)
	if !ok {
		return time.Time{}, false, false
	}
	if loc == nil {
		loc = time.UTC
	}
	next, ok := spec.after(time.Unix(0, prev).In(loc))
	if ok && next.Before(time.Unix(0, now)) {
		next, ok = spec.after(time.Unix(0, now).In(loc).Round(time.Second))
	}
	return next, true, ok
}

// checkSchedule applies nats-server's rules to a message that carries
// scheduling headers, on a stream that may or may not allow schedules. A
// valid schedule gets a subject rollup (o.Header is rewritten): the
// stream keeps one schedule per subject. Copied messages were checked by
// their origin.
func (s *stream) checkSchedule(o *opPublish) *APIError {
	if o.From != (copied{}) {
		return nil
	}
	hdr := o.Header
	at, _, e := nextFiring(hdr, o.Now, o.Now)
	if e != nil {
		if !s.cfg.AllowSchedules {
			return errSchedulesDisabled()
		}
		return e
	}
	subject := string(o.Subject)
	if at != 0 {
		if e := s.checkScheduleHeaders(hdr, subject); e != nil {
			return e
		}
		switch v := headerValue(hdr, hdrRollup); {
		case v == nil:
			o.Header = replaceHeader(hdr, hdrRollup, rollupValueSub)
		case !strings.EqualFold(string(v), rollupValueSub):
			return errScheduleRollup()
		}
	}
	if next := headerValue(hdr, hdrScheduleNext); len(next) > 0 {
		return s.checkSchedulePurge(hdr, subject, next)
	}
	if len(headerValue(hdr, hdrScheduler)) > 0 {
		return errScheduler() // only with Nats-Schedule-Next
	}
	return nil
}

// checkScheduleHeaders checks the headers that go with a valid pattern.
func (s *stream) checkScheduleHeaders(hdr []byte, subject string) *APIError {
	if !s.cfg.AllowSchedules {
		return errSchedulesDisabled()
	}
	ttl := headerValue(hdr, hdrScheduleTTL)
	if len(ttl) > 0 {
		if _, ok := parseMsgTTL(ttl); !ok {
			return errScheduleTTL()
		}
	}
	if r := headerValue(hdr, hdrScheduleRollup); len(r) > 0 && string(r) != rollupValueSub {
		return errScheduleRollup()
	}
	if len(ttl) > 0 && !s.cfg.AllowMsgTTL {
		return errMsgTTLDisabled()
	}
	target := string(headerValue(hdr, hdrScheduleTarget))
	if target == "" || !validSubject(target) || hasWildcard(target) || target == subject {
		return errScheduleTarget()
	}
	source := string(headerValue(hdr, hdrScheduleSource))
	if source != "" && (source == target || source == subject || !validSubject(source) || hasWildcard(source)) {
		return errScheduleSource()
	}
	if !s.capturesSubject(target) {
		return errScheduleTarget()
	}
	if source != "" && !s.capturesSubject(source) {
		return errScheduleSource()
	}
	return nil
}

// capturesSubject reports whether one of the stream's subjects covers subj.
func (s *stream) capturesSubject(subj string) bool {
	return slices.ContainsFunc(s.cfg.Subjects, func(f string) bool { return subjectsCollide(f, subj) })
}

// checkSchedulePurge checks a message that asks to remove a schedule
// ("Nats-Schedule-Next: purge" with "Nats-Scheduler: <its subject>").
func (s *stream) checkSchedulePurge(hdr []byte, subject string, next []byte) *APIError {
	if string(next) != scheduleNextPurge {
		return errScheduler()
	}
	scheduler := string(headerValue(hdr, hdrScheduler))
	if scheduler == "" || scheduler == subject || !validSubject(scheduler) || hasWildcard(scheduler) {
		return errScheduler()
	}
	if !s.cfg.AllowSchedules {
		return errSchedulesDisabled()
	}
	// A subject holding something other than a schedule is not one to
	// purge; an empty one is let through.
	if ss := s.subjects[scheduler]; ss != nil {
		if m, err := s.st.Reader().Msg(s.id, ss.last); err == nil && len(headerValue(m.Header, hdrSchedule)) == 0 {
			return errScheduler()
		}
	}
	return nil
}

// noteScheduleStored keeps the schedules in line with a message just
// stored (or loaded) on subject: a schedule is added or replaced, a
// message that is neither schedule nor produced by one cancels the
// subject's schedule, and a produced message moves its schedule's next
// firing. With mu held; now is the applying operation's time.
func (s *stream) noteScheduleStored(subject []byte, seq uint64, hdr []byte, ts, now int64) {
	if s.sched == nil {
		s.sched = &msgSchedules{bySubj: map[string]schedEntry{}}
	}
	sc := s.sched
	if at, _, e := nextFiring(hdr, ts, ts); e == nil && at != 0 {
		sc.bySubj[string(subject)] = schedEntry{seq: seq, at: at}
		s.armScheduleAt(at, now)
		return
	}
	scheduler := headerValue(hdr, hdrScheduler)
	if len(scheduler) == 0 {
		delete(sc.bySubj, string(subject))
		return
	}
	next := headerValue(hdr, hdrScheduleNext)
	if string(next) == scheduleNextPurge {
		return
	}
	if t, err := time.Parse(time.RFC3339Nano, string(next)); err == nil {
		if e, ok := sc.bySubj[string(scheduler)]; ok {
			e.at = t.UnixNano()
			sc.bySubj[string(scheduler)] = e
			s.armScheduleAt(e.at, now)
		}
	}
}

// afterScheduleStored purges the schedule a stored message names with
// "Nats-Schedule-Next: purge". With mu held, on the writer goroutine.
func (s *stream) afterScheduleStored(b *store.Batch, hdr []byte) error {
	if string(headerValue(hdr, hdrScheduleNext)) != scheduleNextPurge {
		return nil
	}
	scheduler := string(headerValue(hdr, hdrScheduler))
	if scheduler == "" {
		return nil
	}
	if s.sched != nil {
		delete(s.sched.bySubj, scheduler)
	}
	_, err := s.purge(b, &purgeRequest{Filter: scheduler})
	return err
}

// earliest is the schedule due first: by time, then by sequence.
func (sc *msgSchedules) earliest() (string, schedEntry, bool) {
	var subj string
	var first schedEntry
	for k, e := range sc.bySubj {
		if subj == "" || e.at < first.at || e.at == first.at && e.seq < first.seq {
			subj, first = k, e
		}
	}
	return subj, first, subj != ""
}

// armSchedules arms the timer for the earliest schedule, seen from now.
func (s *stream) armSchedules(now int64) {
	sc := s.sched
	_, e, ok := sc.earliest()
	if !ok {
		if sc.timer != nil {
			sc.timer.Stop()
		}
		sc.armedAt = 0
		return
	}
	s.armScheduleAt(e.at, now)
}

// armScheduleAt arms the timer for a firing at at, unless it is armed for
// one no later: adding a schedule costs no scan of the others.
func (s *stream) armScheduleAt(at, now int64) {
	sc := s.sched
	if sc.armedAt != 0 && sc.armedAt <= at {
		return
	}
	sc.arm(s.svc.clock, at, now, s.onScheduleTimer)
}

// onScheduleTimer proposes the firing of what is due, stamped with the
// time the timer fired, and re-arms on the clock once it is applied.
func (s *stream) onScheduleTimer() {
	applied := s.proposeStamped(func() *stampedTimer {
		if s.sched == nil {
			return nil
		}
		return &s.sched.stampedTimer
	}, func(now int64) operation { return &opFireSchedules{Now: now} })
	if !applied {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sched != nil && !s.deleted {
		s.sched.armedAt = 0 // measured again on the clock, not from the operation's time
		s.armSchedules(s.svc.clock.Now().UnixNano())
	}
}

// applyFireSchedules fires every schedule due by o.Now, in the order of
// the schedules' sequences.
func (s *stream) applyFireSchedules(b *store.Batch, o *opFireSchedules) error {
	s.lockApply()
	defer s.mu.Unlock()
	if s.deleted || s.sched == nil {
		return nil
	}
	type due struct {
		subj string
		schedEntry
	}
	var fire []due
	for subj, e := range s.sched.bySubj {
		if e.at <= o.Now {
			fire = append(fire, due{subj, e})
		}
	}
	slices.SortFunc(fire, func(a, b due) int { return cmpUint(a.seq, b.seq) })
	for _, d := range fire {
		if err := s.fireSchedule(b, d.subj, d.schedEntry, o.Now); err != nil {
			return err
		}
	}
	return nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// fireSchedule stores the message schedule e (on subject subj) produces
// at now, and removes the schedule or moves it to its next firing.
func (s *stream) fireSchedule(b *store.Batch, subj string, e schedEntry, now int64) error {
	r := b.Reader()
	m, err := r.Msg(s.id, e.seq)
	if err != nil {
		delete(s.sched.bySubj, subj) // removed meanwhile
		return nil
	}
	next, repeat, apiE := nextFiring(m.Header, e.at, now)
	target := string(headerValue(m.Header, hdrScheduleTarget))
	if apiE != nil || next == 0 || target == "" {
		delete(s.sched.bySubj, subj)
		return nil
	}
	ttl, rollup := headerValue(m.Header, hdrScheduleTTL), headerValue(m.Header, hdrScheduleRollup)
	content := m
	if src := string(headerValue(m.Header, hdrScheduleSource)); src != "" {
		if ss := s.subjects[src]; ss != nil {
			if sm, err := r.Msg(s.id, ss.last); err == nil {
				content = sm
			}
		}
	}
	loc, _ := scheduleLocation(m.Header) // checked by nextFiring
	if loc == nil {
		loc = time.UTC
	}
	hdr := producedHeader(content.Header, subj, repeat, time.Unix(0, next).In(loc), ttl, rollup)
	return s.storeProduced(b, []byte(target), hdr, bytes.Clone(content.Data), now)
}

// producedHeader is the header block of a schedule's produced message:
// the content's headers without the scheduling, expectation, id, TTL and
// rollup ones, then where it came from and what happens next.
//
// The next firing is written in the schedule's time zone, as nats-server
// writes it.
func producedHeader(content []byte, scheduler string, repeat bool, next time.Time, ttl, rollup []byte) []byte {
	out := appendHeadersExcept([]byte(hdrPreamble+"\r\n"), content, func(b []byte, named bool) bool {
		if !named {
			return true
		}
		name := strings.ToLower(string(b))
		return strings.HasPrefix(name, schedulePrefixLower) || strings.HasPrefix(name, strings.ToLower(hdrExpectedPrefix)) ||
			name == strings.ToLower(hdrMsgID) || name == strings.ToLower(hdrTTL) || name == strings.ToLower(hdrRollup)
	})
	add := func(k, v string) { out = appendHeader(out, k, v) }
	add(hdrScheduler, scheduler)
	if repeat {
		add(hdrScheduleNext, next.Format(time.RFC3339Nano))
	} else {
		add(hdrScheduleNext, scheduleNextPurge)
	}
	if len(ttl) > 0 {
		add(hdrTTL, string(ttl))
	}
	if len(rollup) > 0 {
		add(hdrRollup, string(rollup))
	}
	return append(out, "\r\n"...)
}

// storeProduced stores a schedule's produced message as the stream's next
// message, with the rollup, TTL, limits and schedule effects a publish of
// it would have, and queues the wake-up of its consumers.
func (s *stream) storeProduced(b *store.Batch, subject, hdr, data []byte, now int64) error {
	var replaced []*store.Msg
	if bytes.EqualFold(headerValue(hdr, hdrRollup), []byte(rollupValueSub)) {
		var err error
		if replaced, err = s.subjectMsgs(b.Reader(), subject); err != nil {
			return err
		}
	}
	if now <= s.state.lastTime {
		now = s.state.lastTime + 1
	}
	var ttl int64
	if s.cfg.AllowMsgTTL {
		hdr, ttl = s.stampTTL(hdr)
	}
	msg := &store.Msg{Seq: s.state.last + 1, Time: now, Subject: subject, Header: hdr, Data: data}
	if err := b.PutMsg(s.id, msg); err != nil {
		return err
	}
	prev := s.lastSeqOf(subject)
	s.noteAdded(subject, msg.Seq, now, msg.Size())
	if ttl > 0 {
		s.trackTTL(msg.Seq, now, ttl, now)
	}
	if err := s.rollupAfter(b, replaced); err != nil {
		return err
	}
	s.noteScheduleStored(subject, msg.Seq, hdr, now, now)
	if err := s.afterScheduleStored(b, hdr); err != nil {
		return err
	}
	s.madeMsg(msg, prev)
	if s.cfg.Retention == RetentionInterest && !s.wantedByConsumer(subject) {
		// As a publish nobody is interested in: the sequence is used, the
		// message dropped.
		if err := s.removeMsg(b, msg); err != nil {
			return err
		}
	}
	return s.enforceLimits(b, subject)
}

// resetSchedules forgets every schedule, before the stream is loaded again.
func (s *stream) resetSchedules() {
	if s.sched == nil {
		return
	}
	clear(s.sched.bySubj)
	s.sched.armedAt = 0
	if s.sched.timer != nil {
		s.sched.timer.Stop()
	}
}

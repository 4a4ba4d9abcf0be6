package stream

import "time"

// stampedTimer is a stream timer whose firing proposes an operation
// stamped with the clock's time: per-message TTLs (ttl.go) and message
// schedules (schedule.go). Apply reads no clock, so the time is decided
// here, outside the state machine.
type stampedTimer struct {
	timer   Timer
	armedAt int64 // deadline the timer is armed for; 0 when idle
}

// arm sets the timer for deadline at, seen from now; fire runs when it
// goes off.
func (t *stampedTimer) arm(c Clock, at, now int64, fire func()) {
	t.armedAt = at
	d := max(time.Duration(at-now), time.Millisecond)
	if t.timer == nil {
		t.timer = c.AfterFunc(d, fire)
		return
	}
	t.timer.Reset(d)
}

// proposeStamped is what a stamped timer does when it fires: it forgets
// the deadline it was armed for (which returns the timer, nil once the
// stream dropped it; called under s.mu), proposes the operation mk makes
// from the clock's time and waits for it. It reports whether the
// operation was applied, so that the caller re-arms from the clock.
func (s *stream) proposeStamped(which func() *stampedTimer, mk func(now int64) operation) bool {
	s.mu.Lock()
	if t := which(); t != nil {
		t.armedAt = 0
	}
	deleted := s.deleted
	s.mu.Unlock()
	if deleted || s.svc.closing.Load() {
		return false
	}
	op := &streamOp{s: s, enc: encodeOp(nil, "", mk(s.svc.clock.Now().UnixNano())), done: make(chan error, 1)}
	s.st.Submit(op)
	return <-op.done == nil
}

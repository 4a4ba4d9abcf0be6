package stream

import (
	"sort"
	"sync"
	"time"
)

// FakeClock is a Clock that moves only when told to. Tests hand it to
// Options.Clock and call Advance where they would otherwise sleep: timers
// due by the new time fire in deadline order before Advance returns, each
// seeing Now at its own deadline. It is production code (as an in-memory
// store would be) so that any user of the package can test with it.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64 // orders timers with equal deadlines by creation
	timers map[*fakeTimer]struct{}
}

// NewFakeClock returns a FakeClock reading start.
func NewFakeClock(start time.Time) *FakeClock {
	return &FakeClock{now: start, timers: map[*fakeTimer]struct{}{}}
}

// Now returns the clock's current time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc arranges for f to run when the clock has been advanced by d.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) Timer {
	t := &fakeTimer{c: c, f: f}
	t.Reset(d)
	return t
}

// Advance moves the clock forward by d, running every timer that falls
// due on the way, in deadline order. Timer functions run on the caller's
// goroutine without the clock's lock, so they may read the clock and
// re-arm timers; a timer re-armed within the window fires again.
func (c *FakeClock) Advance(d time.Duration) {
	d = max(d, 0) // time never runs backwards
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		t := c.nextDueLocked(end)
		if t == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		if t.at.After(c.now) {
			c.now = t.at
		}
		delete(c.timers, t)
		c.mu.Unlock()
		t.f()
	}
}

// Set moves the clock to t if t is later than now, as Advance does; a
// t not later than now still runs the timers already due.
func (c *FakeClock) Set(t time.Time) { c.Advance(t.Sub(c.Now())) }

// Next returns the deadline of the earliest armed timer, if any. A test
// that must see each timer's work finish before the next fires steps the
// clock with Next and Set instead of one long Advance.
func (c *FakeClock) Next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first time.Time
	for t := range c.timers {
		if first.IsZero() || t.at.Before(first) {
			first = t.at
		}
	}
	return first, !first.IsZero()
}

// Pending returns how many timers are armed.
func (c *FakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// nextDueLocked returns the armed timer with the earliest deadline not
// after end, or nil.
func (c *FakeClock) nextDueLocked(end time.Time) *fakeTimer {
	due := make([]*fakeTimer, 0, len(c.timers))
	for t := range c.timers {
		if !t.at.After(end) {
			due = append(due, t)
		}
	}
	if len(due) == 0 {
		return nil
	}
	sort.Slice(due, func(i, j int) bool {
		if !due[i].at.Equal(due[j].at) {
			return due[i].at.Before(due[j].at)
		}
		return due[i].seq < due[j].seq
	})
	return due[0]
}

// fakeTimer is one AfterFunc of a FakeClock.
type fakeTimer struct {
	c   *FakeClock
	f   func()
	at  time.Time
	seq uint64
}

// Stop disarms the timer, reporting whether it was armed.
func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, armed := t.c.timers[t]
	delete(t.c.timers, t)
	return armed
}

// Reset re-arms the timer to fire d after the clock's now, reporting
// whether it was armed.
func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, armed := t.c.timers[t]
	t.c.seq++
	t.at, t.seq = t.c.now.Add(d), t.c.seq
	t.c.timers[t] = struct{}{}
	return armed
}

package stream

import "time"

// Clock is the stream layer's only source of time. Everything that reads
// the time or waits for it (message timestamps, expiry by max_age, the
// duplicate window, ack_wait and backoff, pull request expiry, idle
// heartbeats, pauses, inactivity) goes through the Clock in
// Options.Clock, so tests move time with a FakeClock instead of sleeping,
// and a replicated stream can take its time from the operations it applies
// rather than from each machine's clock.
//
// The store's own timers (the fsync interval, the disk watch) are not
// here: they decide when bytes reach the disk, never what the state is.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed, as
	// time.AfterFunc does.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending call from Clock.AfterFunc. Stop and Reset behave as
// time.Timer's do (*time.Timer satisfies it).
type Timer interface {
	Stop() bool
	Reset(d time.Duration) bool
}

// RealClock is the wall clock; it is the default.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// AfterFunc returns time.AfterFunc(d, f).
func (RealClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// untilOn is the time left from the clock's now to t (negative when past).
func untilOn(c Clock, t time.Time) time.Duration { return t.Sub(c.Now()) }

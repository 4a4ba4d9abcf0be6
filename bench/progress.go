package bench

import (
	"fmt"
	"sync/atomic"
	"time"
)

// progress counts the measured phase of one run: the work done of its
// total, against its time cap. Scenarios call add from any goroutine; the
// status line (status.go) reads it to draw and to estimate the time left.
type progress struct {
	total    int64
	start    time.Time
	deadline time.Time
	done     atomic.Int64
}

func newProgress(total int64, start, deadline time.Time) *progress {
	return &progress{total: total, start: start, deadline: deadline}
}

func (p *progress) add(n int64) { p.done.Add(n) }

// rate is the work done per second since the phase began.
func (p *progress) rate(now time.Time) float64 {
	if elapsed := now.Sub(p.start).Seconds(); elapsed > 0 {
		return float64(p.done.Load()) / elapsed
	}
	return 0
}

// left is how long the phase should still take at its rate so far, and
// never beyond its time cap. With its count done it is 0: what is left
// (deliveries in flight, a final flush) is short.
func (p *progress) left(now time.Time) time.Duration {
	left := p.deadline.Sub(now)
	done := p.done.Load()
	if p.total > 0 && done >= p.total {
		return 0
	}
	if rate := p.rate(now); rate > 0 && p.total > done {
		if byRate := time.Duration(float64(p.total-done) / rate * float64(time.Second)); byRate < left {
			left = byRate
		}
	}
	return max(left, 0)
}

// line formats the phase at now: "120k/200k  1.2M/s".
func (p *progress) line(now time.Time) string {
	return fmt.Sprintf("%s/%s  %s/s", si(float64(p.done.Load())), si(float64(p.total)), si(p.rate(now)))
}

// si formats a number with a k/M/G suffix, three significant digits.
func si(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.3gG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.3gk", v/1e3)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

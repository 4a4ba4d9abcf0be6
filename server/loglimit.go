package server

import (
	"sync"
	"time"
)

// logLimiter lets at most one line of its kind into the log a second and
// counts those it holds back, so that a client hammering the server (bad
// passwords, garbage on the port, one connection after another) cannot
// flood the log. The next line that goes out says how many were held back.
type logLimiter struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether a line may be logged at now and, when it may, how
// many lines were held back since the previous one.
func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < time.Second {
		l.suppressed++
		return false, 0
	}
	suppressed = l.suppressed
	l.last, l.suppressed = now, 0
	return true, suppressed
}

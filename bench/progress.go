package bench

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// progressEvery is how often the live line is redrawn.
const progressEvery = 250 * time.Millisecond

// progress draws one live line, "\r"-rewritten, with the work done, the
// rate and the time left. With a nil writer it only counts: scenarios call
// add unconditionally and the caller decides, by passing a writer only for
// a terminal, whether anyone sees it.
type progress struct {
	w        io.Writer
	label    string
	total    int64
	start    time.Time
	deadline time.Time
	done     atomic.Int64
	stop     chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
}

func newProgress(w io.Writer, label string, total int64, deadline time.Time) *progress {
	p := &progress{w: w, label: label, total: total, start: time.Now(), deadline: deadline, stop: make(chan struct{})}
	if w != nil {
		p.wg.Add(1)
		go p.loop()
	}
	return p
}

func (p *progress) add(n int64) { p.done.Add(n) }

// finish stops the redraws and clears the line. Safe to call twice.
func (p *progress) finish() {
	p.once.Do(func() {
		close(p.stop)
		p.wg.Wait()
		if p.w != nil {
			fmt.Fprint(p.w, "\r\033[K")
		}
	})
}

func (p *progress) loop() {
	defer p.wg.Done()
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			fmt.Fprint(p.w, "\r\033[K"+p.line(now))
		}
	}
}

// line formats the progress at now: "pub wisp  120000/200000  1.2M/s  0.1s left".
func (p *progress) line(now time.Time) string {
	done := p.done.Load()
	elapsed := now.Sub(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed
	}
	left := time.Until(p.deadline)
	if rate > 0 && p.total > done {
		if byRate := time.Duration(float64(p.total-done) / rate * float64(time.Second)); byRate < left {
			left = byRate
		}
	}
	left = max(left, 0)
	return fmt.Sprintf("%-22s %d/%d  %s/s  %.1fs left", p.label, done, p.total, si(rate), left.Seconds())
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

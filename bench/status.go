package bench

import (
	"fmt"
	"io"
	"sync"
	"time"
	"unicode/utf8"
)

// progressEvery is how often the status line is redrawn.
const progressEvery = 250 * time.Millisecond

// statusWidth bounds the status line: a line longer than the terminal
// wraps, and "\r" then rewrites only its last row.
const statusWidth = 79

// plannedRun is one entry of the run order.
type plannedRun struct {
	scenario string
	target   string
	ti       int // index of the target
	run      int // 1-based
}

// status draws the live line of a whole invocation on a terminal: which
// scenario of how many, the progress of the current run's measured phase,
// the time elapsed and an estimate of the time left. With a nil writer it
// draws nothing and starts nothing: the caller passes a writer only for a
// terminal, and without --quiet.
//
// The estimate: each run still to come is expected to take as long as
// the finished runs of its scenario took on average, or, for a scenario
// not yet seen, as long as all finished runs took on average; the current
// run is expected to take as long as its scenario's estimate, or, in its
// measured phase, until its count is done at the rate so far. Before any
// run has finished and before the first measured phase, there is no
// estimate.
type status struct {
	w         io.Writer
	plan      []plannedRun
	scenarios []string // distinct, in run order
	runs      int      // runs per scenario and target
	targets   int

	mu       sync.Mutex
	start    time.Time
	k        int // index in plan of the current run; -1 before the first
	runStart time.Time
	stage    string    // "setting up", "checking": shown outside the measured phase
	phase    *progress // the current run's measured phase, nil outside it
	took     map[string][]time.Duration
	all      []time.Duration

	stop chan struct{}
	wg   sync.WaitGroup
}

func newStatus(w io.Writer, plan []plannedRun, runs, targets int, now time.Time) *status {
	s := &status{w: w, plan: plan, runs: runs, targets: targets, start: now, k: -1,
		took: map[string][]time.Duration{}, stop: make(chan struct{})}
	for _, p := range plan {
		if !contains(s.scenarios, p.scenario) {
			s.scenarios = append(s.scenarios, p.scenario)
		}
	}
	if w != nil {
		s.wg.Add(1)
		go s.loop()
	}
	return s
}

// startRun marks plan[k] as the run in progress.
func (s *status) startRun(k int, now time.Time) {
	s.mu.Lock()
	s.k, s.runStart, s.stage, s.phase = k, now, "setting up", nil
	s.draw(now)
	s.mu.Unlock()
}

// measuring marks the start (p non-nil) or the end (nil) of the current
// run's measured phase.
func (s *status) measuring(p *progress) {
	s.mu.Lock()
	s.phase = p
	if p == nil {
		s.stage = "checking"
	}
	s.mu.Unlock()
}

// endRun records how long the current run took, for the estimates.
func (s *status) endRun(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.k < 0 {
		return
	}
	d := now.Sub(s.runStart)
	sc := s.plan[s.k].scenario
	s.took[sc] = append(s.took[sc], d)
	s.all = append(s.all, d)
	s.phase = nil
}

// print writes text, a finished run's log line, to log: the status line
// is cleared first and redrawn after, so the two do not mix.
func (s *status) print(log io.Writer, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w != nil {
		fmt.Fprint(s.w, "\r\033[K")
	}
	fmt.Fprint(log, text)
	s.draw(time.Now())
}

// close stops the redraws and clears the line. Safe to call twice.
func (s *status) close() {
	s.mu.Lock()
	select {
	case <-s.stop:
		s.mu.Unlock()
		return
	default:
		close(s.stop)
	}
	s.mu.Unlock()
	s.wg.Wait()
	if s.w != nil {
		fmt.Fprint(s.w, "\r\033[K")
	}
}

func (s *status) loop() {
	defer s.wg.Done()
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.mu.Lock()
			s.draw(now)
			s.mu.Unlock()
		}
	}
}

// draw rewrites the line; s.mu is held.
func (s *status) draw(now time.Time) {
	if s.w == nil || s.k < 0 {
		return
	}
	select {
	case <-s.stop:
		return
	default:
	}
	fmt.Fprint(s.w, "\r\033[K"+s.line(now))
}

// line formats the status at now, e.g.
// "[3/11] reqrep  4.2k/20k  15.9k/s  12s elapsed, about 40s left";
// s.mu is held.
func (s *status) line(now time.Time) string {
	cur := s.plan[s.k]
	text := fmt.Sprintf("[%d/%d] %s", indexOf(s.scenarios, cur.scenario)+1, len(s.scenarios), cur.scenario)
	if s.targets > 1 {
		text += " " + cur.target
	}
	if s.runs > 1 {
		text += fmt.Sprintf(" run %d/%d", cur.run, s.runs)
	}
	if s.phase != nil {
		text += "  " + s.phase.line(now)
	} else {
		text += "  " + s.stage
	}
	text += "  " + clock(now.Sub(s.start)) + " elapsed"
	if left, ok := s.left(now); ok {
		text += ", about " + clock(left) + " left"
	}
	if utf8.RuneCountInString(text) > statusWidth {
		text = string([]rune(text)[:statusWidth])
	}
	return text
}

// left estimates the time until the last run ends (see the type's
// comment); ok is false when there is nothing to go on yet. s.mu is held.
func (s *status) left(now time.Time) (time.Duration, bool) {
	if s.k < 0 {
		return 0, false
	}
	sinceRun := now.Sub(s.runStart)
	fallback, known := mean(s.all), len(s.all) > 0
	if !known && s.phase != nil && s.phase.rate(now) > 0 {
		fallback, known = sinceRun+s.phase.left(now), true
	}
	estimate := func(scenario string) (time.Duration, bool) {
		if took := s.took[scenario]; len(took) > 0 {
			return mean(took), true
		}
		return fallback, known
	}
	var left time.Duration
	if s.phase != nil && s.phase.rate(now) > 0 {
		left = s.phase.left(now)
	} else if est, ok := estimate(s.plan[s.k].scenario); ok {
		left = max(est-sinceRun, 0)
	} else {
		return 0, false
	}
	for _, p := range s.plan[s.k+1:] {
		est, ok := estimate(p.scenario)
		if !ok {
			return 0, false
		}
		left += est
	}
	return left, true
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

func indexOf(xs []string, x string) int {
	for i, y := range xs {
		if y == x {
			return i
		}
	}
	return -1
}

// clock formats a duration for the status line: "7s", "2m05s", "1h02m".
func clock(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

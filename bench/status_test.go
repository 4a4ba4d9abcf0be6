package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestStatusEstimate walks a plan of two scenarios, two runs each, on a
// made-up clock and checks the estimate of the time left at each step.
func TestStatusEstimate(t *testing.T) {
	plan := []plannedRun{{"a", "wisp", 0, 1}, {"a", "wisp", 0, 2}, {"b", "wisp", 0, 1}, {"b", "wisp", 0, 2}}
	t0 := time.Unix(1_000_000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	s := newStatus(nil, plan, 2, 1, t0)
	defer s.close()
	expect := func(now time.Time, want time.Duration, wantOK bool) {
		t.Helper()
		got, ok := s.left(now)
		if ok != wantOK || got != want {
			t.Errorf("left at +%v = %v, %v; want %v, %v", now.Sub(t0), got, ok, want, wantOK)
		}
	}
	expect(t0, 0, false) // nothing started

	s.startRun(0, t0)
	expect(at(time.Second), 0, false) // setting up, nothing to go on

	// The first measured phase: 50 of 100 in its first second, so 1 s to
	// go; this run is expected to take 3 s, and so is each of the 3 others.
	p := newProgress(100, at(time.Second), at(11*time.Second))
	p.add(50)
	s.measuring(p)
	expect(at(2*time.Second), time.Second+3*3*time.Second, true)
	s.measuring(nil)
	s.endRun(at(4 * time.Second)) // a took 4 s

	// a's second run: 4 s expected, 1 s gone; b unseen: 4 s each.
	s.startRun(1, at(4*time.Second))
	expect(at(5*time.Second), 3*time.Second+2*4*time.Second, true)
	s.endRun(at(6 * time.Second)) // a took 2 s: a averages 3 s

	s.startRun(2, at(6*time.Second))
	expect(at(6*time.Second), 3*time.Second+3*time.Second, true)
	s.endRun(at(16 * time.Second)) // b took 10 s

	// b's last run: b's own 10 s, 1 s gone.
	s.startRun(3, at(16*time.Second))
	expect(at(17*time.Second), 9*time.Second, true)
	// Overrunning the estimate gives 0, not a negative time.
	expect(at(40*time.Second), 0, true)
}

// TestProgressLeft: the measured phase ends when its count is done at
// the rate so far, but never after its time cap.
func TestProgressLeft(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	p := newProgress(1000, t0, t0.Add(10*time.Second))
	p.add(250)
	if got := p.left(t0.Add(time.Second)); got != 3*time.Second {
		t.Errorf("left %v, want 3s by the rate", got)
	}
	if got := p.line(t0.Add(time.Second)); got != "250/1k  250/s" {
		t.Errorf("line %q", got)
	}
	p.add(750)
	if got := p.left(t0.Add(2 * time.Second)); got != 0 {
		t.Errorf("left %v with the count done, want 0", got)
	}
	slow := newProgress(1_000_000, t0, t0.Add(10*time.Second))
	slow.add(1)
	if got := slow.left(t0.Add(time.Second)); got != 9*time.Second {
		t.Errorf("left %v, want the 9s to the cap", got)
	}
	if got := slow.left(t0.Add(time.Minute)); got != 0 {
		t.Errorf("left %v after the cap", got)
	}
}

// TestStatusLine: scenario k of n, the target when comparing, the run
// when repeating, the phase's progress, elapsed and left; never wider
// than statusWidth.
func TestStatusLine(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	plan := []plannedRun{{"pub", "wisp", 0, 1}, {"pub", "nats-server", 1, 1}, {"reqrep", "wisp", 0, 1}, {"reqrep", "nats-server", 1, 1}}
	s := newStatus(nil, plan, 1, 2, t0)
	defer s.close()
	s.startRun(0, t0)
	s.endRun(t0.Add(2 * time.Second))
	s.startRun(1, t0.Add(2*time.Second))
	got := s.line(t0.Add(3 * time.Second))
	if want := "[1/2] pub nats-server  setting up  3s elapsed, about 5s left"; got != want {
		t.Errorf("line %q\nwant %q", got, want)
	}
	p := newProgress(20_000, t0.Add(3*time.Second), t0.Add(13*time.Second))
	p.add(4_200)
	s.measuring(p)
	got = s.line(t0.Add(4 * time.Second))
	if want := "[1/2] pub nats-server  4.2k/20k  4.2k/s  4s elapsed, about 8s left"; got != want {
		t.Errorf("line %q\nwant %q", got, want)
	}

	long := newStatus(nil, []plannedRun{{"js-pub-async", "nats-server-with-a-long-name", 1, 3}}, 3, 2, t0)
	defer long.close()
	long.startRun(0, t0)
	if got := long.line(t0.Add(time.Hour + 2*time.Minute)); len([]rune(got)) > statusWidth || !strings.Contains(got, "[1/1] js-pub-async nats-server-with-a-long-name run 3/3") {
		t.Errorf("line %q (%d runes)", got, len([]rune(got)))
	}

	for d, want := range map[time.Duration]string{7 * time.Second: "7s", 125 * time.Second: "2m05s", time.Hour + 2*time.Minute + 40*time.Second: "1h02m"} {
		if got := clock(d); got != want {
			t.Errorf("clock(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestStatusWrites: with a writer, the line is drawn at once, cleared
// before each log line and redrawn after it, and cleared at the end; with
// none, nothing but the log line is written anywhere.
func TestStatusWrites(t *testing.T) {
	var term syncBuffer
	var log bytes.Buffer
	plan := []plannedRun{{"pub", "wisp", 0, 1}}
	s := newStatus(&term, plan, 1, 1, time.Now())
	s.startRun(0, time.Now())
	s.print(&log, "pub run 1: done\n")
	s.close()
	s.close()
	out := term.String()
	if !strings.HasPrefix(out, "\r\033[K[1/1] pub  setting up") || !strings.HasSuffix(out, "\r\033[K") ||
		strings.Count(out, "[1/1] pub") < 2 || log.String() != "pub run 1: done\n" {
		t.Errorf("terminal %q, log %q", out, log.String())
	}

	log.Reset()
	quiet := newStatus(nil, plan, 1, 1, time.Now())
	quiet.startRun(0, time.Now())
	quiet.print(&log, "pub run 1: done\n")
	quiet.close()
	if log.String() != "pub run 1: done\n" {
		t.Errorf("log %q", log.String())
	}
}

// TestRunProgress: a run draws its status line on Config.Progress and
// clears it before returning; without Progress, the log gets plain lines.
func TestRunProgress(t *testing.T) {
	var term syncBuffer
	var log bytes.Buffer
	cfg := quick("pub", "pubsub")
	cfg.Progress, cfg.Log = &term, &log
	run(t, cfg)
	out := term.String()
	for _, want := range []string{"[1/2] pub", "[2/2] pubsub", "elapsed"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output %q lacks %q", out, want)
		}
	}
	if !strings.HasSuffix(out, "\r\033[K") {
		t.Errorf("status line not cleared at the end: %q", out)
	}

	log.Reset()
	cfg = quick("pub")
	cfg.Log = &log
	run(t, cfg)
	if strings.ContainsAny(log.String(), "\r\033") || !strings.Contains(log.String(), "pub") {
		t.Errorf("log without a terminal %q", log.String())
	}
}

package bench

import (
	"fmt"
	"math"
	"time"
)

// A measured phase shorter than minMeasured is mostly timer resolution,
// scheduler noise and warm-up: its rate, and its CPU figure (counted in
// 10 ms ticks), say little. The report warns about it and names the flag
// that makes the phase last about aimMeasured at the rate it just saw.
const (
	minMeasured = time.Second
	aimMeasured = 2 * time.Second
)

// shortWarning returns the warning for a scenario whose measured phase
// lasted seconds, or "" when it lasted long enough (or was not measured).
// capped says the time cap ended the phase; st gives the flags to suggest.
func shortWarning(scenario string, seconds float64, capped bool, st Settings) string {
	if seconds <= 0 || seconds >= minMeasured.Seconds() {
		return ""
	}
	took := time.Duration(seconds * float64(time.Second)).Round(time.Millisecond)
	head := fmt.Sprintf("measured phase lasted %v (under %v): its figures are noise", took, minMeasured)
	if capped {
		return fmt.Sprintf("%s; the time cap ended it: lengthen it with --duration %v", head, aimMeasured+time.Second)
	}
	flag, now, most := "--msgs", st.Msgs, maxMsgs
	if scenario == "conn" {
		flag, now, most = "--conns", st.Conns, maxConns
	}
	want := roundUp2(float64(now) * aimMeasured.Seconds() / seconds)
	hint := fmt.Sprintf("lengthen it with %s %d (about %v at this rate)", flag, want, aimMeasured)
	if want > most {
		hint = fmt.Sprintf("%s cannot lengthen it enough (at most %d): use --runs 5 to take a median", flag, most)
	}
	if d, err := time.ParseDuration(st.Duration); err == nil && d < aimMeasured+time.Second && want <= most {
		hint += fmt.Sprintf(" and --duration %v", aimMeasured+time.Second)
	}
	return head + "; " + hint
}

// roundUp2 rounds v up to two significant digits: 6_512_345 -> 6_600_000,
// so a suggested count is easy to read and type.
func roundUp2(v float64) int {
	if v <= 0 {
		return 0
	}
	unit := math.Pow(10, math.Floor(math.Log10(v))-1)
	if unit < 1 {
		unit = 1
	}
	return int(math.Ceil(v/unit) * unit)
}

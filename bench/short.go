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
	aimWhy      = "about 2s at this rate" // says aimMeasured
)

// shortPhase is a measured phase that lasted under minMeasured, and the
// flags that would lengthen it.
type shortPhase struct {
	took  time.Duration
	flags string // e.g. "--msgs 4000000", "--duration 3s", "--runs 5"
	why   string // e.g. "about 2s at this rate", "the time cap ended it"
}

// checkShort reports whether a scenario whose measured phase lasted
// seconds was too short to trust (a phase not measured, 0 s, is not),
// and what to do about it. capped says the time cap ended the phase; st
// gives the flags in use.
func checkShort(scenario string, seconds float64, capped bool, st Settings) (shortPhase, bool) {
	if seconds <= 0 || seconds >= minMeasured.Seconds() {
		return shortPhase{}, false
	}
	p := shortPhase{took: time.Duration(seconds * float64(time.Second)).Round(time.Millisecond)}
	longer := aimMeasured + time.Second // a cap that leaves room for aimMeasured
	if capped {
		p.flags, p.why = fmt.Sprintf("--duration %v", longer), "the time cap ended it"
		return p, true
	}
	flag, now, most := "--msgs", st.Msgs, maxMsgs
	if scenario == "conn" {
		flag, now, most = "--conns", st.Conns, maxConns
	}
	want := roundUp2(float64(now) * aimMeasured.Seconds() / seconds)
	p.why = aimWhy
	if want > most {
		at := seconds * float64(most) / float64(now)
		if at < minMeasured.Seconds() {
			p.flags, p.why = "--runs 5", fmt.Sprintf("%s cannot lengthen it enough (at most %d): take a median", flag, most)
			return p, true
		}
		want, p.why = most, fmt.Sprintf("the most %s allows: about %.1fs at this rate", flag, at)
	}
	p.flags = fmt.Sprintf("%s %d", flag, want)
	if d, err := time.ParseDuration(st.Duration); err == nil && d < longer {
		p.flags += fmt.Sprintf(" --duration %v", longer)
	}
	return p, true
}

// String is the warning as one sentence, for stderr, the JSON and HTML.
func (p shortPhase) String() string {
	return fmt.Sprintf("measured phase lasted %v (under %v): its figures are noise; run it again with %s (%s)",
		p.took, minMeasured, p.flags, p.why)
}

// shortWarning is checkShort as a sentence, "" when the phase was long
// enough.
func shortWarning(scenario string, seconds float64, capped bool, st Settings) string {
	if p, ok := checkShort(scenario, seconds, capped, st); ok {
		return p.String()
	}
	return ""
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

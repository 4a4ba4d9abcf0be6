package stream

import (
	"strconv"
	"strings"
	"time"
)

// cronSpec is a parsed six-field cron pattern, the form message schedules
// use: seconds, minutes, hours, day of month, month, day of week. Each
// field is a set of allowed values as bits. A field is "*" (or "?"), a
// value, a range a-b, a list of those separated by commas,
// each optionally with a step /n; months and weekdays may be named (JAN,
// SUN). As in classic cron, a day matches when both day fields allow it,
// unless both are restricted, in which case either may.
type cronSpec struct {
	sec, min, hour, dom, month, dow uint64
	domAny, dowAny                  bool
}

type cronField struct {
	lo, hi int
	names  []string
}

var cronFields = [6]cronField{
	{0, 59, nil}, {0, 59, nil}, {0, 23, nil}, {1, 31, nil},
	{1, 12, []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{0, 6, []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

// cronAliases are the predefined patterns.
var cronAliases = map[string]string{
	"@yearly": "0 0 0 1 1 *", "@annually": "0 0 0 1 1 *", "@monthly": "0 0 0 1 * *",
	"@weekly": "0 0 0 * * 0", "@daily": "0 0 0 * * *", "@midnight": "0 0 0 * * *", "@hourly": "0 0 * * * *",
}

// parseCronSpec parses a pattern; ok is false for anything malformed.
func parseCronSpec(pattern string) (cronSpec, bool) {
	if alias, ok := cronAliases[pattern]; ok {
		pattern = alias
	}
	fields := strings.Fields(pattern)
	if len(fields) != 6 {
		return cronSpec{}, false
	}
	var sets [6]uint64
	for i, f := range fields {
		set, ok := parseCronField(f, cronFields[i])
		if !ok {
			return cronSpec{}, false
		}
		sets[i] = set
	}
	return cronSpec{sec: sets[0], min: sets[1], hour: sets[2], dom: sets[3], month: sets[4], dow: sets[5],
		domAny: isCronAny(fields[3]), dowAny: isCronAny(fields[5])}, true
}

func isCronAny(f string) bool { return f == "*" || f == "?" }

// parseCronField parses one field into its set of values.
func parseCronField(f string, d cronField) (uint64, bool) {
	var set uint64
	for _, part := range strings.Split(f, ",") {
		rng, stepStr, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n <= 0 || n > d.hi-d.lo+1 {
				return 0, false
			}
			step = n
		}
		var lo, hi int
		switch {
		case rng == "*" || rng == "?":
			lo, hi = d.lo, d.hi
		default:
			a, b, isRange := strings.Cut(rng, "-")
			var ok bool
			if lo, ok = cronValue(a, d); !ok {
				return 0, false
			}
			hi = lo
			if isRange {
				if hi, ok = cronValue(b, d); !ok || hi < lo {
					return 0, false
				}
			} else if hasStep {
				hi = d.hi // "a/n": from a to the end
			}
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << uint(v)
		}
	}
	return set, set != 0
}

// cronValue reads a number or a name within the field's bounds.
func cronValue(s string, d cronField) (int, bool) {
	for i, n := range d.names {
		if strings.EqualFold(s, n) {
			return d.lo + i, true
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < d.lo || v > d.hi {
		return 0, false
	}
	return v, true
}

// dayMatches reports whether t's day is allowed.
func (c *cronSpec) dayMatches(t time.Time) bool {
	dom := c.dom&(1<<uint(t.Day())) != 0
	dow := c.dow&(1<<uint(t.Weekday())) != 0
	if c.domAny || c.dowAny {
		return dom && dow
	}
	return dom || dow
}

// after returns the first time the pattern allows strictly after t, in
// t's location; ok is false if none comes within five years (a 30th of
// February).
func (c *cronSpec) after(t time.Time) (time.Time, bool) {
	loc := t.Location()
	t = t.Truncate(time.Second).Add(time.Second)
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		var next time.Time
		switch {
		case c.month&(1<<uint(t.Month())) == 0:
			next = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc)
		case !c.dayMatches(t):
			next = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
		case c.hour&(1<<uint(t.Hour())) == 0:
			// Forward on the absolute clock: a local hour named through
			// time.Date may not exist on a daylight saving change.
			next = t.Add(time.Duration(60-t.Minute())*time.Minute - time.Duration(t.Second())*time.Second)
		case c.min&(1<<uint(t.Minute())) == 0:
			next = t.Truncate(time.Minute).Add(time.Minute)
		case c.sec&(1<<uint(t.Second())) == 0:
			next = t.Add(time.Second)
		default:
			return t, true
		}
		if !next.After(t) {
			next = t.Add(time.Hour) // a midnight a daylight saving change skipped
		}
		t = next
	}
	return time.Time{}, false
}

package stream

import (
	"testing"
	"time"
)

// TestScheduleCron: six-field cron patterns and their aliases fire at the
// next matching second, in the schedule's time zone; malformed ones and
// ones that never match are refused.
func TestScheduleCron(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		pattern string
		loc     *time.Location
		from    string
		want    string // "" when the pattern is refused
	}{
		{"0 0 * * * *", nil, "2026-03-07T12:34:56Z", "2026-03-07T13:00:00Z"},
		{"@hourly", nil, "2026-03-07T12:00:00Z", "2026-03-07T13:00:00Z"},
		{"*/15 * * * * *", nil, "2026-03-07T12:00:07Z", "2026-03-07T12:00:15Z"},
		{"5/20 * * * * ?", nil, "2026-03-07T12:00:26Z", "2026-03-07T12:00:45Z"},
		{"0 30 9 * * MON-FRI", nil, "2026-03-07T10:00:00Z", "2026-03-09T09:30:00Z"}, // a Saturday
		{"0 0 0 1 jan,jul *", nil, "2026-03-07T10:00:00Z", "2026-07-01T00:00:00Z"},
		{"0 0 0 13 * FRI", nil, "2026-03-07T10:00:00Z", "2026-03-13T00:00:00Z"}, // either day field
		{"0 0 0 29 2 *", nil, "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},   // a leap day
		{"0 0 12 * * *", ny, "2026-03-07T18:00:00Z", "2026-03-08T16:00:00Z"},    // noon after DST starts
		{"@daily", nil, "2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z"},
		{"0 0 0 30 2 *", nil, "2026-03-01T00:00:00Z", ""},
		{"0 0 * * *", nil, "2026-03-01T00:00:00Z", ""},
		{"60 * * * * *", nil, "2026-03-01T00:00:00Z", ""},
		{"0 0 0 * 13 *", nil, "2026-03-01T00:00:00Z", ""},
		{"0 0 0 * * 7", nil, "2026-03-01T00:00:00Z", ""},
		{"*/0 * * * * *", nil, "2026-03-01T00:00:00Z", ""},
		{"5-1 * * * * *", nil, "2026-03-01T00:00:00Z", ""},
		{"a * * * * *", nil, "2026-03-01T00:00:00Z", ""},
		{"@weekly x", nil, "2026-03-01T00:00:00Z", ""},
	} {
		from := utc(c.from).UnixNano()
		got, repeat, ok := parseSchedule(c.pattern, c.loc, from, from)
		if c.want == "" {
			if ok {
				t.Errorf("%q accepted: %v", c.pattern, got)
			}
			continue
		}
		if !ok || !repeat || !got.Equal(utc(c.want)) {
			t.Errorf("%q after %s: %v %v %v, want %s", c.pattern, c.from, got.UTC(), repeat, ok, c.want)
		}
	}
	// A repeating schedule that missed firings fires once, then moves on
	// from the time it fired.
	prev, now := utc("2026-03-07T00:00:00Z").UnixNano(), utc("2026-03-07T05:20:00Z").UnixNano()
	if got, _, _ := parseSchedule("0 0 * * * *", nil, prev, now); !got.Equal(utc("2026-03-07T06:00:00Z")) {
		t.Errorf("missed cron firings: next %v", got.UTC())
	}
	if got, _, _ := parseSchedule("@every 1m", nil, prev, now); !got.Equal(utc("2026-03-07T05:21:00Z")) {
		t.Errorf("missed @every firings: next %v", got.UTC())
	}
	if _, _, ok := parseSchedule("@at 2026-03-07T00:00:00Z", time.UTC, prev, now); ok {
		t.Error("@at with a time zone accepted")
	}
}

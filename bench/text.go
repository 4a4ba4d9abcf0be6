package bench

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// WriteTable writes the report as text: a header saying what ran, the
// throughput table, the latency table when a scenario measured latency,
// the comparison when there is one, then warnings, errors and notes.
// The target column appears only when comparing: with one server it
// would say "wisp" on every line.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	b.WriteString(r.headline() + "\n")
	comparing := len(r.Targets) > 1

	t := textTable{right: []bool{false, false, true, false, true, true, true, true, false}}
	t.add("scenario", "target", "rate", "", "MB/s", "CPU s/M", "peak RSS", "mem/conn", "status")
	for i := range r.Summary {
		s := &r.Summary[i]
		cpu, rss := "n/a", "n/a"
		if s.Scope != "" {
			cpu, rss = fmt.Sprintf("%.2f", s.CPUPerMillion), bytesIEC(s.PeakRSS)
			if s.Scope == ScopeProcess {
				cpu, rss = cpu+"*", rss+"*"
			}
		}
		mem := "-"
		if s.MemPerConn != 0 {
			mem = bytesIEC(int64(s.MemPerConn))
		}
		mb := "-"
		if s.MBPerSec != 0 {
			mb = fmt.Sprintf("%.1f", s.MBPerSec)
		}
		status := "ok"
		if !s.OK() {
			status = fmt.Sprintf("FAILED %d/%d", s.Failed, s.Runs)
		} else if len(s.Warnings) > 0 {
			status = "ok, too short"
		}
		t.add(s.Scenario, s.Target, si(s.Rate), s.Unit, mb, cpu, rss, mem, status)
	}
	if !comparing {
		t.drop(1)
	}
	b.WriteString("\nThroughput (higher is better)\n")
	t.write(&b)

	lat := textTable{right: []bool{false, false, true, true, true, true, true}}
	lat.add("scenario", "target", "p50", "p90", "p99", "p99.9", "max")
	for i := range r.Summary {
		s := &r.Summary[i]
		if l := s.Latency; l != nil {
			lat.add(s.Scenario, s.Target, fmtUS(l.P50), fmtUS(l.P90), fmtUS(l.P99), fmtUS(l.P999), fmtUS(l.Max))
		}
	}
	if len(lat.rows) > 1 {
		if !comparing {
			lat.drop(1)
		}
		b.WriteString("\nRequest/reply or publish-to-ack round trip in µs (lower is better)\n")
		lat.write(&b)
	}

	for i := range r.Summary {
		if r.Summary[i].Scope == ScopeProcess {
			b.WriteString("\n* embedded server: CPU and RSS of the whole bench process, clients included; run against a binary for server-only figures.\n")
			break
		}
	}
	if len(r.Comparisons) > 0 {
		fmt.Fprintf(&b, "\n%s vs %s (rate ratio > 1: %s faster; CPU ratio < 1: %s cheaper per message)\n",
			r.Targets[0], r.Targets[1], r.Targets[0], r.Targets[0])
		c := textTable{right: []bool{false, true, true, true, true, false}}
		c.add("scenario", r.Targets[0], r.Targets[1], "rate ratio", "CPU ratio", "status")
		for _, cmp := range r.Comparisons {
			cpu, status := "-", "ok"
			if cmp.CPURatio != 0 {
				cpu = fmt.Sprintf("%.2f", cmp.CPURatio)
			}
			if !cmp.OK {
				status = "FAILED"
			} else if cmp.TooShort {
				status = "ok, too short"
			}
			c.add(cmp.Scenario, si(cmp.RateA)+" "+cmp.Unit, si(cmp.RateB)+" "+cmp.Unit, fmt.Sprintf("%.2f", cmp.RateRatio), cpu, status)
		}
		c.write(&b)
	}
	r.writeShort(&b)
	var lines []string
	for i := range r.Summary {
		s := &r.Summary[i]
		for _, e := range s.Errors {
			lines = append(lines, fmt.Sprintf("ERROR %s: %s", r.who(s), e))
		}
		for _, n := range s.Notes {
			lines = append(lines, fmt.Sprintf("note %s: %s", r.who(s), n))
		}
	}
	if len(lines) > 0 {
		fmt.Fprintf(&b, "\n%s\n", strings.Join(lines, "\n"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeShort lists the scenarios whose measured phase was too short to
// trust, with the flags that would lengthen each.
func (r *Report) writeShort(b *strings.Builder) {
	t := textTable{right: []bool{false, true, false, false}}
	example := ""
	for i := range r.Summary {
		s := &r.Summary[i]
		if p, ok := checkShort(s.Scenario, s.Seconds, s.Capped, r.Settings); ok && s.OK() {
			why := ""
			if p.why != aimWhy {
				why = "(" + p.why + ")"
			}
			t.add(r.who(s), p.took.String(), p.flags, why)
			if example == "" && strings.HasPrefix(p.flags, "--msgs") {
				example = "wisp bench " + s.Scenario + " " + p.flags
			}
		}
	}
	if len(t.rows) == 0 {
		return
	}
	fmt.Fprintf(b, "\nwarning: these measured phases lasted under %v, so their figures are noise;\nto measure for about %v at the rate seen, run them again with:\n", minMeasured, aimMeasured)
	t.write(b)
	if example != "" && len(r.Settings.Scenarios) > 1 {
		fmt.Fprintf(b, "  (--msgs applies to every scenario named: run the fast ones on their own, e.g. %s)\n", example)
	}
}

// headline says what ran, where, and how often.
func (r *Report) headline() string {
	st := r.Settings
	runs := "1 run each"
	if st.Runs > 1 {
		runs = fmt.Sprintf("%d runs each, figures are medians", st.Runs)
	}
	where := "server under test: " + st.Server
	if st.Server == "embedded" {
		where = "embedded Wisp server"
	}
	if st.Sync != "" {
		where += " (its streams with sync = " + st.Sync + ")"
	}
	if st.Compare != "" {
		where += ", compared with " + st.Compare
	}
	return fmt.Sprintf("wisp bench: %d msgs of %d B per scenario, time cap %s, %s; %s; %d CPUs, %s",
		st.Msgs, st.Size, st.Duration, runs, where, r.Machine.CPUs, r.Machine.Go)
}

// who names a summary in warnings and notes: the scenario, and the server
// when comparing.
func (r *Report) who(s *Summary) string {
	if len(r.Targets) > 1 {
		return s.Scenario + "/" + s.Target
	}
	return s.Scenario
}

// textTable lays out rows in columns two spaces apart, each column
// aligned left or right. Widths count runes, so "µs" is two wide.
type textTable struct {
	right []bool // per column
	rows  [][]string
}

func (t *textTable) add(cells ...string) { t.rows = append(t.rows, cells) }

// drop removes column i from every row.
func (t *textTable) drop(i int) {
	for k, row := range t.rows {
		t.rows[k] = append(row[:i:i], row[i+1:]...)
	}
	t.right = append(t.right[:i:i], t.right[i+1:]...)
}

func (t *textTable) write(b *strings.Builder) {
	var width []int
	for _, row := range t.rows {
		for i, c := range row {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, row := range t.rows {
		var line strings.Builder
		line.WriteString("  ")
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				line.WriteString("  ")
			}
			if i < len(t.right) && t.right[i] {
				line.WriteString(pad + c)
			} else {
				line.WriteString(c + pad)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

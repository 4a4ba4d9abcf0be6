package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// The HTML report is one self-contained file: inline CSS, inline SVG, no
// scripts, fonts or other assets, so it can be mailed or archived and still
// open in any browser.

var targetColors = []string{"#2b6cb0", "#dd6b20"}
var pctColors = []string{"#9ae6b4", "#48bb78", "#2f855a", "#1c4532", "#718096"}

const htmlStyle = `body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:980px;color:#1a202c;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #e2e8f0;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}th,td{padding:.25em .6em;border-bottom:1px solid #e2e8f0}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{text-align:left;background:#f7fafc}
.bad{color:#c53030;font-weight:600}.warn{background:#fffaf0;border-left:4px solid #dd6b20;padding:.3em .8em}.ok{color:#2f855a}.meta{color:#4a5568;font-size:.9em}
svg text{font-family:system-ui,sans-serif;font-size:12px;fill:#1a202c}.muted{fill:#718096}`

// WriteHTML writes the report as a standalone HTML page with SVG charts of
// throughput per scenario and latency percentiles.
func (r *Report) WriteHTML(w io.Writer) error {
	var b strings.Builder
	esc := html.EscapeString
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>Wisp bench report</title>\n<style>" + htmlStyle + "</style></head><body>\n")
	fmt.Fprintf(&b, "<h1>Wisp bench report</h1>\n<p class=\"meta\">%s · %s · %s/%s, %d CPUs, %s</p>\n",
		esc(r.Started.Format("2006-01-02 15:04 UTC")), esc(r.Machine.Host), esc(r.Machine.OS), esc(r.Machine.Arch), r.Machine.CPUs, esc(r.Machine.Go))
	st := r.Settings
	fmt.Fprintf(&b, "<p class=\"meta\">%d messages of %d bytes per scenario, time cap %s, %d run(s) per scenario and server (figures are medians). Server under test: <b>%s</b> (%s).",
		st.Msgs, st.Size, esc(st.Duration), st.Runs, esc(r.label(0)), esc(st.Server))
	if st.Sync != "" {
		fmt.Fprintf(&b, " Its streams sync: <b>%s</b>.", esc(st.Sync))
	}
	if st.Compare != "" {
		fmt.Fprintf(&b, " Compared with: <b>%s</b> (%s), run alternately.", esc(r.label(1)), esc(st.Compare))
	}
	b.WriteString("</p>\n")
	if r.OK() {
		b.WriteString("<p class=\"ok\">Every run passed its correctness checks.</p>\n")
	} else {
		b.WriteString("<p class=\"bad\">Some runs failed their correctness checks: see Errors below. Their figures are left out of the medians.</p>\n")
	}

	b.WriteString(r.warningsHTML())
	if len(r.Targets) > 1 {
		b.WriteString("<h2>Throughput per scenario</h2>\n<p class=\"meta\">Each scenario is scaled on its own (units differ); longer is better.</p>\n")
		b.WriteString(r.throughputPairsSVG())
	} else {
		b.WriteString("<h2>Throughput per scenario</h2>\n<p class=\"meta\">Scenarios with the same unit share an axis; longer is better. MB/s counts payload bytes only.</p>\n")
		b.WriteString(r.throughputAxisSVG())
	}
	if svg := r.latencySVG(); svg != "" {
		b.WriteString("<h2>Latency percentiles: request/reply, publish to ack</h2>\n<p class=\"meta\">Round-trip time in microseconds (p50, p90, p99, p99.9 and the slowest), logarithmic scale; shorter is better.</p>\n")
		b.WriteString(svg)
	}
	if len(r.Comparisons) > 0 {
		fmt.Fprintf(&b, "<h2>%s ÷ %s</h2>\n<p class=\"meta\">Rate ratio per scenario: right of the 1.0 line, %s is faster.</p>\n",
			esc(r.label(0)), esc(r.label(1)), esc(r.label(0)))
		b.WriteString(r.ratioSVG())
		b.WriteString(r.comparisonTable())
	}
	b.WriteString("<h2>Summary</h2>\n")
	b.WriteString(r.summaryTable())
	b.WriteString(r.notesHTML())
	b.WriteString("<h2>Every run</h2>\n")
	b.WriteString(r.runsTable())
	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) label(i int) string {
	if i < len(r.Targets) {
		return r.Targets[i]
	}
	return ""
}

// scenarioOrder lists the summarised scenarios in run order.
func (r *Report) scenarioOrder() []string {
	var order []string
	for _, s := range r.Summary {
		if !contains(order, s.Scenario) {
			order = append(order, s.Scenario)
		}
	}
	return order
}

// throughputPairsSVG, when comparing, draws one horizontal bar per
// scenario and target, each scenario scaled to its own largest rate, so
// the bars of one scenario compare the servers.
func (r *Report) throughputPairsSVG() string {
	const left, barW, rowH, barH = 110, 560, 10, 16
	order := r.scenarioOrder()
	nt := max(len(r.Targets), 1)
	groupH := nt*(barH+4) + rowH
	height := len(order)*groupH + 40
	var b strings.Builder
	fmt.Fprintf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"%d\" role=\"img\" aria-label=\"throughput per scenario\">\n", height)
	r.legend(&b, left, 14)
	y := 30
	for _, sc := range order {
		top := 0.0
		for i := range r.Summary {
			if s := &r.Summary[i]; s.Scenario == sc {
				top = math.Max(top, s.Rate)
			}
		}
		fmt.Fprintf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", left-8, y+(nt*(barH+4))/2+4, html.EscapeString(sc))
		for ti, t := range r.Targets {
			s := r.find(sc, t)
			if s == nil {
				continue
			}
			wpx := 0.0
			if top > 0 {
				wpx = s.Rate / top * barW
			}
			by := y + ti*(barH+4)
			fmt.Fprintf(&b, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>%s %s: %.0f %s</title></rect>\n",
				left, by, wpx, barH, targetColors[ti%len(targetColors)], html.EscapeString(sc), html.EscapeString(t), s.Rate, html.EscapeString(s.Unit))
			label := si(s.Rate) + " " + s.Unit
			class := ""
			if !s.OK() {
				label += " (FAILED)"
				class = " class=\"bad\" style=\"fill:#c53030\""
			} else if len(s.Warnings) > 0 {
				label += " (too short to trust)"
				class = " style=\"fill:#c05621\""
			}
			fmt.Fprintf(&b, "<text x=\"%.1f\" y=\"%d\"%s>%s</text>\n", float64(left)+wpx+6, by+barH-3, class, html.EscapeString(label))
		}
		y += groupH
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// legend draws the target colour keys at (x, y).
func (r *Report) legend(b *strings.Builder, x, y int) {
	for i, t := range r.Targets {
		fmt.Fprintf(b, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text>\n",
			x, y-10, targetColors[i%len(targetColors)], x+16, y, html.EscapeString(t))
		x += 40 + 8*len(t)
	}
}

// latencySVG draws, for each request/reply summary, five vertical bars
// (p50, p90, p99, p99.9, max) on a logarithmic microsecond axis.
func (r *Report) latencySVG() string {
	var sums []*Summary
	for i := range r.Summary {
		if r.Summary[i].Latency != nil {
			sums = append(sums, &r.Summary[i])
		}
	}
	if len(sums) == 0 {
		return ""
	}
	const left, top, plotH, barW, gap = 60, 30, 220, 22, 30
	hi := 1.0
	for _, s := range sums {
		hi = math.Max(hi, s.Latency.Max)
	}
	decades := int(math.Ceil(math.Log10(hi))) // axis from 1 µs to 10^decades µs
	decades = max(decades, 1)
	yOf := func(us float64) float64 {
		v := math.Log10(math.Max(us, 1)) / float64(decades)
		return top + plotH - v*plotH
	}
	groupW := 5*barW + gap
	width := left + len(sums)*groupW + 20
	var b strings.Builder
	fmt.Fprintf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"latency percentiles\">\n", max(width, 420), top+plotH+60)
	for d := 0; d <= decades; d++ {
		y := yOf(math.Pow(10, float64(d)))
		fmt.Fprintf(&b, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e2e8f0\"/><text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" class=\"muted\">%s µs</text>\n",
			left, width, y, y, left-6, y+4, si(math.Pow(10, float64(d))))
	}
	names := []string{"p50", "p90", "p99", "p99.9", "max"}
	for i, n := range names {
		fmt.Fprintf(&b, "<rect x=\"%d\" y=\"8\" width=\"12\" height=\"12\" fill=\"%s\"/><text x=\"%d\" y=\"18\">%s</text>\n",
			left+i*70, pctColors[i], left+i*70+16, n)
	}
	for gi, s := range sums {
		x0 := left + 10 + gi*groupW
		vals := []float64{s.Latency.P50, s.Latency.P90, s.Latency.P99, s.Latency.P999, s.Latency.Max}
		for i, v := range vals {
			y := yOf(v)
			fmt.Fprintf(&b, "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"%s\"><title>%s %s %s: %.1f µs</title></rect>\n",
				x0+i*barW, y, barW-2, top+plotH-y, pctColors[i], html.EscapeString(s.Scenario), html.EscapeString(s.Target), names[i], v)
			fmt.Fprintf(&b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"middle\" style=\"font-size:9px\">%s</text>\n",
				x0+i*barW+barW/2-1, y-3, fmtUS(v))
		}
		fmt.Fprintf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text><text x=\"%d\" y=\"%d\" text-anchor=\"middle\" class=\"muted\">%s</text>\n",
			x0+5*barW/2, top+plotH+18, html.EscapeString(s.Scenario), x0+5*barW/2, top+plotH+34, html.EscapeString(s.Target))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func fmtUS(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// ratioSVG draws the rate ratio per scenario against a line at 1.0.
func (r *Report) ratioSVG() string {
	const left, barW, rowH = 110, 560, 22
	hi := 2.0
	for _, c := range r.Comparisons {
		hi = math.Max(hi, c.RateRatio*1.1)
	}
	xOf := func(v float64) float64 { return left + v/hi*barW }
	var b strings.Builder
	height := len(r.Comparisons)*rowH + 30
	fmt.Fprintf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"%d\" role=\"img\" aria-label=\"rate ratios\">\n", height)
	for i, c := range r.Comparisons {
		y := 10 + i*rowH
		color := targetColors[0]
		if c.RateRatio < 1 {
			color = targetColors[1]
		}
		fmt.Fprintf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", left-8, y+13, html.EscapeString(c.Scenario))
		fmt.Fprintf(&b, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"16\" fill=\"%s\"/>\n", left, y, xOf(c.RateRatio)-left, color)
		label := fmt.Sprintf("%.2f×", c.RateRatio)
		if !c.OK {
			label += " (a run FAILED)"
		} else if c.TooShort {
			label += " (too short to trust)"
		}
		fmt.Fprintf(&b, "<text x=\"%.1f\" y=\"%d\">%s</text>\n", xOf(c.RateRatio)+6, y+13, html.EscapeString(label))
	}
	fmt.Fprintf(&b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"4\" y2=\"%d\" stroke=\"#1a202c\" stroke-dasharray=\"4 3\"/><text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" class=\"muted\">1.0</text>\n",
		xOf(1), xOf(1), height-14, xOf(1), height-2)
	b.WriteString("</svg>\n")
	return b.String()
}

func (r *Report) comparisonTable() string {
	var b strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&b, "<table><tr><th>scenario</th><th>%s</th><th>%s</th><th>unit</th><th>rate ratio</th><th>CPU s/M %s</th><th>CPU s/M %s</th><th>CPU ratio</th><th>status</th></tr>\n",
		esc(r.label(0)), esc(r.label(1)), esc(r.label(0)), esc(r.label(1)))
	for _, c := range r.Comparisons {
		status := "<span class=\"ok\">ok</span>"
		if !c.OK {
			status = "<span class=\"bad\">FAILED</span>"
		} else if c.TooShort {
			status = "ok, too short"
		}
		fmt.Fprintf(&b, "<tr><td>%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td>%s</td><td class=\"n\">%.2f</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td>%s</td></tr>\n",
			esc(c.Scenario), si(c.RateA), si(c.RateB), esc(c.Unit), c.RateRatio, optF(c.CPUA), optF(c.CPUB), optF(c.CPURatio), status)
	}
	b.WriteString("</table>\n")
	return b.String()
}

func optF(v float64) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", v)
}

func (r *Report) summaryTable() string {
	var b strings.Builder
	esc := html.EscapeString
	b.WriteString("<table><tr><th>scenario</th><th>server</th><th>version</th><th>rate</th><th>MB/s</th><th>p50 µs</th><th>p90 µs</th><th>p99 µs</th><th>p99.9 µs</th><th>max µs</th><th>CPU s per M</th><th>peak RSS</th><th>mem/conn</th><th>status</th></tr>\n")
	embedded := false
	for i := range r.Summary {
		s := &r.Summary[i]
		lat := [5]string{"–", "–", "–", "–", "–"}
		if l := s.Latency; l != nil {
			lat = [5]string{fmtUS(l.P50), fmtUS(l.P90), fmtUS(l.P99), fmtUS(l.P999), fmtUS(l.Max)}
		}
		cpu, rss := "n/a", "n/a"
		if s.Scope != "" {
			cpu, rss = fmt.Sprintf("%.2f", s.CPUPerMillion), bytesIEC(s.PeakRSS)
			if s.Scope == ScopeProcess {
				cpu, rss, embedded = cpu+"*", rss+"*", true
			}
		}
		mem := "–"
		if s.MemPerConn != 0 {
			mem = bytesIEC(int64(s.MemPerConn))
		}
		status := "<span class=\"ok\">ok</span>"
		if !s.OK() {
			status = fmt.Sprintf("<span class=\"bad\">FAILED %d/%d</span>", s.Failed, s.Runs)
		} else if len(s.Warnings) > 0 {
			status = "ok, too short"
		}
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%s</td><td class=\"n\">%s %s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td>%s</td></tr>\n",
			esc(s.Scenario), esc(s.Target), esc(s.Version), si(s.Rate), esc(s.Unit), optF(s.MBPerSec), lat[0], lat[1], lat[2], lat[3], lat[4], cpu, rss, mem, status)
	}
	b.WriteString("</table>\n")
	if embedded {
		b.WriteString("<p class=\"meta\">* Embedded server: CPU and peak RSS are those of the whole bench process, clients included. Run against a server binary for server-only figures.</p>\n")
	}
	return b.String()
}

func (r *Report) notesHTML() string {
	var errs, notes []string
	for i := range r.Summary {
		s := &r.Summary[i]
		for _, e := range s.Errors {
			errs = append(errs, "<li><b>"+html.EscapeString(s.Scenario+" / "+s.Target)+"</b>: "+html.EscapeString(e)+"</li>")
		}
		for _, n := range s.Notes {
			notes = append(notes, "<li>"+html.EscapeString(s.Scenario+" / "+s.Target+": "+n)+"</li>")
		}
	}
	var b strings.Builder
	if len(errs) > 0 {
		b.WriteString("<h2 class=\"bad\">Errors</h2>\n<ul>" + strings.Join(errs, "\n") + "</ul>\n")
	}
	if len(notes) > 0 {
		b.WriteString("<h2>Notes</h2>\n<ul>" + strings.Join(notes, "\n") + "</ul>\n")
	}
	return b.String()
}

func (r *Report) runsTable() string {
	var b strings.Builder
	esc := html.EscapeString
	b.WriteString("<table><tr><th>scenario</th><th>server</th><th>run</th><th>count</th><th>seconds</th><th>rate</th><th>CPU s</th><th>result</th></tr>\n")
	for i := range r.Results {
		res := &r.Results[i]
		result := "<span class=\"ok\">ok</span>"
		if !res.OK() {
			result = "<span class=\"bad\">" + esc(res.Error) + "</span>"
		}
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td class=\"n\">%d</td><td class=\"n\">%d</td><td class=\"n\">%.3f</td><td class=\"n\">%s %s</td><td class=\"n\">%s</td><td>%s</td></tr>\n",
			esc(res.Scenario), esc(res.Target), res.Run, res.Msgs, res.Seconds, si(res.Rate), esc(res.Unit), optF(res.CPUSeconds), result)
	}
	b.WriteString("</table>\n")
	return b.String()
}

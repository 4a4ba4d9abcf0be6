package bench

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// With one server there is nothing to set a rate against but the other
// scenarios: the throughput chart puts every scenario of one unit
// (msgs/s, req/s, conns/s) on one labelled axis, so a bar's length is a
// rate that can be read off the ticks, and pub next to js-pub shows what
// a stream costs. Scaling each scenario to itself would draw every bar
// at full width.

// axisTicks returns a round top for an axis that must reach hi and the
// ticks from 0 to it: four or five steps of 1, 2, 2.5 or 5 times a power
// of ten.
func axisTicks(hi float64) []float64 {
	if hi <= 0 || math.IsNaN(hi) || math.IsInf(hi, 0) {
		return []float64{0, 1}
	}
	raw := hi / 4
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * pow
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*pow >= raw {
			step = m * pow
			break
		}
	}
	var ticks []float64
	for i := 0.0; ; i++ {
		v := i * step
		ticks = append(ticks, v)
		if v >= hi*(1-1e-9) {
			return ticks
		}
	}
}

// throughputAxisSVG draws, for a single server, one horizontal bar per
// scenario, grouped by unit, each group on its own axis with ticks.
func (r *Report) throughputAxisSVG() string {
	const left, barW, rowH, barH, axisH, groupGap = 110, 480, 22, 16, 22, 14
	var units []string
	for _, s := range r.Summary {
		if !contains(units, s.Unit) {
			units = append(units, s.Unit)
		}
	}
	height := 10
	for _, u := range units {
		height += axisH + groupGap
		for _, s := range r.Summary {
			if s.Unit == u {
				height += rowH
			}
		}
	}
	var b strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"%d\" role=\"img\" aria-label=\"throughput per scenario\">\n", height)
	y := 10
	for _, u := range units {
		hi := 0.0
		n := 0
		for _, s := range r.Summary {
			if s.Unit == u {
				hi = math.Max(hi, s.Rate)
				n++
			}
		}
		ticks := axisTicks(hi)
		top := ticks[len(ticks)-1]
		xOf := func(v float64) float64 { return left + v/top*barW }
		plotBottom := y + axisH + n*rowH
		for _, t := range ticks {
			fmt.Fprintf(&b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#e2e8f0\"/><text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" class=\"muted\">%s</text>\n",
				xOf(t), xOf(t), y+axisH-4, plotBottom, xOf(t), y+12, si(t))
		}
		fmt.Fprintf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" class=\"muted\">%s</text>\n", left-8, y+12, esc(u))
		by := y + axisH
		for i := range r.Summary {
			s := &r.Summary[i]
			if s.Unit != u {
				continue
			}
			wpx := xOf(s.Rate) - left
			fmt.Fprintf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", left-8, by+barH-3, esc(s.Scenario))
			fmt.Fprintf(&b, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>%s: %.0f %s</title></rect>\n",
				left, by, wpx, barH, targetColors[0], esc(s.Scenario), s.Rate, esc(s.Unit))
			label := si(s.Rate) + " " + s.Unit
			if s.MBPerSec != 0 {
				label += fmt.Sprintf(" · %.1f MB/s", s.MBPerSec)
			}
			class := ""
			switch {
			case !s.OK():
				label += " (FAILED)"
				class = " class=\"bad\" style=\"fill:#c53030\""
			case len(s.Warnings) > 0:
				label += " (too short to trust)"
				class = " style=\"fill:#c05621\""
			}
			fmt.Fprintf(&b, "<text x=\"%.1f\" y=\"%d\"%s>%s</text>\n", float64(left)+wpx+6, by+barH-3, class, esc(label))
			by += rowH
		}
		y = plotBottom + groupGap
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// warningsHTML lists the warnings near the top of the page, where they
// are read before the figures they qualify.
func (r *Report) warningsHTML() string {
	var items []string
	for i := range r.Summary {
		s := &r.Summary[i]
		for _, w := range s.Warnings {
			items = append(items, "<li><b>"+html.EscapeString(r.who(s))+"</b>: "+html.EscapeString(w)+"</li>")
		}
	}
	if len(items) == 0 {
		return ""
	}
	return "<div class=\"warn\"><p><b>Warnings</b></p><ul>" + strings.Join(items, "\n") + "</ul></div>\n"
}

package bench

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// singleReport is a report of one server, built from results without
// running anything: two msgs/s scenarios at different rates, one
// request/reply scenario with latencies, and a connection scenario.
func singleReport() *Report {
	rep := &Report{
		Targets:  []string{"wisp"},
		Machine:  Machine{CPUs: 2, Go: "go1.test"},
		Settings: Settings{Msgs: 200_000, Size: 128, Conns: 1000, Duration: "10s", Runs: 1, Server: "embedded"},
	}
	rep.Results = []Result{
		{Scenario: "pub", Target: "wisp", Unit: "msgs/s", Run: 1, Msgs: 200_000, Seconds: 2, Rate: 100_000, MBPerSec: 12.8},
		{Scenario: "pubsub", Target: "wisp", Unit: "msgs/s", Run: 1, Msgs: 200_000, Seconds: 8, Rate: 25_000, MBPerSec: 3.2},
		{Scenario: "reqrep", Target: "wisp", Unit: "req/s", Run: 1, Msgs: 200_000, Seconds: 4, Rate: 50_000, MBPerSec: 6.4,
			Latency: &Latency{Count: 200_000, P50: 20, P90: 30, P99: 90, P999: 400, Max: 2500, Mean: 22}},
		{Scenario: "conn", Target: "wisp", Unit: "conns/s", Run: 1, Msgs: 1000, Seconds: 0.25, Rate: 4000},
	}
	rep.summarise()
	return rep
}

// TestSingleServerText: with one server the text report has no target
// column, shows each rate with its unit, and has a latency table with
// p50, p90, p99, p99.9 and max.
func TestSingleServerText(t *testing.T) {
	var out bytes.Buffer
	if err := singleReport().WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	flat := strings.Join(strings.Fields(text), " ")
	for _, want := range []string{
		"embedded Wisp server",
		"100k msgs/s",
		"4k conns/s",
		"Request/reply or publish-to-ack round trip in µs",
		"p90", "p99.9", "max",
		"reqrep 20.0 30.0 90.0 400 2500",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "target") || strings.Contains(text, " vs ") {
		t.Errorf("single-server text has a target column or a comparison:\n%s", text)
	}
}

// barWidths returns the width of every bar titled "scenario..." in the
// first SVG chart of page, by scenario.
func barWidths(t *testing.T, page string) map[string]float64 {
	t.Helper()
	first := page[strings.Index(page, "<svg"):]
	first = first[:strings.Index(first, "</svg>")]
	re := regexp.MustCompile(`<rect x="\d+" y="\d+" width="([0-9.]+)" height="\d+" fill="[^"]+"><title>([a-z-]+)[ :]`)
	widths := map[string]float64{}
	for _, m := range re.FindAllStringSubmatch(first, -1) {
		w, _ := strconv.ParseFloat(m[1], 64)
		widths[m[2]] = w
	}
	return widths
}

// TestSingleServerChart: with one server, bars of one unit share an axis,
// so a rate four times another draws a bar four times as long, and no
// comparison chart is drawn. Scaling each scenario to itself drew every
// bar at full width.
func TestSingleServerChart(t *testing.T) {
	var page bytes.Buffer
	if err := singleReport().WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	w := barWidths(t, html)
	if len(w) != 4 {
		t.Fatalf("bars %v, want 4", w)
	}
	if w["pub"] <= 0 || w["pubsub"] <= 0 || w["pub"]/w["pubsub"] < 3.99 || w["pub"]/w["pubsub"] > 4.01 {
		t.Errorf("pub bar %.1f, pubsub bar %.1f: want 4:1 on one axis", w["pub"], w["pubsub"])
	}
	for _, want := range []string{">msgs/s<", ">req/s<", ">conns/s<", "100k msgs/s · 12.8 MB/s", ">max<", "max µs"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if strings.Contains(html, "rate ratios") || strings.Contains(html, "÷") {
		t.Error("single-server HTML has a comparison chart")
	}
}

// TestAxisTicks: the axis ends at a round value at or above the largest
// rate, in four or five steps.
func TestAxisTicks(t *testing.T) {
	for _, c := range []struct {
		hi   float64
		want string
	}{
		{3.3e6, "[0 1e+06 2e+06 3e+06 4e+06]"},
		{100_000, "[0 25000 50000 75000 100000]"},
		{23_000, "[0 10000 20000 30000]"},
		{4230, "[0 2000 4000 6000]"},
		{0, "[0 1]"},
	} {
		got := axisTicks(c.hi)
		if s := strings.Join(strings.Fields(strings.Trim(fmtFloats(got), "[]")), " "); "["+s+"]" != c.want {
			t.Errorf("axisTicks(%v) = %s, want %s", c.hi, "["+s+"]", c.want)
		}
		if top := got[len(got)-1]; top < c.hi {
			t.Errorf("axisTicks(%v) ends at %v, below the largest rate", c.hi, top)
		}
	}
}

func fmtFloats(xs []float64) string {
	var s []string
	for _, x := range xs {
		s = append(s, strconv.FormatFloat(x, 'g', -1, 64))
	}
	return "[" + strings.Join(s, " ") + "]"
}

// TestShortWarning: a measured phase under a second gets a warning that
// names the flag lengthening it, with a value for about two seconds.
func TestShortWarning(t *testing.T) {
	st := Settings{Msgs: 20_000, Conns: 1000, Duration: "10s"}
	for _, c := range []struct {
		scenario string
		seconds  float64
		capped   bool
		st       Settings
		want     string // "" for no warning
	}{
		{"pub", 1.5, false, st, ""},
		{"pub", 0, false, st, ""},
		{"pub", 0.006, false, st, "measured phase lasted 6ms (under 1s): its figures are noise; run it again with --msgs 6700000 (about 2s at this rate)"},
		{"conn", 0.25, false, st, "run it again with --conns 8000 (about 2s"},
		{"conn", 0.001, false, st, "run it again with --runs 5 (--conns cannot lengthen it enough (at most 10000): take a median)"},
		{"conn", 0.185, false, Settings{Conns: 1000, Duration: "10s"}, "run it again with --conns 10000 (the most --conns allows: about 1.9s at this rate)"},
		{"reqrep", 0.5, true, Settings{Msgs: 1_000_000, Duration: "500ms"}, "run it again with --duration 3s (the time cap ended it)"},
		{"pub", 0.5, false, Settings{Msgs: 1000, Duration: "1s"}, "--msgs 4000 --duration 3s (about 2s at this rate)"},
	} {
		got := shortWarning(c.scenario, c.seconds, c.capped, c.st)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("shortWarning(%s, %v, %v) = %q, want %q", c.scenario, c.seconds, c.capped, got, c.want)
		}
	}
	if got := roundUp2(6_512_345); got != 6_600_000 {
		t.Errorf("roundUp2 = %d", got)
	}
}

// TestShortRunWarned: a real run far shorter than a second is warned
// about on the log (stderr), in the text report and in the HTML report.
func TestShortRunWarned(t *testing.T) {
	cfg := quick("pub")
	cfg.Duration = 20 * time.Second
	var log bytes.Buffer
	cfg.Log = &log
	rep := run(t, cfg)
	if s := rep.Results[0].Seconds; s >= 1 {
		t.Skipf("2000 messages took %vs", s)
	}
	if !strings.Contains(log.String(), "  warning: measured phase lasted") || !strings.Contains(log.String(), "--msgs") {
		t.Errorf("log:\n%s", log.String())
	}
	var text, page bytes.Buffer
	rep.WriteTable(&text)
	rep.WriteHTML(&page)
	if !regexp.MustCompile(`warning: these measured phases lasted under 1s.*\n.*\n  pub +\d+(\.\d+)?[mµn]?s  --msgs \d+\n`).MatchString(text.String()) || !strings.Contains(text.String(), "ok, too short") {
		t.Errorf("text:\n%s", text.String())
	}
	if !strings.Contains(page.String(), "<b>pub</b>: measured phase lasted") || !strings.Contains(page.String(), "(too short to trust)") {
		t.Error("HTML has no warning")
	}
	if w := rep.Summary[0].Warnings; len(w) != 1 {
		t.Errorf("summary warnings %q", w)
	}
}

// TestCompareTooShort: a comparison whose either side measured for under
// a second says so next to its ratio, in text and HTML.
func TestCompareTooShort(t *testing.T) {
	rep := &Report{
		Targets:  []string{"wisp", "nats-server"},
		Settings: Settings{Msgs: 20_000, Size: 128, Conns: 1000, Duration: "10s", Runs: 1, Server: "wisp", Compare: "nats-server"},
	}
	rep.Results = []Result{
		{Scenario: "pub", Target: "wisp", Unit: "msgs/s", Run: 1, Msgs: 20_000, Seconds: 0.004, Rate: 5e6},
		{Scenario: "pub", Target: "nats-server", Unit: "msgs/s", Run: 1, Msgs: 20_000, Seconds: 1.5, Rate: 12_500},
		{Scenario: "reqrep", Target: "wisp", Unit: "req/s", Run: 1, Msgs: 20_000, Seconds: 2, Rate: 10_000},
		{Scenario: "reqrep", Target: "nats-server", Unit: "req/s", Run: 1, Msgs: 20_000, Seconds: 2.5, Rate: 8_000},
	}
	rep.summarise()
	if len(rep.Comparisons) != 2 || !rep.Comparisons[0].TooShort || rep.Comparisons[1].TooShort {
		t.Fatalf("comparisons %+v", rep.Comparisons)
	}
	var text, page bytes.Buffer
	rep.WriteTable(&text)
	rep.WriteHTML(&page)
	flat := strings.Join(strings.Fields(text.String()), " ")
	for _, want := range []string{"pub 5M msgs/s 12.5k msgs/s 400.00 - ok, too short", "reqrep 10k req/s 8k req/s 1.25 - ok", "run them again with: pub/wisp 4ms --msgs 10000000"} {
		if !strings.Contains(flat, want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if !strings.Contains(page.String(), "400.00× (too short to trust)") {
		t.Error("HTML ratio chart does not mark the short comparison")
	}
}

package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

// Report is everything one invocation measured: every run, the median per
// scenario and target, and, when comparing, the ratios.
type Report struct {
	Started     time.Time    `json:"started"`
	Machine     Machine      `json:"machine"`
	Settings    Settings     `json:"settings"`
	Targets     []string     `json:"targets"` // labels, the server under test first
	Results     []Result     `json:"results"`
	Summary     []Summary    `json:"summary"`
	Comparisons []Comparison `json:"comparisons,omitempty"`
}

// Machine describes where the bench ran.
type Machine struct {
	Host string `json:"host"`
	OS   string `json:"os"`
	Arch string `json:"arch"`
	CPUs int    `json:"cpus"`
	Go   string `json:"go"`
}

// Settings are the limits the runs used.
type Settings struct {
	Scenarios []string `json:"scenarios"`
	Msgs      int      `json:"msgs"`
	Size      int      `json:"size"`
	Pubs      int      `json:"pubs,omitempty"`
	Subs      int      `json:"subs,omitempty"`
	Conns     int      `json:"conns"`
	Duration  string   `json:"duration"`
	Runs      int      `json:"runs"`
	Server    string   `json:"server"`
	Compare   string   `json:"compare,omitempty"`
	// Sync is Wisp's stream sync rule when --sync set one.
	Sync string `json:"sync,omitempty"`
}

// Summary is the median over the runs of one scenario on one target. Runs
// that failed their checks are left out of the medians and counted in
// Failed.
type Summary struct {
	Scenario      string   `json:"scenario"`
	Target        string   `json:"target"`
	Version       string   `json:"server_version"`
	Unit          string   `json:"unit"`
	Runs          int      `json:"runs"`
	Failed        int      `json:"failed"`
	Rate          float64  `json:"rate"`
	MBPerSec      float64  `json:"mb_per_sec,omitempty"`
	Seconds       float64  `json:"seconds"` // median length of the measured phase
	Capped        bool     `json:"time_cap_reached,omitempty"`
	Latency       *Latency `json:"latency,omitempty"`
	MemPerConn    float64  `json:"mem_per_conn_bytes,omitempty"`
	CPUPerMillion float64  `json:"cpu_seconds_per_million,omitempty"`
	PeakRSS       int64    `json:"peak_rss_bytes,omitempty"`
	Scope         string   `json:"efficiency_scope,omitempty"`
	Errors        []string `json:"errors,omitempty"`
	Notes         []string `json:"notes,omitempty"`
	// Warnings say why figures should not be trusted (a measured phase
	// under a second) and how to get better ones.
	Warnings []string `json:"warnings,omitempty"`
}

// OK reports whether every run passed its checks.
func (s *Summary) OK() bool { return s.Failed == 0 }

// Comparison sets the server under test (A) against the other (B) for one
// scenario. RateRatio > 1 means A is faster; CPURatio < 1 means A spends
// less CPU per message. A ratio is 0 when either side has no figure.
type Comparison struct {
	Scenario  string  `json:"scenario"`
	Unit      string  `json:"unit"`
	A         string  `json:"a"`
	B         string  `json:"b"`
	RateA     float64 `json:"rate_a"`
	RateB     float64 `json:"rate_b"`
	RateRatio float64 `json:"rate_ratio"`
	CPUA      float64 `json:"cpu_per_million_a,omitempty"`
	CPUB      float64 `json:"cpu_per_million_b,omitempty"`
	CPURatio  float64 `json:"cpu_ratio,omitempty"`
	P99A      float64 `json:"p99_us_a,omitempty"`
	P99B      float64 `json:"p99_us_b,omitempty"`
	OK        bool    `json:"ok"` // both sides passed every check
	// TooShort: a side's measured phase lasted under a second, so the
	// ratio is noise (see the warnings).
	TooShort bool `json:"too_short,omitempty"`
}

func newReport(cfg *Config, targets []*Target) *Report {
	server := "embedded"
	if len(targets) > 0 {
		server = targets[0].Desc
	}
	rep := &Report{
		Started: time.Now().UTC().Truncate(time.Second),
		Machine: Machine{Host: hostname(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), Go: runtime.Version()},
		Settings: Settings{
			Scenarios: cfg.Scenarios, Msgs: cfg.Msgs, Size: cfg.Size, Pubs: cfg.Pubs, Subs: cfg.Subs,
			Conns: cfg.Conns, Duration: cfg.Duration.String(), Runs: cfg.Runs, Server: server,
			Sync: cfg.Sync,
		},
	}
	for i, t := range targets {
		rep.Targets = append(rep.Targets, t.Label)
		if i == 1 {
			rep.Settings.Compare = t.Desc
		}
	}
	return rep
}

// OK reports whether every run passed its checks.
func (r *Report) OK() bool {
	for i := range r.Results {
		if !r.Results[i].OK() {
			return false
		}
	}
	return true
}

// summarise computes the medians and, with two targets, the comparisons.
func (r *Report) summarise() {
	r.Summary, r.Comparisons = nil, nil
	var order []string // scenarios in the order they ran
	byKey := map[[2]string][]*Result{}
	for i := range r.Results {
		res := &r.Results[i]
		key := [2]string{res.Scenario, res.Target}
		if _, seen := byKey[key]; !seen && !contains(order, res.Scenario) {
			order = append(order, res.Scenario)
		}
		byKey[key] = append(byKey[key], res)
	}
	for _, sc := range order {
		for _, t := range r.Targets {
			if runs := byKey[[2]string{sc, t}]; len(runs) > 0 {
				r.Summary = append(r.Summary, summarise(runs, r.Settings))
			}
		}
	}
	if len(r.Targets) < 2 {
		return
	}
	for _, sc := range order {
		a, b := r.find(sc, r.Targets[0]), r.find(sc, r.Targets[1])
		if a == nil || b == nil {
			continue
		}
		c := Comparison{Scenario: sc, Unit: a.Unit, A: a.Target, B: b.Target,
			RateA: a.Rate, RateB: b.Rate, CPUA: a.CPUPerMillion, CPUB: b.CPUPerMillion, OK: a.OK() && b.OK(),
			TooShort: len(a.Warnings)+len(b.Warnings) > 0}
		c.RateRatio = ratio(a.Rate, b.Rate)
		if a.Scope == b.Scope {
			c.CPURatio = ratio(a.CPUPerMillion, b.CPUPerMillion)
		}
		if a.Latency != nil && b.Latency != nil {
			c.P99A, c.P99B = a.Latency.P99, b.Latency.P99
		}
		r.Comparisons = append(r.Comparisons, c)
	}
}

func (r *Report) find(scenario, target string) *Summary {
	for i := range r.Summary {
		if r.Summary[i].Scenario == scenario && r.Summary[i].Target == target {
			return &r.Summary[i]
		}
	}
	return nil
}

func summarise(runs []*Result, st Settings) Summary {
	first := runs[0]
	s := Summary{Scenario: first.Scenario, Target: first.Target, Version: first.Version, Unit: first.Unit, Runs: len(runs)}
	var rate, mb, secs, mem, cpu, rss []float64
	capped := false
	var p50, p90, p99, p999, pmax, mean []float64
	notes := noteSet{}
	for _, res := range runs {
		if res.Version != "" {
			s.Version = res.Version
		}
		for _, n := range res.Notes {
			notes.add(n)
		}
		if !res.OK() {
			s.Failed++
			s.Errors = append(s.Errors, fmt.Sprintf("run %d: %s", res.Run, res.Error))
			continue
		}
		rate = append(rate, res.Rate)
		mb = append(mb, res.MBPerSec)
		secs = append(secs, res.Seconds)
		capped = capped || res.CapReached
		if res.MemPerConn != 0 {
			mem = append(mem, res.MemPerConn)
		}
		if res.Scope != "" {
			s.Scope = res.Scope
			cpu = append(cpu, res.CPUPerMillion)
			rss = append(rss, float64(res.PeakRSS))
		}
		if l := res.Latency; l != nil {
			p50, p90, p99, p999 = append(p50, l.P50), append(p90, l.P90), append(p99, l.P99), append(p999, l.P999)
			pmax, mean = append(pmax, l.Max), append(mean, l.Mean)
		}
	}
	s.Notes = notes.list(len(runs))
	s.Rate, s.MBPerSec, s.Seconds, s.MemPerConn = median(rate), median(mb), median(secs), median(mem)
	s.Capped = capped
	if w := shortWarning(s.Scenario, s.Seconds, capped, st); w != "" {
		s.Warnings = append(s.Warnings, w)
	}
	s.CPUPerMillion, s.PeakRSS = median(cpu), int64(median(rss))
	if len(p50) > 0 {
		s.Latency = &Latency{Count: int64(len(p50)), P50: median(p50), P90: median(p90), P99: median(p99),
			P999: median(p999), Max: median(pmax), Mean: median(mean)}
	}
	return s
}

// noteSet merges the notes of several runs: notes that differ only in
// their numbers ("time cap reached after 51520 of ...") are one note,
// shown as the first run's text with a count of runs.
type noteSet struct {
	keys  []string
	first map[string]string
	count map[string]int
}

func (ns *noteSet) add(note string) {
	key := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return '#'
		}
		return r
	}, note)
	if ns.first == nil {
		ns.first, ns.count = map[string]string{}, map[string]int{}
	}
	if _, ok := ns.first[key]; !ok {
		ns.keys = append(ns.keys, key)
		ns.first[key] = note
	}
	ns.count[key]++
}

func (ns *noteSet) list(runs int) []string {
	var out []string
	for _, k := range ns.keys {
		n := ns.first[k]
		if runs > 1 {
			n = fmt.Sprintf("%s (%d of %d runs; this is the first)", n, ns.count[k], runs)
		}
		out = append(out, n)
	}
	return out
}

func ratio(a, b float64) float64 {
	if a == 0 || b == 0 {
		return 0
	}
	return a / b
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadJSON parses a report written by WriteJSON.
func ReadJSON(rd io.Reader) (*Report, error) {
	var r Report
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("bench report: %w", err)
	}
	return &r, nil
}

// bytesIEC formats a byte count as KiB/MiB/GiB.
func bytesIEC(n int64) string {
	v := float64(n)
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", v/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}

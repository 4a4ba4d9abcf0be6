package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Run runs every chosen scenario Runs times on the server under test and,
// with Compare, on the other server, alternating A B A B so that drift in
// a noisy machine falls on both alike. A scenario that fails its checks
// is recorded with its error and the run goes on; the error returned is
// for problems that stop everything (bad config, cancelled context).
func Run(ctx context.Context, cfg *Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	targets, err := makeTargets(cfg)
	if err != nil {
		return nil, err
	}
	rep := newReport(cfg, targets)
	var plan []plannedRun
	for _, name := range cfg.Scenarios {
		for run := 1; run <= cfg.Runs; run++ {
			for ti, t := range targets {
				plan = append(plan, plannedRun{scenario: name, target: t.Label, ti: ti, run: run})
			}
		}
	}
	st := newStatus(cfg.Progress, plan, cfg.Runs, len(targets), time.Now())
	defer st.close()
	for k, p := range plan {
		if err := ctx.Err(); err != nil {
			rep.summarise()
			return rep, err
		}
		t := targets[p.ti]
		st.startRun(k, time.Now())
		res := runOne(ctx, cfg, t, lookup(p.scenario), p.run, st)
		st.endRun(time.Now())
		rep.Results = append(rep.Results, *res)
		if cfg.Log != nil {
			text := res.line() + "\n"
			if w := shortWarning(res.Scenario, res.Seconds, res.CapReached, rep.Settings); w != "" && res.OK() {
				text += "  warning: " + w + "\n"
			}
			st.print(cfg.Log, text)
		}
	}
	rep.summarise()
	return rep, nil
}

// makeTargets returns the server under test and, with Compare, the other.
func makeTargets(cfg *Config) ([]*Target, error) {
	where := cfg.Server
	if where == "" {
		where = cfg.Binary
	}
	label := "wisp"
	if cfg.Sync == SyncInterval {
		label = "wisp-interval" // says which durability the figures are for
	}
	a, err := newTarget(label, where, cfg.StartEmbedded)
	if err != nil {
		return nil, err
	}
	a.sync = cfg.Sync
	a.embeddedMQTT = cfg.StartEmbeddedMQTT
	targets := []*Target{a}
	if cfg.Compare != "" {
		label := "other"
		if !isURL(cfg.Compare) {
			if base := filepath.Base(cfg.Compare); base != "wisp" {
				label = base
			}
		}
		if cfg.CompareSync != "" {
			label += "-sync-" + cfg.CompareSync // says which durability its figures are for
		}
		b, err := newTarget(label, cfg.Compare, nil)
		if err != nil {
			return nil, err
		}
		b.otherSync = cfg.CompareSync
		targets = append(targets, b)
	}
	return targets, nil
}

// runOne starts (or reaches) the target's server, runs the scenario on it,
// and measures the server's resources where it is local.
func runOne(ctx context.Context, cfg *Config, t *Target, sc *Scenario, run int, st *status) *Result {
	res := &Result{Scenario: sc.Name, Target: t.Label, Server: t.Desc, Run: run, Size: cfg.Size, Unit: sc.Unit}
	var in *instance
	var err error
	switch {
	case sc.Cluster > 0:
		in, err = t.startCluster(sc.Cluster, sc.JetStream)
	case sc.Websocket:
		in, err = t.startWebsocket()
	case sc.MQTT:
		in, err = t.startMQTT()
	default:
		in, err = t.start(sc.JetStream)
	}
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer in.stop()
	res.Version = in.version
	env := newEnv(in.url, cfg, res)
	env.URLs = in.urls
	env.status = st
	switch {
	case len(in.pids) > 0:
		pids := in.pids
		env.sample = func() sample { return sumCPU(pids) }
	case in.pid > 0:
		pid := in.pid
		env.sample = func() sample {
			cpu, err := procCPU(pid)
			return sample{cpu: cpu, ok: err == nil}
		}
		env.mem = func() int64 {
			rss, _, _ := procMem(pid)
			return rss
		}
	case in.self:
		env.sample = func() sample {
			cpu, err := selfCPU()
			return sample{cpu: cpu, ok: err == nil}
		}
		env.mem = heapInUse
	}
	err = sc.run(ctx, env)
	if err != nil {
		res.Error = err.Error()
	}
	if !env.began.IsZero() && env.ended.After(env.began) {
		res.Seconds = env.ended.Sub(env.began).Seconds()
		res.Rate = float64(res.Msgs) / res.Seconds
		if sc.Unit != "conns/s" {
			res.MBPerSec = res.Rate * float64(cfg.Size) / 1e6
		}
	}
	if env.cpu0.ok && env.cpu1.ok {
		res.CPUSeconds = (env.cpu1.cpu - env.cpu0.cpu).Seconds()
		if res.Msgs > 0 {
			res.CPUPerMillion = res.CPUSeconds / float64(res.Msgs) * 1e6
		}
	}
	switch {
	case len(in.pids) > 0:
		var total int64
		for _, pid := range in.pids {
			if _, peak, err := procMem(pid); err == nil {
				total += peak
			}
		}
		res.PeakRSS, res.Scope = total, ScopeServer
	case in.pid > 0:
		if _, peak, err := procMem(in.pid); err == nil {
			res.PeakRSS, res.Scope = peak, ScopeServer
		}
	case in.self:
		if peak, err := selfPeakRSS(); err == nil {
			res.PeakRSS, res.Scope = peak, ScopeProcess
		}
	}
	if res.Scope == "" {
		res.CPUSeconds, res.CPUPerMillion = 0, 0
	}
	return res
}

// sumCPU is the CPU time used by every process of a cluster.
func sumCPU(pids []int) sample {
	s := sample{ok: true}
	for _, pid := range pids {
		cpu, err := procCPU(pid)
		if err != nil {
			return sample{}
		}
		s.cpu += cpu
	}
	return s
}

// heapInUse is the embedded server's memory measure: Go heap and stacks in
// use after a collection, for the whole process.
func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse + ms.StackInuse)
}

// line is the one-line log of a finished run.
func (r *Result) line() string {
	took := time.Duration(r.Seconds * float64(time.Second)).Round(time.Millisecond)
	s := fmt.Sprintf("%-16s %-13s run %d: %s %s in %v", r.Scenario, r.Target, r.Run, si(r.Rate), r.Unit, took)
	if r.Error != "" {
		s += "  ERROR: " + r.Error
	}
	return s
}

// hostname is for the report header; failure is not worth an error.
func hostname() string {
	h, _ := os.Hostname()
	return h
}

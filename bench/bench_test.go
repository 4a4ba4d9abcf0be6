package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
)

// serverEnv makes this test binary act as a server binary: started with
// it set, it runs a core Wisp server on the -a/-p it is given until
// SIGINT or SIGTERM. The --compare tests start it as a child process, the
// way wisp bench starts nats-server.
const serverEnv = "WISP_BENCH_TEST_SERVER"

// argsFileEnv, set with serverEnv, names a file where the test server
// writes its arguments and its config file's content, for tests of what a
// started binary is given.
const argsFileEnv = "WISP_BENCH_TEST_ARGS"

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) == "1" {
		os.Exit(serveForTest(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func serveForTest(args []string) int {
	opts := &server.Options{Host: "127.0.0.1"}
	record := strings.Join(args, " ") + "\n"
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "-a":
			opts.Host = args[i+1]
		case "-p":
			fmt.Sscan(args[i+1], &opts.Port)
		case "-c":
			b, err := os.ReadFile(args[i+1])
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			record += string(b)
		}
	}
	// The command line as wisp reads it: a config file's MQTT port is
	// opened (a listener that serves nothing), so the bench sees it
	// listening.
	c, err := conf.Load(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if c.Server.Cluster.Port != 0 {
		// A node of a cluster scenario's cluster: the flags as wisp
		// reads them (name, monitoring port, cluster), so the bench's
		// wait for a full mesh on /routez sees the real thing.
		opts = &c.Server
	}
	if c.MQTT != nil {
		ln, err := net.Listen("tcp", net.JoinHostPort(c.MQTT.Host, strconv.Itoa(c.MQTT.Port)))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer ln.Close()
	}
	if path := os.Getenv(argsFileEnv); path != "" {
		if err := os.WriteFile(path, []byte(record), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	var stopServer func()
	if c.JetStream && c.Server.Cluster.Port != 0 {
		// A node of a replicated-stream scenario's cluster.
		stopServer, err = startReplicatedNode(c)
	} else {
		var srv *server.Server
		srv, err = server.New(opts, slog.New(slog.DiscardHandler))
		if err == nil {
			err = srv.Start()
		}
		stopServer = func() { shutdownServer(srv) }
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Minute): // never outlive a test run
	}
	stopServer()
	return 0
}

// quick is a small configuration: every scenario finishes in well under a
// second on a loaded machine, and the time cap is far above that, so
// hitting it means something is wrong.
func quick(scenarios ...string) *Config {
	return &Config{
		Scenarios: scenarios,
		Msgs:      2000,
		Size:      64,
		Subs:      3,
		Conns:     50,
		Duration:  20 * time.Second,
	}
}

// run runs cfg and fails the test on any error or failed check.
func run(t *testing.T, cfg *Config) *Report {
	t.Helper()
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if !r.OK() {
			t.Errorf("%s on %s: %s", r.Scenario, r.Target, r.Error)
		}
		if r.CapReached {
			t.Errorf("%s on %s: time cap reached: %v", r.Scenario, r.Target, r.Notes)
		}
	}
	return rep
}

// TestCoreScenarios runs each core scenario against an embedded server and
// checks it counted what it was asked to.
func TestCoreScenarios(t *testing.T) {
	for _, name := range CoreScenarios() {
		t.Run(name, func(t *testing.T) {
			cfg := quick(name)
			rep := run(t, cfg)
			if len(rep.Results) != 1 {
				t.Fatalf("%d results, want 1", len(rep.Results))
			}
			r := rep.Results[0]
			want := int64(cfg.Msgs)
			switch name {
			case "fanout":
				want *= int64(cfg.Subs)
			case "conn":
				want = int64(cfg.Conns)
			}
			if r.Msgs != want {
				t.Errorf("counted %d, want %d", r.Msgs, want)
			}
			if r.Rate <= 0 || r.Seconds <= 0 {
				t.Errorf("rate %v over %vs", r.Rate, r.Seconds)
			}
			if r.Scope != ScopeProcess {
				t.Errorf("efficiency scope %q, want %q for the embedded server", r.Scope, ScopeProcess)
			}
			if name == "reqrep" || name == "reqrep-par" {
				l := r.Latency
				if l == nil || l.Count != want || !(l.P50 > 0 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
					t.Errorf("latency %+v", l)
				}
			}
		})
	}
}

// TestTimeCap: a run that cannot finish its count stops at the cap and
// says so, without failing its checks.
func TestTimeCap(t *testing.T) {
	cfg := quick("reqrep")
	cfg.Msgs = 10_000_000
	cfg.Duration = 300 * time.Millisecond
	start := time.Now()
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Results[0]
	if !r.OK() || !r.CapReached || r.Msgs == 0 || r.Msgs >= int64(cfg.Msgs) {
		t.Errorf("result %+v", r)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %v with a 300ms cap", took)
	}
}

// TestJSWithoutStreams: the core server has no stream layer, and the js
// scenarios must say so rather than hang or pass.
func TestJSWithoutStreams(t *testing.T) {
	for _, name := range []string{"js-pub", "js-pub-async", "js-consume"} {
		rep, err := Run(context.Background(), quick(name))
		if err != nil {
			t.Fatal(err)
		}
		if r := rep.Results[0]; !strings.Contains(r.Error, "stream layer not available on this server") {
			t.Errorf("%s: error %q", name, r.Error)
		}
	}
}

// TestChecksCatchMistakes feeds the correctness checks wrong deliveries.
func TestChecksCatchMistakes(t *testing.T) {
	x := newExactlyOnce(5)
	for _, seq := range []uint64{1, 2, 2, 4, 9} {
		x.add(seq)
	}
	err := x.check(5)
	for _, want := range []string{"2 of 5 messages never delivered (first: [3 5])", "1 messages delivered more than once", "1 deliveries with a sequence number that was never sent"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("check: %v; want %q", err, want)
		}
	}
	x = newExactlyOnce(3)
	for seq := uint64(1); seq <= 3; seq++ {
		x.add(seq)
	}
	if err := x.check(3); err != nil {
		t.Errorf("exactly once: %v", err)
	}

	var r receiver
	var last lastSeen
	for _, seq := range []uint64{1, 2, 4, 3} {
		b := make([]byte, 8)
		putSeq(b, seq)
		r.handle(natsMsg(b), &last)
	}
	if r.disorder.Load() != 2 || r.count.Load() != 4 {
		t.Errorf("disorder %d count %d, want 2 and 4", r.disorder.Load(), r.count.Load())
	}
}

// TestReportOutputs: JSON parses back to the same figures; the HTML page
// is self-contained and has its charts.
func TestReportOutputs(t *testing.T) {
	rep := run(t, quick("pub", "reqrep"))
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(&js)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Summary) != 2 || back.Summary[0].Rate != rep.Summary[0].Rate ||
		back.Summary[1].Latency == nil || back.Summary[1].Latency.P99 != rep.Summary[1].Latency.P99 ||
		back.Results[0].Msgs != rep.Results[0].Msgs || back.Machine.CPUs != rep.Machine.CPUs {
		t.Errorf("JSON round trip changed the report:\n%s", js.String())
	}

	var page bytes.Buffer
	if err := rep.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	if n := strings.Count(html, "<svg"); n != 2 {
		t.Errorf("%d <svg> charts, want 2 (throughput, latency)", n)
	}
	for _, want := range []string{"<!DOCTYPE html>", "Throughput per scenario", "latency percentiles", ">pub<", ">reqrep<", "p99.9", "</html>"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, external := range []string{"<script", "src=", "href=", "@import", "url("} {
		if strings.Contains(html, external) {
			t.Errorf("HTML is not self-contained: has %q", external)
		}
	}

	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "reqrep") || !strings.Contains(table.String(), "round trip in µs") {
		t.Errorf("table:\n%s", table.String())
	}
}

// startServers starts n embedded core servers for a test.
func startServers(t *testing.T, n int) []string {
	var urls []string
	for range n {
		url, stop, err := startCoreServer(false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		urls = append(urls, url)
	}
	return urls
}

// TestCompareURLs compares two running servers given by URL: runs
// alternate A B A B, and each scenario gets a ratio of medians.
func TestCompareURLs(t *testing.T) {
	urls := startServers(t, 2)
	cfg := quick("pub", "reqrep")
	cfg.Server, cfg.Compare, cfg.Runs = urls[0], urls[1], 2
	rep := run(t, cfg)
	var order []string
	for _, r := range rep.Results {
		order = append(order, r.Scenario+"/"+r.Target)
	}
	want := "pub/wisp pub/other pub/wisp pub/other reqrep/wisp reqrep/other reqrep/wisp reqrep/other"
	if got := strings.Join(order, " "); got != want {
		t.Errorf("run order %s, want %s", got, want)
	}
	if len(rep.Comparisons) != 2 {
		t.Fatalf("%d comparisons, want 2", len(rep.Comparisons))
	}
	for _, c := range rep.Comparisons {
		if !c.OK || c.RateRatio <= 0 || c.RateRatio != c.RateA/c.RateB {
			t.Errorf("comparison %+v", c)
		}
		if c.CPURatio != 0 {
			t.Errorf("%s: a CPU ratio for servers that are not local processes", c.Scenario)
		}
	}
	if rep.Summary[0].Runs != 2 {
		t.Errorf("summary of %d runs, want 2", rep.Summary[0].Runs)
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	if !strings.Contains(table.String(), "rate ratio") {
		t.Errorf("no comparison in the table:\n%s", table.String())
	}
}

// TestCompareBinaries starts a fresh server child process per run on both
// sides, as with --compare nats-server, and reads their CPU and peak RSS.
func TestCompareBinaries(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	t.Setenv(serverEnv, "1")
	cfg := quick("pubsub", "conn")
	cfg.Binary, cfg.Compare = self, self
	rep := run(t, cfg)
	if len(rep.Results) != 4 || len(rep.Comparisons) != 2 {
		t.Fatalf("%d results, %d comparisons", len(rep.Results), len(rep.Comparisons))
	}
	for _, r := range rep.Results {
		if r.Scope != ScopeServer || r.PeakRSS <= 0 || r.Server != self {
			t.Errorf("%s/%s: scope %q, peak RSS %d, server %q", r.Scenario, r.Target, r.Scope, r.PeakRSS, r.Server)
		}
		if r.Scenario == "conn" && r.MemPerConn == 0 {
			t.Errorf("conn/%s: no memory per connection", r.Target)
		}
	}
}

// TestBinaryThatFails: a binary that exits at once is reported with its
// output, not waited for.
func TestBinaryThatFails(t *testing.T) {
	cfg := quick("pub")
	cfg.Binary = "false"
	rep, err := Run(context.Background(), cfg)
	if errors.Is(err, ErrUsage) {
		t.Skip("no false(1) in PATH")
	}
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Results[0]; !strings.Contains(r.Error, "exited at start") {
		t.Errorf("error %q", r.Error)
	}
	if rep.OK() {
		t.Error("report OK with a failed run")
	}
}

// The report names a Wisp server by its own version, not by the
// nats-server level it advertises to clients in INFO's version.
func TestProbeReportsWispVersion(t *testing.T) {
	url, stop, err := startCoreServer(false)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	info, err := probe(url, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.serverVersion(); !strings.HasPrefix(got, "wisp ") {
		t.Fatalf("server version %q, want Wisp's own", got)
	}
	if got := (infoLine{Version: "2.15.2"}).serverVersion(); got != "2.15.2" {
		t.Fatalf("nats-server version %q", got)
	}
}

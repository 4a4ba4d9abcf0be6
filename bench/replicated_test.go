package bench

import (
	"errors"
	"os"
	"slices"
	"testing"
	"time"
)

// TestReplicatedScenarios runs each replicated-stream scenario against a
// cluster of three processes of this test binary, each a clustered Wisp
// with streams and replication (started with the cluster flags plus -js
// -sd DIR, as wisp bench starts wisp and nats-server): every publish
// acknowledged in sequence, every message consumed and acknowledged, the
// three processes measured, and the synchronous publishes' latencies
// recorded.
func TestReplicatedScenarios(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	t.Setenv(serverEnv, "1")
	for _, name := range ReplicatedScenarios() {
		t.Run(name, func(t *testing.T) {
			cfg := quick(name)
			cfg.Msgs = 200 // every commit is fsynced by two of three logs
			cfg.Duration = 60 * time.Second
			cfg.Binary = self
			rep := run(t, cfg)
			if len(rep.Results) != 1 {
				t.Fatalf("%d results, want 1", len(rep.Results))
			}
			r := rep.Results[0]
			if r.Msgs != int64(cfg.Msgs) || r.CapReached {
				t.Errorf("counted %d, want %d (notes %v)", r.Msgs, cfg.Msgs, r.Notes)
			}
			if r.Scope != ScopeServer || r.PeakRSS <= 0 {
				t.Errorf("scope %q, peak RSS %d: the three processes were not measured", r.Scope, r.PeakRSS)
			}
			sync := name == "r3-pub" || name == "r3-pub-leader"
			if sync && (r.Latency == nil || r.Latency.Count != int64(cfg.Msgs)) {
				t.Errorf("latency %+v, want %d round trips", r.Latency, cfg.Msgs)
			}
		})
	}
}

// The replicated-stream scenarios need server processes: the embedded
// target refuses them with a usage error before anything starts, and
// NeedsBinary tells wisp bench to run its own binary for them.
func TestReplicatedScenarioNeedsBinary(t *testing.T) {
	tg, err := newTarget("wisp", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tg.startCluster(3, true); !errors.Is(err, ErrUsage) {
		t.Fatalf("embedded target: %v, want a usage error", err)
	}
	if !NeedsBinary([]string{"pub", "r3-consume"}) || NeedsBinary([]string{"pub", "cluster-pubsub", "js-pub"}) {
		t.Error("NeedsBinary picks the wrong scenarios")
	}
}

// With --compare-sync always, the compared server's cluster nodes get a
// config file with nats-server's sync_interval set to always (Wisp's own
// --sync goes to the Wisp side only), and its figures are labelled so.
func TestCompareSyncAlways(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	cfg := quick("r3-pub")
	cfg.Binary, cfg.Compare, cfg.CompareSync, cfg.Sync = self, self, SyncAlways, SyncInterval
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	targets, err := makeTargets(cfg)
	if err != nil {
		t.Fatal(err)
	}
	wisp, other := targets[0].clusterConfig(true), targets[1].clusterConfig(true)
	if want := []string{`jetstream = { sync = "interval" }`}; !slices.Equal(wisp.lines, want) {
		t.Errorf("wisp's config %q, want %q", wisp.lines, want)
	}
	if want := []string{`jetstream = { sync_interval = "always" }`}; !slices.Equal(other.lines, want) {
		t.Errorf("compared server's config %q, want %q", other.lines, want)
	}
	if !other.jetstream || targets[1].Label != "bench.test-sync-always" {
		t.Errorf("compared target %q, streams %v", targets[1].Label, other.jetstream)
	}
	// A cluster without streams (the routed-delivery scenarios) gets no
	// config file.
	if c := targets[1].clusterConfig(false); c.jetstream || len(c.lines) > 0 {
		t.Errorf("cluster without streams: %+v", c)
	}
}

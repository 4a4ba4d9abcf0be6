package bench

import (
	"os"
	"testing"
)

// TestClusterScenarios runs each cluster scenario against an embedded
// 3-node cluster and checks it counted what it was asked to: every
// delivery crossed a route and passed the scenario's checks.
func TestClusterScenarios(t *testing.T) {
	for _, name := range ClusterScenarios() {
		t.Run(name, func(t *testing.T) {
			cfg := quick(name)
			rep := run(t, cfg)
			if len(rep.Results) != 1 {
				t.Fatalf("%d results, want 1", len(rep.Results))
			}
			r := rep.Results[0]
			want := int64(cfg.Msgs)
			if name == "cluster-fanout" {
				want *= int64(cfg.Subs)
			}
			if r.Msgs != want {
				t.Errorf("counted %d, want %d", r.Msgs, want)
			}
		})
	}
}

// The cluster scenarios start their own cluster, so a URL target is a
// usage error, said before anything runs.
func TestClusterScenarioNeedsStartableServer(t *testing.T) {
	tg, err := newTarget("wisp", "nats://127.0.0.1:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tg.startCluster(3, false); err == nil {
		t.Fatal("a URL target started a cluster")
	}
}

// With binaries on both sides, as with --compare nats-server, a cluster
// scenario starts three processes per run with nats-server's cluster
// flags, waits for their full mesh on /routez, and measures the three
// processes.
func TestClusterCompareBinaries(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	t.Setenv(serverEnv, "1")
	cfg := quick("cluster-pubsub")
	cfg.Binary, cfg.Compare = self, self
	rep := run(t, cfg)
	if len(rep.Results) != 2 || len(rep.Comparisons) != 1 {
		t.Fatalf("%d results, %d comparisons", len(rep.Results), len(rep.Comparisons))
	}
	for _, r := range rep.Results {
		if r.Scope != ScopeServer || r.PeakRSS <= 0 || r.Server != self || r.Msgs != int64(cfg.Msgs) {
			t.Errorf("%s/%s: scope %q, peak RSS %d, server %q, %d msgs", r.Scenario, r.Target, r.Scope, r.PeakRSS, r.Server, r.Msgs)
		}
	}
	// The run is too short for a CPU figure worth comparing; that the
	// processes were measured at all shows in their peak RSS.
	if c := rep.Comparisons[0]; !c.OK || c.RateRatio <= 0 {
		t.Errorf("comparison %+v", c)
	}
}

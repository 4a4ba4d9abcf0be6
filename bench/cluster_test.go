package bench

import (
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
	if _, err := tg.startCluster(3); err == nil {
		t.Fatal("a URL target started a cluster")
	}
}

package server

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMonitorMetaCluster: the meta group reported by the replication layer
// shows in /jsz as meta_cluster (nats-server's shape) and in /metrics as
// raft figures; without it neither appears.
func TestMonitorMetaCluster(t *testing.T) {
	s := startMonitored(t, func(o *Options) { o.JetStream = true })
	s.SetJetStreamReporter(func() (JetStreamReport, error) { return fakeJetStream, nil })
	var jz map[string]any
	monGet(t, s, "/jsz", http.StatusOK, &jz)
	if _, ok := jz["meta_cluster"]; ok {
		t.Fatal("meta_cluster without a meta group")
	}
	if _, ok := scrape(t, s)["wisp_raft_term"]; ok {
		t.Fatal("raft metrics without a meta group")
	}

	rep := fakeJetStream
	rep.Meta = &MetaClusterReport{
		Name: "east", Leader: "n2", Size: 3, Term: 4, Commit: 17, Applied: 16, LeaderChanges: 2,
		Replicas: []MetaPeerReport{
			{Name: "n2", Current: true, Active: 150 * time.Millisecond},
			{Name: "n3", Active: -1, Lag: 5},
		},
	}
	s.SetJetStreamReporter(func() (JetStreamReport, error) { return rep, nil })
	var got Jsz
	monGet(t, s, "/jsz", http.StatusOK, &got)
	mc := got.MetaCluster
	if mc == nil || mc.Name != "east" || mc.Leader != "n2" || mc.Size != 3 || len(mc.Replicas) != 2 {
		t.Fatalf("meta_cluster = %+v", mc)
	}
	if r := mc.Replicas[0]; r.Name != "n2" || !r.Current || r.Offline || r.Active != 150*time.Millisecond {
		t.Errorf("n2: %+v", r)
	}
	if r := mc.Replicas[1]; r.Name != "n3" || r.Current || !r.Offline || r.Lag != 5 {
		t.Errorf("n3: %+v", r)
	}
	mfs := scrape(t, s)
	for name, want := range map[string]float64{
		"wisp_raft_term": 4, "wisp_raft_commit_index": 17, "wisp_raft_applied_index": 16,
		"wisp_raft_leader_changes_total": 2, "wisp_raft_is_leader": 0, "wisp_raft_apply_lag": 1,
	} {
		if v, ok := metricValue(mfs, name, "group", "meta"); !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
}

// TestMonitorRaftLogFault: a clustered server whose raft log failed says
// so in /healthz (503, naming the cause) and in /metrics (writable 0, the
// failures and reopens counted); once it recovered, /healthz is ok again.
func TestMonitorRaftLogFault(t *testing.T) {
	s := startMonitored(t, func(o *Options) { o.JetStream = true })
	rep := fakeJetStream
	rep.Meta = &MetaClusterReport{Name: "east", LogFault: "pebble: fatal commit error: no space left on device", LogFailures: 1}
	s.SetJetStreamReporter(func() (JetStreamReport, error) { return rep, nil })
	var h healthz
	monGet(t, s, "/healthz", http.StatusServiceUnavailable, &h)
	if h.Status != "unavailable" || !strings.Contains(h.Error, "raft log failed") || !strings.Contains(h.Error, "no space left") {
		t.Fatalf("/healthz with a failed raft log: %+v", h)
	}
	mfs := scrape(t, s)
	for name, want := range map[string]float64{"wisp_raft_log_writable": 0, "wisp_raft_log_failures_total": 1, "wisp_raft_log_reopens_total": 0} {
		if v, ok := metricValue(mfs, name); !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if _, ok := mfs["wisp_raft_term"]; ok {
		t.Error("meta group metrics before the group formed")
	}

	recovered := rep
	recovered.Meta = &MetaClusterReport{Name: "east", LogFailures: 1, LogReopens: 1}
	s.SetJetStreamReporter(func() (JetStreamReport, error) { return recovered, nil })
	monGet(t, s, "/healthz", http.StatusOK, &h)
	if v, ok := metricValue(scrape(t, s), "wisp_raft_log_writable"); !ok || v != 1 {
		t.Errorf("wisp_raft_log_writable after recovery = %v (present %v), want 1", v, ok)
	}
}

// TestMonitorRaftGroupHalted: a raft group that a raft panic halted on a
// server makes /healthz fail, naming the group and the panic, and shows in
// /metrics with the replicas that found they lost acknowledged entries.
func TestMonitorRaftGroupHalted(t *testing.T) {
	s := startMonitored(t, func(o *Options) { o.JetStream = true })
	rep := fakeJetStream
	rep.Meta = &MetaClusterReport{Name: "east", LostLogs: 2,
		HaltedGroups: []string{"group 7: consensus: group 7: raft panicked in step MsgApp from 1: index, 9, is out of range [1]"}}
	s.SetJetStreamReporter(func() (JetStreamReport, error) { return rep, nil })
	var h healthz
	monGet(t, s, "/healthz", http.StatusServiceUnavailable, &h)
	if h.Status != "unavailable" || !strings.Contains(h.Error, "raft groups halted") || !strings.Contains(h.Error, "group 7") {
		t.Fatalf("/healthz with a halted group: %+v", h)
	}
	mfs := scrape(t, s)
	for name, want := range map[string]float64{"wisp_raft_groups_halted": 1, "wisp_raft_lost_log_total": 2} {
		if v, ok := metricValue(mfs, name); !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}

	fine := rep
	fine.Meta = &MetaClusterReport{Name: "east", LostLogs: 2}
	s.SetJetStreamReporter(func() (JetStreamReport, error) { return fine, nil })
	monGet(t, s, "/healthz", http.StatusOK, &h)
	if v, ok := metricValue(scrape(t, s), "wisp_raft_groups_halted"); !ok || v != 0 {
		t.Errorf("wisp_raft_groups_halted with none halted = %v (present %v), want 0", v, ok)
	}
}

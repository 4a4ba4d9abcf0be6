package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MetaClusterReport is the cluster's meta group (replication) as this
// server sees it; the replication layer fills it through the stream
// layer's reporter (JetStreamReport.Meta).
type MetaClusterReport struct {
	Name   string // the cluster's name
	Leader string // "" while no leader is known
	// LeaderPeer is the leader's raft id (decimal), "" while none is
	// known: the id `nats server raft peer-remove` may be given.
	LeaderPeer string
	IsLeader   bool
	Size       int
	Replicas   []MetaPeerReport // the members other than this server
	// Raft's figures for the group on this server.
	Term, Commit, Applied, LeaderChanges uint64
	// LogFault is why this server's raft log cannot be written ("" when it
	// can): until it is reopened the server takes part in no raft group.
	// LogFailures and LogReopens count failed writes and recoveries.
	LogFault                string
	LogFailures, LogReopens uint64
	// HaltedGroups are the raft groups a raft panic stopped on this server
	// ("group N: why"), until it restarts; LostLogs counts the times a
	// replica here found it had lost entries it acknowledged and went to
	// recover them from its peers.
	HaltedGroups []string
	LostLogs     uint64
	// Snapshots are the raft snapshots this server sent to and received
	// from its peers, of every group: how lagging and new replicas catch up.
	Snapshots RaftSnapshotReport
}

// RaftSnapshotReport counts raft snapshot transfers on this server since
// it started; Sending and Receiving are those under way.
type RaftSnapshotReport struct {
	Sent, SendFailed, Sending          uint64
	Received, ReceiveFailed, Receiving uint64
	BytesSent, BytesReceived           uint64
	// Installed counts snapshots raft applied here, InstallsFailed the
	// attempts whose state did not install.
	Installed, InstallsFailed uint64
}

// MetaPeerReport is one member of the meta group.
type MetaPeerReport struct {
	Name    string
	Peer    string // its raft id (decimal), "" when unknown
	Current bool
	Active  time.Duration // since last heard from; -1 never
	Lag     uint64
}

// MetaClusterInfo is /jsz's meta_cluster, in nats-server's shape.
type MetaClusterInfo struct {
	Name     string          `json:"name,omitempty"`
	Leader   string          `json:"leader,omitempty"`
	Replicas []*MetaPeerInfo `json:"replicas,omitempty"`
	Size     int             `json:"cluster_size"`
	Pending  int             `json:"pending"`
	// Peer is the leader's raft id, the ID column the nats CLI shows
	// for it in `nats server report jetstream`; QuorumNeeded is how many
	// members must agree (its "Quorum Sz").
	Peer         string `json:"peer,omitempty"`
	QuorumNeeded int    `json:"quorum_needed,omitempty"`
}

// MetaPeerInfo is one replica in meta_cluster.
type MetaPeerInfo struct {
	Name    string        `json:"name"`
	Peer    string        `json:"peer,omitempty"`
	Current bool          `json:"current"`
	Offline bool          `json:"offline,omitempty"`
	Active  time.Duration `json:"active"`
	Lag     uint64        `json:"lag,omitempty"`
}

func metaClusterInfo(r *MetaClusterReport, routed map[string]bool) *MetaClusterInfo {
	if r == nil {
		return nil
	}
	mc := &MetaClusterInfo{Name: r.Name, Leader: r.Leader, Peer: r.LeaderPeer, Size: r.Size, Replicas: peerInfos(r.Replicas, routed)}
	if r.Size > 0 {
		mc.QuorumNeeded = r.Size/2 + 1
	}
	return mc
}

// peerInfos is a group's members in monitoring's shape. With routed (the
// servers this one has a route to) given, a member is offline when there
// is no route to it: a stopped or cut-off server shows as offline at
// once, not only as no longer current (the nats CLI's "Online" column
// reads offline), and a follower does not call the other followers
// offline because raft has it hear from its leader only. Without routes
// known, a member never heard from is offline.
func peerInfos(peers []MetaPeerReport, routed map[string]bool) []*MetaPeerInfo {
	var out []*MetaPeerInfo
	for _, p := range peers {
		pi := &MetaPeerInfo{Name: p.Name, Peer: p.Peer, Current: p.Current, Active: max(p.Active, 0), Lag: p.Lag}
		switch {
		case routed != nil:
			pi.Offline = !routed[p.Name]
		case p.Active < 0:
			pi.Offline = true
		}
		if pi.Offline {
			pi.Current = false
		}
		out = append(out, pi)
	}
	return out
}

// RoutedServers names the servers this one has a route to, and itself
// (a follower lists itself among a stream's replicas), nil when it is not
// clustered.
func (s *Server) RoutedServers() map[string]bool {
	cl := s.cl
	if cl == nil {
		return nil
	}
	names := map[string]bool{s.name: true}
	for _, r := range cl.registered() {
		cl.mu.Lock()
		if n := r.remote.ServerName; n != "" {
			names[n] = true
		}
		cl.mu.Unlock()
	}
	return names
}

var (
	mRaftTerm = prometheus.NewDesc("wisp_raft_term",
		"Current raft term of the group on this server.", []string{"group"}, nil)
	mRaftCommit = prometheus.NewDesc("wisp_raft_commit_index",
		"Highest log index this server knows to be committed in the group.", []string{"group"}, nil)
	mRaftApplied = prometheus.NewDesc("wisp_raft_applied_index",
		"Highest log index this server has applied in the group.", []string{"group"}, nil)
	mRaftLeaderChanges = prometheus.NewDesc("wisp_raft_leader_changes_total",
		"Leader (or term) changes this server has seen in the group.", []string{"group"}, nil)
	mRaftIsLeader = prometheus.NewDesc("wisp_raft_is_leader",
		"1 when this server leads the group.", []string{"group"}, nil)
	mRaftApplyLag = prometheus.NewDesc("wisp_raft_apply_lag",
		"Committed entries of the group this server has not applied yet.", []string{"group"}, nil)
	mRaftLogWritable = prometheus.NewDesc("wisp_raft_log_writable",
		"1 while this server's raft log takes writes; 0 after a write failed (full disk, I/O error) until it is reopened.", nil, nil)
	mRaftLogFailures = prometheus.NewDesc("wisp_raft_log_failures_total",
		"Writes of this server's raft log that failed.", nil, nil)
	mRaftLogReopens = prometheus.NewDesc("wisp_raft_log_reopens_total",
		"Times this server's raft log was reopened after a failed write.", nil, nil)
	mRaftGroupsHalted = prometheus.NewDesc("wisp_raft_groups_halted",
		"Raft groups stopped on this server by a raft panic; they take no part here until it restarts.", nil, nil)
	mRaftLostLogs = prometheus.NewDesc("wisp_raft_lost_log_total",
		"Times a replica on this server found it had lost entries it acknowledged and recovered them from its peers.", nil, nil)
	mRaftSnapshotsSent = prometheus.NewDesc("wisp_raft_snapshots_sent_total",
		"Raft snapshots this server sent whole to a peer catching up (with a streamed state the peer verified).", nil, nil)
	mRaftSnapshotsSendFailed = prometheus.NewDesc("wisp_raft_snapshots_send_failed_total",
		"Raft snapshots this server began sending that ended early; raft sends them again.", nil, nil)
	mRaftSnapshotsReceived = prometheus.NewDesc("wisp_raft_snapshots_received_total",
		"Raft snapshots this server received whole from a peer and handed to raft.", nil, nil)
	mRaftSnapshotsReceiveFailed = prometheus.NewDesc("wisp_raft_snapshots_receive_failed_total",
		"Raft snapshots this server dropped while receiving them (out of order, checksum mismatch, write failure).", nil, nil)
	mRaftSnapshotBytesSent = prometheus.NewDesc("wisp_raft_snapshot_bytes_sent_total",
		"Bytes of raft snapshots (streamed state and raft's message) this server sent.", nil, nil)
	mRaftSnapshotBytesReceived = prometheus.NewDesc("wisp_raft_snapshot_bytes_received_total",
		"Bytes of raft snapshots (streamed state and raft's message) this server received.", nil, nil)
	mRaftSnapshotsInProgress = prometheus.NewDesc("wisp_raft_snapshots_in_progress",
		"Raft snapshot transfers under way on this server, by direction (send, receive).", []string{"direction"}, nil)
	mRaftSnapshotInstalls = prometheus.NewDesc("wisp_raft_snapshot_installs_total",
		"Raft snapshots applied on this server, replacing a replica's state with its leader's.", nil, nil)
	mRaftSnapshotInstallsFailed = prometheus.NewDesc("wisp_raft_snapshot_installs_failed_total",
		"Attempts to install a received raft snapshot on this server that failed.", nil, nil)
)

var raftDescs = []*prometheus.Desc{mRaftTerm, mRaftCommit, mRaftApplied, mRaftLeaderChanges, mRaftIsLeader, mRaftApplyLag,
	mRaftLogWritable, mRaftLogFailures, mRaftLogReopens, mRaftGroupsHalted, mRaftLostLogs,
	mRaftSnapshotsSent, mRaftSnapshotsSendFailed, mRaftSnapshotsReceived, mRaftSnapshotsReceiveFailed,
	mRaftSnapshotBytesSent, mRaftSnapshotBytesReceived, mRaftSnapshotsInProgress, mRaftSnapshotInstalls, mRaftSnapshotInstallsFailed}

// collectRaft sends the raft log's metrics when clustered, and the meta
// group's once it has formed (Size is known).
func collectRaft(ch chan<- prometheus.Metric, r *MetaClusterReport) {
	if r == nil {
		return
	}
	writable := 1.0
	if r.LogFault != "" {
		writable = 0
	}
	ch <- prometheus.MustNewConstMetric(mRaftLogWritable, prometheus.GaugeValue, writable)
	ch <- prometheus.MustNewConstMetric(mRaftLogFailures, prometheus.CounterValue, float64(r.LogFailures))
	ch <- prometheus.MustNewConstMetric(mRaftLogReopens, prometheus.CounterValue, float64(r.LogReopens))
	ch <- prometheus.MustNewConstMetric(mRaftGroupsHalted, prometheus.GaugeValue, float64(len(r.HaltedGroups)))
	ch <- prometheus.MustNewConstMetric(mRaftLostLogs, prometheus.CounterValue, float64(r.LostLogs))
	collectRaftSnapshots(ch, &r.Snapshots)
	if r.Size == 0 {
		return
	}
	g := "meta"
	gauge := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), g)
	}
	gauge(mRaftTerm, r.Term)
	gauge(mRaftCommit, r.Commit)
	gauge(mRaftApplied, r.Applied)
	if r.Commit > r.Applied {
		gauge(mRaftApplyLag, r.Commit-r.Applied)
	} else {
		gauge(mRaftApplyLag, 0)
	}
	ch <- prometheus.MustNewConstMetric(mRaftLeaderChanges, prometheus.CounterValue, float64(r.LeaderChanges), g)
	leader := uint64(0)
	if r.IsLeader {
		leader = 1
	}
	gauge(mRaftIsLeader, leader)
}

func collectRaftSnapshots(ch chan<- prometheus.Metric, s *RaftSnapshotReport) {
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	counter(mRaftSnapshotsSent, s.Sent)
	counter(mRaftSnapshotsSendFailed, s.SendFailed)
	counter(mRaftSnapshotsReceived, s.Received)
	counter(mRaftSnapshotsReceiveFailed, s.ReceiveFailed)
	counter(mRaftSnapshotBytesSent, s.BytesSent)
	counter(mRaftSnapshotBytesReceived, s.BytesReceived)
	counter(mRaftSnapshotInstalls, s.Installed)
	counter(mRaftSnapshotInstallsFailed, s.InstallsFailed)
	ch <- prometheus.MustNewConstMetric(mRaftSnapshotsInProgress, prometheus.GaugeValue, float64(s.Sending), "send")
	ch <- prometheus.MustNewConstMetric(mRaftSnapshotsInProgress, prometheus.GaugeValue, float64(s.Receiving), "receive")
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/replication"
	"github.com/wisp-mq/wisp/server"
	"github.com/wisp-mq/wisp/stream"
)

// serverNet is replication's Network over the server's routes.
type serverNet struct{ s *server.Server }

func (n serverNet) Send(peer, channel string, payload []byte) error {
	return n.s.ClusterSend(peer, channel, payload)
}
func (n serverNet) Handle(channel string, h func(string, []byte)) { n.s.HandleCluster(channel, h) }
func (n serverNet) Seeds() []string                               { return n.s.ClusterSeeds() }
func (n serverNet) Peers() []replication.Peer {
	ps := n.s.ClusterPeers()
	out := make([]replication.Peer, 0, len(ps))
	for _, p := range ps {
		out = append(out, replication.Peer{Name: p.Name, Streams: p.Streams})
	}
	return out
}

// clustered reports whether cfg asks for replication: streams on a server
// that is part of a cluster.
func clustered(cfg *conf.Config) bool {
	return cfg.JetStream && cfg.Server.Cluster.Port != 0
}

// checkReplication refuses what replication cannot run with: a raft id is
// derived from the server name, which must therefore be set and stable.
func checkReplication(cfg *conf.Config) error {
	if clustered(cfg) && cfg.Server.ServerName == "" {
		return errors.New("a clustered server with streams needs a server name (-n or server_name), unique in the cluster and kept across restarts")
	}
	return nil
}

// startReplication starts this server's replication node (its raft log in
// store_dir/cluster) once the server, and so its routes, run.
func startReplication(cfg *conf.Config, srv *server.Server, layers *streamLayers, log *slog.Logger) (*replication.Node, error) {
	opts := replication.Options{
		Name: srv.Name(), Dir: filepath.Join(cfg.StoreDir, "cluster"), Net: serverNet{srv},
		MaxFrame: server.ClusterFrameMax, Logger: log.With("subsystem", "replication"),
		Accounts: layers.accountNames,
	}
	if tuneReplication != nil {
		tuneReplication(&opts)
	}
	node, err := replication.Start(opts)
	if err != nil {
		return nil, err
	}
	cluster := cfg.Server.Cluster.Name
	layers.meta.Store(&metaReporter{node: node, cluster: cluster})
	srv.SetMetaLeaderStepDown(node.Meta().RequestStepDown)
	// Every account's stream layer may have replicated streams; one an
	// account added by a reload gets is made clustered as it starts.
	if err := layers.setCluster(node, cluster); err != nil {
		node.Close()
		return nil, err
	}
	node.AttachStreams(accountReplicas{layers})
	srv.SetServerRemove(removeServer(node, layers))
	return node, nil
}

// streamCluster is the stream layer's view of replication: the node,
// and the cluster's name for stream info.
type streamCluster struct {
	*replication.Node
	name    string
	account string // the stream layer's account, "" for the global one
	// routed names the servers this one has a route to (and itself), nil
	// when not clustered: a member without a route is offline.
	routed func() map[string]bool
}

func (c streamCluster) Name() string { return c.name }

// placeStream is the node's PlaceStream, with the stream layer's error for too few
// servers.
func (c streamCluster) placeStream(ctx context.Context, name string, replicas int, config []byte, created time.Time) error {
	err := c.Node.PlaceStream(ctx, name, replicas, config, created)
	switch {
	case errors.Is(err, replication.ErrNoPeers):
		return stream.ErrNoPeers
	case errors.Is(err, replication.ErrNoPeersAccount):
		return stream.ErrNoPeersAccount
	}
	return streamErr(err)
}

// GroupStatus converts the node's status of a stream group.
func (c streamCluster) GroupStatus(ctx context.Context, group uint64) stream.GroupInfo {
	gs := c.Node.GroupStatus(ctx, group)
	gi := stream.GroupInfo{Leader: gs.Leader, IsLeader: gs.IsLeader, SelfPeer: raftPeer(c.Node.Self())}
	var routed map[string]bool
	if c.routed != nil {
		routed = c.routed()
	}
	for _, r := range gs.Replicas {
		p := stream.PeerInfo{Name: r.Name, Peer: raftPeer(r.Name), Current: r.Current, Active: r.Active, Lag: r.Lag}
		// Without a route the member is down or cut off: offline, as the
		// nats CLI's health checks read it, not merely "seen a while ago"
		// (a leader that restarted has never heard from it at all).
		if routed != nil && !routed[r.Name] {
			p.Offline, p.Current = true, false
		}
		gi.Replicas = append(gi.Replicas, p)
	}
	return gi
}

// replacePeer is the node's ReplacePeer, with the stream layer's refusals.
func (c streamCluster) replacePeer(ctx context.Context, name string, group uint64, remove string) (string, error) {
	add, err := c.Node.ReplacePeer(ctx, name, group, remove)
	switch {
	case errors.Is(err, replication.ErrNotMember):
		return "", stream.ErrNotMember
	case errors.Is(err, replication.ErrNoReplacement):
		return "", stream.ErrNoReplacement
	}
	return add, err
}

var _ stream.Cluster = streamCluster{}

// removeServer is $JS.API.SERVER.REMOVE: each stream the server holds
// gets another server in its place (through the stream's leader, as a
// peer removal), then the meta group drops the server. A stream that
// cannot be given a replacement stops the removal with its error: the
// server stays a member, and no stream runs short of its replicas.
func removeServer(node *replication.Node, layers *streamLayers) func(ctx context.Context, name, peerID string) error {
	return func(ctx context.Context, name, peerID string) error {
		member, err := node.MetaMember(ctx, name, peerID)
		if errors.Is(err, replication.ErrNotMetaMember) {
			return server.ErrServerNotMember
		}
		if err != nil {
			return err
		}
		for _, key := range node.StreamsOf(member) {
			account, s := splitReplicaKey(key)
			svc := layers.account(account)
			if svc == nil {
				return fmt.Errorf("stream %q: account %q has no stream layer on this server", s, account)
			}
			if err := svc.RemovePeer(ctx, s, member); err != nil {
				return err
			}
		}
		return node.RemoveMetaMember(ctx, member)
	}
}

// tuneReplication, when set (by tests), adjusts the replication options
// (snapshot periods) before the node starts.
var tuneReplication func(*replication.Options)

// metaReporter turns the meta group's status into the server's report.
type metaReporter struct {
	node    *replication.Node
	cluster string
}

func (m *metaReporter) report() *server.MetaClusterReport {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st := m.node.MetaStatus(ctx)
	snaps := m.snapshots()
	if !st.Started {
		return &server.MetaClusterReport{Name: m.cluster, LogFault: st.Log.Fault, LogFailures: st.Log.Failures, LogReopens: st.Log.Reopens,
			HaltedGroups: st.Log.Halted, LostLogs: st.Log.LostLogs, Snapshots: snaps}
	}
	r := &server.MetaClusterReport{
		Name: m.cluster, Leader: st.Leader, LeaderPeer: raftPeer(st.Leader), IsLeader: st.IsLeader, Size: st.Size,
		Term: st.Term, Commit: st.Commit, Applied: st.Applied, LeaderChanges: st.LeaderChanges,
		LogFault: st.Log.Fault, LogFailures: st.Log.Failures, LogReopens: st.Log.Reopens,
		HaltedGroups: st.Log.Halted, LostLogs: st.Log.LostLogs, Snapshots: snaps,
	}
	for _, p := range st.Replicas {
		r.Replicas = append(r.Replicas, server.MetaPeerReport{Name: p.Name, Peer: raftPeer(p.Name), Current: p.Current, Active: p.Active, Lag: p.Lag})
	}
	return r
}

// snapshots counts this server's raft snapshot transfers and installs.
func (m *metaReporter) snapshots() server.RaftSnapshotReport {
	ts := m.node.Transport().SnapshotStats()
	installed, failed := m.node.Host().SnapshotInstalls()
	u := func(v int64) uint64 { return uint64(max(v, 0)) }
	return server.RaftSnapshotReport{
		Sent: u(ts.Sent), SendFailed: u(ts.SendFailed), Sending: u(ts.Sending),
		Received: u(ts.Received), ReceiveFailed: u(ts.ReceiveFailed), Receiving: u(ts.Receiving),
		BytesSent: u(ts.BytesSent), BytesReceived: u(ts.BytesReceived),
		Installed: installed, InstallsFailed: failed,
	}
}

// raftPeer is the raft id of the server named name in the decimal form
// $JS.API.SERVER.REMOVE takes as peer_id ("" for no name): the nats CLI
// shows it in `nats server report jetstream`, and `nats server raft
// peer-remove` sends it for the server it found by name.
func raftPeer(name string) string {
	if name == "" {
		return ""
	}
	return strconv.FormatUint(replication.NodeID(name), 10)
}

// metaSlot holds the meta reporter once replication runs.
type metaSlot = atomic.Pointer[metaReporter]

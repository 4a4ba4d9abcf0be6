package bench

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/replication"
	"github.com/wisp-mq/wisp/server"
	"github.com/wisp-mq/wisp/stream"
)

// The test binary, started as a cluster node with -js -sd DIR (the
// replicated-stream scenarios), runs a clustered Wisp the way cmd/wisp
// wires one: the stream layer in DIR, then, once the server and its
// routes run, replication with its raft log in DIR/cluster. cmd/wisp is a
// main package that bench cannot import, so the few adapters are
// repeated here.

// testNet is replication's Network over the server's routes.
type testNet struct{ s *server.Server }

func (n testNet) Send(peer, channel string, payload []byte) error {
	return n.s.ClusterSend(peer, channel, payload)
}
func (n testNet) Handle(channel string, h func(string, []byte)) { n.s.HandleCluster(channel, h) }
func (n testNet) Seeds() []string                               { return n.s.ClusterSeeds() }
func (n testNet) Peers() []replication.Peer {
	var out []replication.Peer
	for _, p := range n.s.ClusterPeers() {
		out = append(out, replication.Peer{Name: p.Name, Streams: p.Streams})
	}
	return out
}

// testCluster is the stream layer's view of the replication node.
type testCluster struct {
	*replication.Node
	name string
}

func (c testCluster) Name() string { return c.name }

// MetaLeaderHasAccount: the bench's streams are in the global account,
// which every server has.
func (c testCluster) MetaLeaderHasAccount() bool { return true }

func (c testCluster) PlaceStream(ctx context.Context, name string, replicas int, config []byte, created time.Time) error {
	err := c.Node.PlaceStream(ctx, name, replicas, config, created)
	if errors.Is(err, replication.ErrNoPeers) {
		return stream.ErrNoPeers
	}
	return err
}

func (c testCluster) GroupStatus(ctx context.Context, group uint64) stream.GroupInfo {
	gs := c.Node.GroupStatus(ctx, group)
	gi := stream.GroupInfo{Leader: gs.Leader, IsLeader: gs.IsLeader}
	for _, r := range gs.Replicas {
		gi.Replicas = append(gi.Replicas, stream.PeerInfo{Name: r.Name, Current: r.Current, Active: r.Active, Lag: r.Lag})
	}
	return gi
}

// startReplicatedNode starts a clustered server with streams as cfg says;
// stop shuts down the server, replication and the stream layer, in that
// order.
func startReplicatedNode(c *conf.Config) (stop func(), err error) {
	log := slog.New(slog.DiscardHandler)
	opts := c.Server
	opts.JetStream = true
	srv, err := server.New(&opts, log)
	if err != nil {
		return nil, err
	}
	sopts := stream.Options{StoreDir: c.StoreDir, ServerName: srv.Name(), Account: "$G", Logger: log}
	sopts.OpenStore = stream.PebbleStores(sopts)
	svc, err := stream.New(srv, sopts)
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		svc.Close()
		return nil, err
	}
	node, err := replication.Start(replication.Options{
		Name: srv.Name(), Dir: filepath.Join(c.StoreDir, "cluster"), Net: testNet{srv},
		MaxFrame: server.ClusterFrameMax, Logger: log,
	})
	if err == nil {
		if err = svc.SetCluster(testCluster{Node: node, name: c.Server.Cluster.Name}); err != nil {
			node.Close()
		}
	}
	if err != nil {
		shutdownServer(srv)
		svc.Close()
		return nil, err
	}
	node.AttachStreams(svc)
	return func() {
		shutdownServer(srv)
		node.Close()
		svc.Close()
	}, nil
}

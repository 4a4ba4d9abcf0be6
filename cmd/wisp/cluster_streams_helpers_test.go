package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/replication"
	"github.com/wisp-mq/wisp/server"
)

// streamNode is one in-process server of a test cluster with streams and
// replication, wired as serve wires them; dir outlives restarts.
type streamNode struct {
	name       string
	port, rt   int
	dir        string
	routes     []string
	srv        *server.Server
	layers     *streamLayers
	node       *replication.Node
	cluster    string
	running    bool
	stopCancel context.CancelFunc
	// snapshotEvery, when set, makes the node's raft host snapshot and
	// compact every that many entries (keeping a quarter behind).
	snapshotEvery uint64
	// accounts, when set, are the node's configured accounts.
	accounts []server.AccountConfig
	// logTo, when set, also receives the node's log (warnings and up) as
	// text, for tests that count log lines.
	logTo io.Writer
	// tuneRepl, when set, adjusts the node's replication options.
	tuneRepl func(*replication.Options)
}

func (n *streamNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// startStreamCluster starts size servers named prefix1.. with streams in
// one cluster, every route listed on every server.
func startStreamCluster(t *testing.T, prefix string, size int) []*streamNode {
	return startStreamClusterWith(t, prefix, size, 0)
}

// startStreamClusterWith is startStreamCluster with the raft hosts
// snapshotting every snapshotEvery entries (0: the default).
func startStreamClusterWith(t *testing.T, prefix string, size int, snapshotEvery uint64) []*streamNode {
	t.Helper()
	return startStreamClusterOf(t, prefix, size, func(n *streamNode) { n.snapshotEvery = snapshotEvery })
}

// startStreamClusterOf is startStreamCluster with each node adjusted by
// tune before it starts.
func startStreamClusterOf(t *testing.T, prefix string, size int, tune func(*streamNode)) []*streamNode {
	t.Helper()
	dir := t.TempDir()
	nodes := make([]*streamNode, size)
	var routes []string
	for i := range nodes {
		n := &streamNode{name: fmt.Sprintf("%s%d", prefix, i+1), port: freePort(t), rt: freePort(t),
			dir: filepath.Join(dir, fmt.Sprintf("%s%d", prefix, i+1)), cluster: "RC"}
		tune(n)
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", n.rt))
		nodes[i] = n
	}
	for _, n := range nodes {
		n.routes = routes
		n.start(t)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
		}
	})
	return nodes
}

func testLog() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("WISP_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// start starts (or restarts) the node.
func (n *streamNode) start(t *testing.T) {
	t.Helper()
	cfg := &conf.Config{JetStream: true, StoreDir: n.dir}
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.Port = n.port
	cfg.Server.ServerName = n.name
	cfg.Server.Accounts = n.accounts
	cfg.Server.Cluster.Name = n.cluster
	cfg.Server.Cluster.Host = "127.0.0.1"
	cfg.Server.Cluster.Port = n.rt
	cfg.Server.Cluster.Routes = n.routes
	cfg.Server.JetStream = true // as serve sets it: INFO advertises streams
	cfg.Server.HTTPHost = "127.0.0.1"
	cfg.Server.HTTPPort = -1 // monitoring and the console (the browser test looks)
	log := testLog().With("server", n.name)
	if n.logTo != nil {
		log = slog.New(teeHandler{testLog().Handler(), slog.NewTextHandler(n.logTo, &slog.HandlerOptions{Level: slog.LevelWarn})}).With("server", n.name)
	}
	srv, err := server.New(&cfg.Server, log)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := startStreams(cfg, srv, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		layers.close()
		t.Fatal(err)
	}
	if n.snapshotEvery > 0 || n.tuneRepl != nil {
		every, tune := n.snapshotEvery, n.tuneRepl
		tuneReplication = func(o *replication.Options) {
			if every > 0 {
				o.SnapshotEntries, o.KeepEntries = every, every/4
			}
			if tune != nil {
				tune(o)
			}
		}
	}
	node, err := startReplication(cfg, srv, layers, log)
	tuneReplication = nil
	if err != nil {
		t.Fatal(err)
	}
	n.srv, n.layers, n.node, n.running = srv, layers, node, true
}

// stop shuts the node down as serve does: server, replication, streams.
func (n *streamNode) stop() {
	if !n.running {
		return
	}
	n.running = false
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n.srv.Shutdown(ctx)
	n.node.Close()
	n.layers.close()
}

// waitMetaLeader waits until every running node names one meta leader.
func waitMetaLeader(t *testing.T, nodes []*streamNode) string {
	t.Helper()
	var leader string
	waitLong(t, "one meta leader", func() bool {
		leader = ""
		for _, n := range nodes {
			if !n.running {
				continue
			}
			l := n.node.MetaLeader()
			if l == "" || (leader != "" && l != leader) {
				return false
			}
			leader = l
		}
		return true
	})
	return leader
}

// streamLeader returns the name of the server leading stream, "" if none
// of the running nodes leads it.
func streamLeader(nodes []*streamNode, js jetstream.JetStream, name string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if err != nil {
		return ""
	}
	info := s.CachedInfo()
	if info.Cluster == nil {
		return ""
	}
	return info.Cluster.Leader
}

// teeHandler hands each record to two handlers.
type teeHandler struct{ a, b slog.Handler }

func (h teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.a.Enabled(ctx, l) || h.b.Enabled(ctx, l)
}

func (h teeHandler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.a.Enabled(ctx, r.Level) {
		err = h.a.Handle(ctx, r.Clone())
	}
	if h.b.Enabled(ctx, r.Level) {
		err = errors.Join(err, h.b.Handle(ctx, r.Clone()))
	}
	return err
}

func (h teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{h.a.WithAttrs(as), h.b.WithAttrs(as)}
}

func (h teeHandler) WithGroup(name string) slog.Handler {
	return teeHandler{h.a.WithGroup(name), h.b.WithGroup(name)}
}

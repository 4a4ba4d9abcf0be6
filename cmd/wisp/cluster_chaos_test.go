package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/internal/testproxy"
	"github.com/wisp-mq/wisp/replication"
	"github.com/wisp-mq/wisp/server"
	"github.com/wisp-mq/wisp/stream"
)

// The stream chaos suite: real Wisp servers (server, stream layer,
// replication) in one process, each on its own crash-simulating memory
// filesystem (Pebble's strict MemFS: a power loss drops every write not
// fsynced), every route through a proxy the test can cut, pause or slow.
// This file holds the cluster and its faults; cluster_chaos_work_test.go
// the clients and the checker.

// chaosServer is one server of a chaos cluster; fs is its disk and
// outlives restarts (a power loss resets it to what was synced).
type chaosServer struct {
	name      string
	index     int
	port, rt  int
	dir       string
	routes    []string
	fs        *vfs.MemFS
	srv       *server.Server
	layers    *streamLayers
	node      *replication.Node
	running   bool
	damagedAt time.Time // its disk was damaged or wiped and it may not have caught up
	// onPowerLoss, when set, runs while a power loss of the server is
	// under way (its disk keeps no more writes) and before it is down.
	onPowerLoss func()
	// wrapFS, when set, wraps the server's disk at its next start (a
	// test watching or timing the writes it makes).
	wrapFS func(vfs.FS) vfs.FS
	// beforeReplication, when set, runs at its next start once its stream
	// layer is open and serving, before its replication starts.
	beforeReplication func(*streamLayers)
}

// chaosCluster is n servers and the proxies between them: links[i][j]
// carries what server i dials to reach server j.
type chaosCluster struct {
	t       *testing.T
	servers []*chaosServer
	links   [][]*testproxy.Proxy

	mu     sync.Mutex
	events []string
	faults map[string]int
}

// chaosDisk returns an empty strict MemFS holding dir, the directories up
// to it synced, as an installed server's store directory would be.
func chaosDisk(t *testing.T, dir string) *vfs.MemFS {
	fs := vfs.NewStrictMem()
	for _, d := range []string{dir, filepath.Join(dir, "cluster"), filepath.Join(dir, "streams")} {
		if err := fs.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for d := filepath.Join(dir, "streams"); ; d = filepath.Dir(d) {
		if f, err := fs.OpenDir(d); err == nil {
			f.Sync()
			f.Close()
		}
		if d == "/" {
			break
		}
	}
	return fs
}

func startChaosCluster(t *testing.T, n int) *chaosCluster {
	t.Helper()
	c := &chaosCluster{t: t, faults: map[string]int{}}
	ports := make([]int, n)
	for i := range ports {
		ports[i] = freePort(t)
	}
	c.links = make([][]*testproxy.Proxy, n)
	for i := range n {
		c.links[i] = make([]*testproxy.Proxy, n)
		for j := range n {
			if i != j {
				c.links[i][j] = testproxy.New(t, fmt.Sprintf("127.0.0.1:%d", ports[j]))
			}
		}
	}
	for i := range n {
		s := &chaosServer{name: fmt.Sprintf("x%d", i+1), index: i, rt: ports[i], port: freePort(t), dir: fmt.Sprintf("/x%d", i+1)}
		s.routes = []string{fmt.Sprintf("nats://127.0.0.1:%d", ports[i])}
		for j := range n {
			if i != j {
				s.routes = append(s.routes, "nats://"+c.links[i][j].Addr())
			}
		}
		s.fs = chaosDisk(t, s.dir)
		c.servers = append(c.servers, s)
	}
	for _, s := range c.servers {
		if err := c.start(s); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, s := range c.servers {
			c.stop(s, false)
		}
	})
	return c
}

func (c *chaosCluster) note(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, time.Now().Format("15:04:05.000")+" "+fmt.Sprintf(format, args...))
}

func (c *chaosCluster) count(kind string) {
	c.mu.Lock()
	c.faults[kind]++
	c.mu.Unlock()
}

func (c *chaosCluster) urls() string {
	var u []string
	for _, s := range c.servers {
		u = append(u, fmt.Sprintf("nats://127.0.0.1:%d", s.port))
	}
	return strings.Join(u, ",")
}

// start starts (or restarts) s on its disk, as serve wires a server. All
// servers advertise a route address nobody listens on, so gossip never
// dials around the proxies.
func (c *chaosCluster) start(s *chaosServer) error {
	cfg := &conf.Config{JetStream: true, StoreDir: s.dir}
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.Port = s.port
	cfg.Server.ServerName = s.name
	cfg.Server.Cluster.Name = "CHAOS"
	cfg.Server.Cluster.Host = "127.0.0.1"
	cfg.Server.Cluster.Port = s.rt
	cfg.Server.Cluster.Routes = s.routes
	cfg.Server.Cluster.Advertise = "127.0.0.1:1"
	cfg.Server.JetStream = true
	log := chaosLog().With("server", s.name)
	srv, err := server.New(&cfg.Server, log)
	if err != nil {
		return err
	}
	var fs vfs.FS = s.fs
	if s.wrapFS != nil {
		fs = s.wrapFS(fs)
	}
	tuneStreams = func(o *stream.Options) { o.FS = fs }
	layers, err := startStreams(cfg, srv, log)
	tuneStreams = nil
	if err != nil {
		return fmt.Errorf("%s: streams: %w", s.name, err)
	}
	if err := srv.Start(); err != nil {
		layers.close()
		return err
	}
	if s.beforeReplication != nil {
		s.beforeReplication(layers)
	}
	// Small snapshot periods, so that compaction and snapshot catch-up
	// happen within a run.
	tuneReplication = func(o *replication.Options) { o.FS, o.SnapshotEntries, o.KeepEntries = fs, 256, 64 }
	node, err := startReplication(cfg, srv, layers, log)
	tuneReplication = nil
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(ctx)
		cancel()
		layers.close()
		return fmt.Errorf("%s: replication: %w", s.name, err)
	}
	s.srv, s.layers, s.node, s.running = srv, layers, node, true
	return nil
}

// stop stops s as a crash would (the process is gone; with sync=always
// every acknowledged write was fsynced before); with powerLoss whatever
// was written and not fsynced is gone too.
//
// A power loss is an instant, after which the server neither writes nor
// sends anything; here its shutdown takes a while, during which its raft
// host runs on. So its routes are cut before its fsyncs start being
// ignored: otherwise it could acknowledge an entry whose fsync was
// ignored, a promise no real power loss lets a server break (it left a
// leader counting on an entry the restarted follower did not have, and
// raft panicked). Its clients need no cut: nothing it acknowledges to
// them is committed without an acknowledgement from a peer.
func (c *chaosCluster) stop(s *chaosServer, powerLoss bool) {
	if !s.running {
		return
	}
	s.running = false
	if powerLoss {
		c.isolate(s.index, true)
		defer c.isolate(s.index, false) // once it is down
		// The power goes at one instant: the raft host stops first, so
		// that nothing it writes from now on, with its syncs ignored, is
		// acknowledged to a peer. Left running while the server shuts
		// down, it appended and acknowledged entries a lying disk then
		// dropped: acknowledged writes lost (seed 860130) and leaders
		// sending a restarted follower a commit index past its log
		// ("tocommit out of range", seeds 860110, 860113, 860118, 860127).
		s.node.Host().Stop()
		s.fs.SetIgnoreSyncs(true)
		if s.onPowerLoss != nil {
			s.onPowerLoss()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
	s.node.Close()
	s.layers.close()
	if powerLoss {
		s.fs.ResetToSyncedState()
		s.fs.SetIgnoreSyncs(false)
	}
}

// restart starts s again; a server that cannot open what is left of its
// disk gets an empty one, as its operator would give it.
func (c *chaosCluster) restart(s *chaosServer) {
	if s.running {
		return
	}
	if err := c.start(s); err != nil {
		c.note("%s did not start (%v): disk replaced by an empty one", s.name, err)
		c.count("wiped after failed start")
		s.fs = chaosDisk(c.t, s.dir)
		s.damagedAt = time.Now()
		if err := c.start(s); err != nil {
			c.t.Fatalf("%s on an empty disk: %v", s.name, err)
		}
	}
}

// isolate cuts (or heals) every link of server i, both ways.
func (c *chaosCluster) isolate(i int, cut bool) {
	for j := range c.servers {
		if j != i {
			c.links[i][j].SetCut(cut)
			c.links[j][i].SetCut(cut)
		}
	}
}

// heal restores every link and restarts every stopped server.
func (c *chaosCluster) heal() {
	for i := range c.links {
		for j := range c.links[i] {
			if p := c.links[i][j]; p != nil {
				p.SetCut(false)
				p.SetPaused(false)
				p.SetHeld(false, false)
				p.SetDelay(0)
			}
		}
	}
	for _, s := range c.servers {
		c.restart(s)
	}
}

// damage flips a bit in, or cuts the tail of, the newest write-ahead log
// of a stopped server's raft log or stream store: damage Pebble itself
// may not notice.
func (c *chaosCluster) damage(s *chaosServer, rng *rand.Rand) string {
	dir := filepath.Join(s.dir, "cluster", "raft")
	if rng.IntN(2) == 0 {
		dir = filepath.Join(s.dir, "streams")
	}
	names, _ := s.fs.List(dir)
	var wal string
	for _, n := range names {
		if strings.HasSuffix(n, ".log") && n > wal {
			wal = n
		}
	}
	if wal == "" {
		return dir + ": no WAL to damage"
	}
	path := filepath.Join(dir, wal)
	f, err := s.fs.Open(path)
	if err != nil {
		return path + ": " + err.Error()
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if len(b) == 0 {
		return path + ": empty"
	}
	var what string
	if rng.IntN(2) == 0 {
		cut := 1 + rng.IntN(min(len(b), 4096))
		b = b[:len(b)-cut]
		what = fmt.Sprintf("%s: last %d of %d bytes cut", path, cut, len(b)+cut)
	} else {
		pos := rng.IntN(len(b))
		b[pos] ^= 1 << rng.IntN(8)
		what = fmt.Sprintf("%s: bit flip at %d of %d", path, pos, len(b))
	}
	s.fs.Remove(path)
	if f, err := s.fs.Create(path); err == nil {
		f.Write(b)
		f.Sync()
		f.Close()
	}
	return what
}

// chaosLog logs errors only (a run restarts servers many times), all
// with WISP_TEST_LOG set.
func chaosLog() *slog.Logger {
	level := slog.LevelError
	if os.Getenv("WISP_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// chaosEnv reads CHAOS_SEED (a run to replay) for the tests below.
func chaosEnv(t *testing.T) (seed uint64, given bool) {
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		if _, err := fmt.Sscan(s, &seed); err != nil {
			t.Fatalf("CHAOS_SEED: %v", err)
		}
		return seed, true
	}
	return 0, false
}

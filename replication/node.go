package replication

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/wisp-mq/wisp/consensus"
)

// Options configure a Node.
type Options struct {
	// Name is this server's name, unique in the cluster and stable across
	// restarts: the raft id is derived from it (NodeID).
	Name string
	// Dir holds the raft log's Pebble database (Dir/raft) and its witness
	// file (Dir/raft.witness).
	Dir string
	// FS is the filesystem, nil for the disk (tests may use vfs.NewMem()).
	FS  vfs.FS
	Net Network
	// MaxFrame bounds one cluster message (the server's ClusterFrameMax).
	MaxFrame int
	Logger   *slog.Logger
	// TickInterval is raft's tick (default 100ms: an election timeout of
	// one second); HelloInterval how often the meta hellos go out
	// (default 250ms).
	TickInterval, HelloInterval time.Duration
	// SnapshotEntries and KeepEntries are the host's snapshot period
	// and the entries kept behind a snapshot (0: DefaultSnapshotEntries
	// and DefaultKeepEntries).
	SnapshotEntries, KeepEntries uint64
	// Accounts, when set, names the accounts this server has streams in
	// ("" the global account). The meta hellos announce them, and
	// placement puts a stream only on servers that have its account
	// (accounts.go). Unset, the server says nothing, and is taken to
	// have every account, as a server of an earlier version is.
	Accounts func() []string
}

// A replicated stream's raft snapshot costs nothing (it holds a
// descriptor), but sending one sends the whole stream beside it
// (state_stream.go). The server's host takes them rarely and keeps a long
// log behind each, so that a lagging replica catches up from the log
// (which Pebble holds on disk, not in memory) rather than through a
// snapshot.
const (
	DefaultSnapshotEntries = 1 << 16
	DefaultKeepEntries     = 1 << 14
)

// Node is this server's part in the cluster's replication: the raft host
// with its log, the transport over the routes, and the meta group.
type Node struct {
	name  string
	net   Network
	log   *slog.Logger
	store *consensus.Store // its database changes when a failed log is reopened
	host  *consensus.Host
	tr    *Transport
	meta  *Meta

	leaderChanges atomic.Uint64 // of the meta group
	// replaceMu is held while this server replaces a stream's peer
	// (peer_remove.go): one replacement at a time.
	replaceMu sync.Mutex

	streamsMu sync.Mutex
	streams   *streams // the replicated streams, once attached (streams.go)

	// notesMu guards the notes of one-replica streams (r1.go) against
	// the store's close: notesClosed is set before it.
	notesMu     sync.RWMutex
	notesClosed bool

	accounts func() []string // Options.Accounts
}

// Start opens the raft log and starts the host and the meta group.
func Start(o Options) (*Node, error) {
	if o.Name == "" || o.Net == nil || o.Dir == "" {
		return nil, errors.New("replication: a server name, a network and a directory are required")
	}
	if o.MaxFrame <= 0 {
		o.MaxFrame = 4 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HelloInterval <= 0 {
		o.HelloInterval = 250 * time.Millisecond
	}
	fs := o.FS
	if fs == nil {
		fs = vfs.Default
	}
	if err := fs.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("replication: %w", err)
	}
	// Pebble's fatal errors (a write or fsync of the log that failed) go to
	// a guard, never to an exit: the host stops taking part in its groups
	// and reopens the log once it can (consensus: host_faults.go).
	dbDir := filepath.Join(o.Dir, "raft")
	open := func() (*pebble.DB, *consensus.FatalGuard, error) {
		return consensus.OpenPebble(fs, dbDir, o.Logger.With("raft_log", dbDir))
	}
	db, guard, err := open()
	if err != nil {
		return nil, fmt.Errorf("replication: open raft log: %w", err)
	}
	store := consensus.NewStore(db, o.Logger)
	store.SetReopen(guard, open)
	n := &Node{name: o.Name, net: o.Net, log: o.Logger, store: store, accounts: o.Accounts}
	if err := store.UseWitness(fs, filepath.Join(o.Dir, "raft.witness")); err != nil {
		db.Close()
		return nil, fmt.Errorf("replication: %w", err)
	}
	hadState, err := store.HasGroup(MetaGroup)
	if err != nil {
		db.Close()
		return nil, err
	}
	n.tr = NewTransport(o.Net, o.Name, o.MaxFrame, o.Logger)
	if o.FS == nil {
		// States received from peers go next to the log; on a simulated
		// disk, to a temporary directory of the real one (state_stream.go).
		if err := n.tr.SetSpoolDir(filepath.Join(o.Dir, "state-in")); err != nil {
			db.Close()
			return nil, err
		}
	}
	cfg := consensus.DefaultConfig()
	cfg.ID, cfg.Store, cfg.Transport, cfg.Logger = NodeID(o.Name), store, n.tr, o.Logger
	if o.TickInterval > 0 {
		cfg.TickInterval = o.TickInterval
	}
	cfg.SnapshotEntries, cfg.KeepEntries = DefaultSnapshotEntries, DefaultKeepEntries
	if o.SnapshotEntries > 0 {
		cfg.SnapshotEntries = o.SnapshotEntries
	}
	if o.KeepEntries > 0 {
		cfg.KeepEntries = o.KeepEntries
	}
	// Appends well under a frame, so a frame never has to carry one alone.
	cfg.MaxSizePerMsg = uint64(min(1<<20, o.MaxFrame/4))
	cfg.InboxLimit, cfg.InboxBytes = 1024, 64<<20
	cfg.OnLeaderChange = func(c consensus.LeaderChange) {
		if c.Group == MetaGroup {
			n.leaderChanges.Add(1)
			n.log.Info("meta group leader", "leader", n.tr.Name(c.Leader), "term", c.Term)
			return
		}
		n.streamsMu.Lock()
		s := n.streams
		n.streamsMu.Unlock()
		if s != nil {
			s.leaderChanged(c)
		}
	}
	host, err := consensus.NewHost(cfg)
	if err != nil {
		db.Close()
		return nil, err
	}
	n.host = host
	n.tr.Attach(host)
	n.meta = newMeta(n, hadState)
	go n.meta.run(o.HelloInterval)
	return n, nil
}

// Meta is the meta group.
func (n *Node) Meta() *Meta { return n.meta }

// Transport is the transport over the routes.
func (n *Node) Transport() *Transport { return n.tr }

// Host is the raft host (for stream groups to come, and tests).
func (n *Node) Host() *consensus.Host { return n.host }

// Close stops the meta group and the host and closes the raft log.
func (n *Node) Close() error {
	n.streamsMu.Lock()
	s := n.streams
	n.streamsMu.Unlock()
	if s != nil {
		s.close()
	}
	n.meta.close()
	n.net.Handle(chanRaft, nil)
	n.net.Handle(chanMeta, nil)
	n.net.Handle(chanMetaCtl, nil)
	n.host.Stop()
	n.tr.Close()
	// A create still placing a one-replica stream notes nothing once
	// the store closes (r1.go).
	n.notesMu.Lock()
	n.notesClosed = true
	n.notesMu.Unlock()
	err := n.host.Err()
	if n.store.Failed() != nil {
		// A failed instance's close reports the failure again, or may not
		// be possible at all (a Pebble goroutine parked inside it).
		n.store.CloseFailed()
		return err
	}
	if cerr := n.store.DB().Close(); err == nil {
		err = cerr
	}
	return err
}

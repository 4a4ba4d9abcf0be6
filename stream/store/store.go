package store

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// Errors callers test for.
var (
	ErrNotFound = errors.New("store: not found")
	ErrClosed   = errors.New("store: closed")
)

// SyncMode says when a committed batch is fsynced.
type SyncMode int

const (
	// SyncAlways fsyncs every batch before any of its Ops is told it is
	// done: an acknowledged message survives power loss. A batch of only
	// Replayable Ops is the exception (writer.go).
	SyncAlways SyncMode = iota
	// SyncInterval tells an Op it is done once its batch has been written
	// to the write-ahead log file (handed to the operating system), and
	// fsyncs the log every SyncInterval: an acknowledged message survives a
	// crash of the process; power loss can lose the last interval
	// (walsync.go).
	SyncInterval
)

// Options configures a Store.
type Options struct {
	Dir string // directory of the database; any name for an in-memory FS
	// FS is the filesystem; nil means the real one. vfs.NewMem() gives a
	// memory store with the same code path.
	FS           vfs.FS
	Sync         SyncMode
	SyncInterval time.Duration // for SyncInterval; default 1s
	Logger       *slog.Logger  // nil discards
	// Volatile says the store is not meant to survive a restart (memory
	// streams): Pebble runs without a write-ahead log and commits never
	// sync, since there is nothing to recover into.
	Volatile bool
	// MaxBatchOps caps how many Ops share one batch, bounding the latency
	// one commit adds to the first Op in it. Default 4096.
	MaxBatchOps int
	// Space tells the free space under Dir (fault.go, space.go); nil asks
	// FS. Volatile stores do not watch their space.
	Space SpaceSource
	// Headroom is the free space below which writes that add data are
	// refused with ErrNoSpace; 0 means DefaultHeadroom of the filesystem.
	Headroom uint64
	// OnReopen, if set, runs on the writer goroutine after the store
	// recovered from a failure by reopening its database (fault.go).
	OnReopen func()
	// KeepWALOnClose skips the flush of the memtable at Close, leaving
	// the last writes only in the write-ahead log as a crash would. For
	// tests of log damage.
	KeepWALOnClose bool
}

// Store is one Pebble database holding any number of streams. Reads may
// come from any goroutine; writes go through Submit (writer.go).
type Store struct {
	db   *pebble.DB
	rd   pebble.Reader // what readers read: db, or failedReader
	dbMu sync.RWMutex  // guards db and rd against a reopen (fault.go)
	opts Options
	log  *slog.Logger

	faults
	instanceState
	space        *spaceGuard // nil for volatile stores
	memTableSize uint64      // 0: Pebble's default

	mu      sync.RWMutex // guards closed against Submit
	closed  bool
	ops     chan Op
	quit    chan struct{}
	done    chan struct{}
	wal     *intervalFS // non-nil unless Volatile: owes the log fsyncs (walsync.go)
	corrupt atomic.Uint64
	man     *manifestTracker // nil for volatile stores (manifest.go)
	report  OpenReport       // what Open found against the manifest
	// walsAtOpen are the log files found before the first open, for report.
	walsAtOpen []string
	clock      batchClock // numbers the writer's batches (batchclock.go)
}

// Open opens or creates the database at opts.Dir and starts its writer.
func Open(opts Options) (*Store, error) {
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = time.Second
	}
	if opts.MaxBatchOps <= 0 {
		opts.MaxBatchOps = 4096
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	if err := makeDirDurable(opts.FS, opts.Dir); err != nil {
		return nil, fmt.Errorf("store: create %s: %w", opts.Dir, err)
	}
	s := &Store{
		opts: opts, log: log,
		ops:  make(chan Op, opts.MaxBatchOps),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	s.clock.init()
	if !opts.Volatile {
		s.watchSpace()
		s.walsAtOpen = listWALs(opts.FS, opts.Dir)
	}
	db, err := s.openDB()
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", opts.Dir, err)
	}
	s.db, s.rd = db, db
	s.openManifest()
	go s.writeLoop()
	return s, nil
}

// Close stops the writer (Ops still queued are done with ErrClosed), syncs
// and closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.quit)
	<-s.done
	if s.Failed() != nil {
		// Pebble's commit pipeline is broken; what reached the log is
		// replayed at the next start (instance.go).
		s.retireForClose()
		return s.releaseLock()
	}
	var err error
	if !s.opts.Volatile {
		var stuck bool
		err, stuck = s.exec(func() error { return s.db.LogData(nil, pebble.Sync) })
		if stuck || s.Failed() != nil {
			s.retireForClose()
			return errors.Join(err, s.releaseLock())
		}
	}
	if s.wal != nil {
		err = errors.Join(err, s.wal.syncWALs())
	}
	e, stuck := s.exec(s.closeManifest)
	err = errors.Join(err, e)
	if stuck {
		s.retireForClose()
		return errors.Join(err, s.releaseLock())
	}
	locked := s.lockReaders()
	db := s.db
	s.db, s.rd = nil, closedReader{}
	if locked {
		s.dbMu.Unlock()
	}
	close(s.inst.jobs)
	return errors.Join(err, db.Close(), s.releaseLock())
}

// retireForClose is retire at Close, with the readers shut out.
func (s *Store) retireForClose() {
	locked := s.lockReaders()
	s.retire()
	s.rd = closedReader{}
	if locked {
		s.dbMu.Unlock()
	}
}

// lockReaders takes dbMu for writing at Close, so that the database is
// not closed under a reader: Pebble panics when used after its Close, and
// goroutines that outlive their owner's shutdown (a bug, but not one
// that should end the process) get ErrClosed from closedReader instead.
// As lockForReopen it never queues behind readers (nested reads would
// deadlock); a reader stuck for good behind a parked Pebble goroutine
// (fault.go) is given up on after a while, and the store closes anyway.
func (s *Store) lockReaders() bool {
	deadline := time.Now().Add(5 * time.Second)
	for !s.dbMu.TryLock() {
		if time.Now().After(deadline) {
			s.log.Warn("closing the stream store while a read is still in progress", "dir", s.opts.Dir)
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// closedReader stands in for the database after Close.
type closedReader struct{}

func (closedReader) Get([]byte) ([]byte, io.Closer, error) { return nil, nil, ErrClosed }
func (closedReader) NewIter(*pebble.IterOptions) (*pebble.Iterator, error) {
	return nil, ErrClosed
}
func (closedReader) Close() error { return nil }

// CorruptRecords counts records skipped because they failed to decode.
func (s *Store) CorruptRecords() uint64 { return s.corrupt.Load() }

// Reader reads committed data.
func (s *Store) Reader() Reader { return Reader{st: s} }

// makeDirDurable creates dir and fsyncs it and every parent, so that a
// directory made on first start is not lost with a crash soon after: Pebble
// syncs its own directory, not the entry naming it in the parent.
func makeDirDurable(fs vfs.FS, dir string) error {
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		f, err := fs.OpenDir(d)
		if err != nil {
			return err
		}
		err = errors.Join(f.Sync(), f.Close())
		if err != nil {
			return err
		}
		if parent := filepath.Dir(d); parent == d {
			return nil
		}
	}
}

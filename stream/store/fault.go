package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble"
)

// How the store meets a full disk or a failing one
//
// Nothing a client sends may end the process, and a full disk is something
// clients cause. Pebble (v1.1) handles I/O errors in two ways:
//
//   - Background work (memtable flushes, compactions) reports its error to
//     EventListener.BackgroundError and is tried again later. Such errors
//     are logged here (at most every few seconds) and counted; Pebble keeps
//     going.
//   - An error on the commit path (writing or syncing the write-ahead log,
//     or writing the MANIFEST while installing a flush) is "fatal": Pebble
//     calls Logger.Fatalf and expects it not to return. Its commit pipeline
//     is broken from then on: the failed batch stays in its queue, the log
//     writer keeps the error, and later commits fail or hang.
//
// So the store works to keep Pebble away from full disks, and treats what
// still gets through as a failure it can come back from:
//
//  1. Headroom (space.go). Before a group of writes the writer checks the
//     free space; below the headroom, Ops that add data are refused with
//     ErrNoSpace before they are applied (so the stream layer's state is
//     untouched), while Ops that free space (deletions) still pass. A
//     reserve file gives Pebble room to turn those deletions into free
//     space. Writes resume by themselves once space is back.
//  2. Failure. Fatalf marks the store failed. Commits run on a committer
//     goroutine of the store's (instance.go); there Fatalf panics with a
//     private value that the committer recovers, failing the batch. On one
//     of Pebble's own goroutines (a flush or compaction whose MANIFEST write
//     failed) it cannot return: Pebble's state is broken past that point and
//     the next flush would panic where nothing can recover. That goroutine
//     is parked for good (so is any other that meets a Fatalf, such as a
//     reader tripping one of Pebble's invariant checks), and the database
//     instance abandoned; the writer stops waiting for a commit stuck
//     behind it (instance.go). Any commit error marks the
//     store failed too. A failed store refuses every write with ErrFailed;
//     reads keep working from the database as it was.
//  3. Recovery. While failed, the writer tries (every recoverEvery, and when
//     a write arrives) to close (or abandon) the database and open it
//     again, which replays the write-ahead log. It needs the headroom to be
//     free first. Readers hold dbMu for reading; the writer takes it only
//     with TryLock, so a reader never waits behind it and nested reads
//     cannot deadlock. After a reopen OnReopen lets the owner reload what it
//     keeps in memory, since a batch reported as failed may have reached the
//     log after all.
//
// What is not covered: an abandoned instance's memory is not returned; a
// reader that happens to need Pebble's mutex at the moment a goroutine is
// parked holding it waits for good (the store goes on without it); a flush
// that cannot write (disk full despite the headroom, because others filled
// it) stalls commits inside Pebble until space returns, and the writer with
// them. An I/O error while reading (a bad sector) is returned to the
// reader, not handled here.

// ErrFailed is wrapped by the error of every write refused because the
// store hit an I/O error it must reopen to get over.
var ErrFailed = errors.New("store: failed after an I/O error")

// ErrNotApplied is wrapped (with ErrNoSpace or ErrFailed) by the error an
// Op is done with when the writer refused it before calling Apply: the Op
// changed nothing, and has nothing to undo.
var ErrNotApplied = errors.New("store: write refused before it was applied")

// refusedError is an Op's error when it was refused before Apply.
type refusedError struct{ cause error }

func (e *refusedError) Error() string   { return e.cause.Error() }
func (e *refusedError) Unwrap() []error { return []error{ErrNotApplied, e.cause} }

// Freer is implemented by Ops that only remove data (deleting a stream,
// purging). They pass the headroom check, so an operator can free space
// on a full disk.
type Freer interface {
	FreesSpace() bool
}

func freesSpace(op Op) bool {
	f, ok := op.(Freer)
	return ok && f.FreesSpace()
}

// recoverEvery is how often a failed store tries to reopen.
const recoverEvery = time.Second

// failure is why a store refuses writes.
type failure struct {
	err   error
	since time.Time
}

// faults is the store's failure state; part of Store.
type faults struct {
	failed    atomic.Pointer[failure]
	lastTry   time.Time    // writer goroutine only
	lastBgLog atomic.Int64 // unix nanos of the last logged background error

	fatals   atomic.Uint64
	bgErrors atomic.Uint64
	reopens  atomic.Uint64
	refused  atomic.Uint64
}

// fatalError is a Fatalf's message and the error among its arguments.
type fatalError struct {
	msg   string
	cause error
}

func (e fatalError) Error() string { return e.msg }
func (e fatalError) Unwrap() error { return e.cause }

// fatalPanic carries a Fatalf on a goroutine of the store's (the
// instance's committer, or the one opening it) up to runGuarded or openDB.
type fatalPanic struct{ err error }

// quietLogger sends Pebble's chatter to slog at debug level and turns its
// Fatalf into a store failure (see above) instead of an exit.
type quietLogger struct {
	l interface {
		Debug(string, ...any)
		Error(string, ...any)
	}
	st   *Store
	inst *instanceFS
}

func (q quietLogger) Infof(format string, args ...any) {
	q.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (q quietLogger) Fatalf(format string, args ...any) {
	err := fatalError{msg: fmt.Sprintf(format, args...)}
	for _, a := range args {
		if e, ok := a.(error); ok {
			err.cause = e // keep errors.Is(err, syscall.ENOSPC) working
			break
		}
	}
	q.l.Error("storage engine reported a fatal error", "component", "pebble", "err", err)
	if q.st == nil {
		panic(err) // a read-only open outside a store (verify.go) recovers it
	}
	q.st.fatals.Add(1)
	q.st.markFailed(err)
	if id := goid(); id == q.inst.committerGID.Load() || id == q.inst.openerGID.Load() {
		// A failed commit holds no lock of Pebble's and the instance can be
		// closed; anything else may have, so it is abandoned (instance.go).
		if !strings.HasPrefix(err.msg, "pebble: fatal commit error") {
			q.inst.poisoned.Store(true)
		}
		panic(fatalPanic{err})
	}
	// One of Pebble's goroutines, likely holding its mutex: returning
	// would run on with broken state and panic later where nothing can
	// recover. Park it; the store abandons this instance (instance.go).
	q.inst.poisoned.Store(true)
	q.inst.park()
	select {}
}

// goid returns the running goroutine's id, read from its stack header
// ("goroutine 42 [running]:"). Only Fatalf and the goroutines it must
// recognise use it, once per error or per open.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}

// markFailed puts the store in the failed state, once per failure.
func (s *Store) markFailed(err error) {
	if s.failed.CompareAndSwap(nil, &failure{err: err, since: time.Now()}) {
		s.log.Error("stream store failed: writes are refused until it recovers; reads go on",
			"dir", s.opts.Dir, "err", err)
	}
}

// Failed returns why the store refuses writes, or nil.
func (s *Store) Failed() error {
	if f := s.failed.Load(); f != nil {
		return f.err
	}
	return nil
}

// gate runs before a group of Ops is applied: nil lets every Op through;
// otherwise the error (a *refusedError) for those that may not be applied.
func (s *Store) gate(now time.Time) error {
	if f := s.failed.Load(); f != nil {
		if now.Sub(s.lastTry) < recoverEvery || now.Sub(f.since) < recoverEvery || !s.tryRecover(now) {
			return &refusedError{fmt.Errorf("%w: %v", ErrFailed, f.err)}
		}
	}
	if s.space != nil {
		if err := s.space.admit(now); err != nil {
			return &refusedError{err}
		}
	}
	return nil
}

// commitBatch commits b, turning a Fatalf on the way into an error and any
// commit error into a failed store. It checks the batch fits the headroom
// first; a batch that does not is refused, after its Ops were applied. The
// commit runs on the instance's committer (instance.go); if a Pebble
// goroutine parks meanwhile the batch is given up (b.stuck) and failed.
func (s *Store) commitBatch(b *Batch, freeing bool) error {
	if s.space != nil {
		if err := s.space.fits(uint64(b.b.Len()), freeing); err != nil {
			s.manifestRefused()
			return err
		}
	}
	wo := pebble.Sync
	if s.opts.Volatile {
		wo = pebble.NoSync
	}
	// A Sync commit waits for the write to the log file but not for its
	// fsync, which the intervalFS defers: to the tick in SyncInterval mode,
	// to the writer's syncAfter in SyncAlways mode.
	s.manifestBeforeCommit()
	err, stuck := s.exec(func() error { return b.b.Commit(wo) })
	s.manifestAfterCommit(err == nil && !stuck)
	if stuck {
		b.stuck = true
		return fmt.Errorf("%w: %w", ErrFailed, err)
	}
	if err != nil {
		s.markFailed(err)
		if errors.Is(err, ErrFailed) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrFailed, err)
	}
	if freeing && s.space != nil && s.space.low.Load() {
		// Deleted data is only freed once flushed and compacted.
		_, _ = s.db.AsyncFlush()
	}
	return nil
}

// manifestRefused forgets what a batch refused after Apply would have
// told the manifest (manifest.go): it was never committed.
func (s *Store) manifestRefused() {
	s.manifestAfterCommit(false)
	if s.man != nil {
		clear(s.man.drops)
		s.man.drops = s.man.drops[:0]
	}
}

// tryRecover closes and reopens the database on the writer goroutine. It
// reports whether the store works again.
func (s *Store) tryRecover(now time.Time) bool {
	s.lastTry = now
	if s.space != nil && s.space.admit(now) != nil {
		return false // reopening writes files too
	}
	if !s.lockForReopen() {
		return false
	}
	s.retire()
	db, err := s.openDB()
	if err != nil {
		s.dbMu.Unlock()
		s.log.Warn("stream store still failed: reopen did not succeed", "dir", s.opts.Dir, "err", err)
		return false
	}
	s.db, s.rd = db, db
	s.failed.Store(nil)
	s.dbMu.Unlock()
	s.reopens.Add(1)
	s.log.Warn("stream store recovered: reopened from its write-ahead log, writes accepted again", "dir", s.opts.Dir)
	if s.opts.OnReopen != nil {
		s.opts.OnReopen()
	}
	return true
}

// maintain runs on the writer's tick: a failed store tries to recover even
// when no write arrives, and the space figures follow the disk.
func (s *Store) maintain(now time.Time) {
	if f := s.failed.Load(); f != nil && now.Sub(s.lastTry) >= recoverEvery && now.Sub(f.since) >= recoverEvery {
		s.tryRecover(now)
	}
	if s.space != nil {
		s.space.maintain(now)
	}
}

// lockForReopen takes dbMu for writing without ever queueing behind
// readers (which would block new readers, and nested reads with them).
func (s *Store) lockForReopen() bool {
	deadline := time.Now().Add(2 * time.Second)
	for !s.dbMu.TryLock() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// openDB opens a new instance of the database, turning a Fatalf during
// Open into an error.
func (s *Store) openDB() (db *pebble.DB, err error) {
	po, inst := s.pebbleOptions()
	inst.openerGID.Store(goid())
	defer inst.openerGID.Store(0)
	defer func() {
		if r := recover(); r != nil {
			fp, ok := r.(fatalPanic)
			if !ok {
				panic(r)
			}
			db, err = nil, fp.err
		}
		if err != nil {
			inst.dead.Store(true)
		} else {
			s.inst = inst
			inst.startCommitter()
		}
	}()
	return openPebble(s.opts.Dir, po)
}

// closeQuietly closes a database that failed; its errors (leaked state,
// the log writer's error) say nothing new.
func closeQuietly(db *pebble.DB) {
	defer func() { _ = recover() }()
	_ = db.Close()
}

// pebbleOptions are the options of an open, first or after a failure,
// each over a filesystem view of its own (instance.go).
func (s *Store) pebbleOptions() (*pebble.Options, *instanceFS) {
	inst := &instanceFS{
		FS: s.opts.FS, st: s,
		jobs: make(chan func() error), result: make(chan error, 1), parked: make(chan struct{}),
	}
	po := &pebble.Options{
		FS:           inst,
		Logger:       quietLogger{l: s.log, st: s, inst: inst},
		DisableWAL:   s.opts.Volatile,
		MemTableSize: s.memTableSize,
		EventListener: &pebble.EventListener{
			BackgroundError: s.backgroundError,
		},
	}
	if !s.opts.Volatile {
		// Both modes own the log's fsyncs: SyncInterval pays them on its
		// tick, SyncAlways after each commit, save those it may defer
		// (Replayable, writer.go).
		s.wal = newIntervalFS(inst)
		po.FS = s.wal
	}
	return po, inst
}

// backgroundError logs a failed flush or compaction, which Pebble tries
// again; a full disk makes it fail in a loop, so at most every 10 s.
func (s *Store) backgroundError(err error) {
	s.bgErrors.Add(1)
	now := time.Now().UnixNano()
	last := s.lastBgLog.Load()
	if now-last >= int64(10*time.Second) && s.lastBgLog.CompareAndSwap(last, now) {
		s.log.Warn("storage engine background work failed; it will be tried again",
			"component", "pebble", "dir", s.opts.Dir, "err", err, "count", s.bgErrors.Load())
	}
}

// failedReader stands in for the database between a close and a reopen
// that did not succeed.
type failedReader struct{}

func (failedReader) Get([]byte) ([]byte, io.Closer, error) { return nil, nil, ErrFailed }
func (failedReader) NewIter(*pebble.IterOptions) (*pebble.Iterator, error) {
	return nil, ErrFailed
}
func (failedReader) Close() error { return nil }

// Health is a store's state for monitoring.
type Health struct {
	// Failed is the I/O error the store must recover from, or "".
	Failed      string
	FailedSince time.Time
	Space       SpaceReport
	// Used is the space the database takes on its filesystem.
	Used uint64
	// Counters since start.
	FatalErrors      uint64
	BackgroundErrors uint64
	Reopens          uint64
	Refused          uint64 // Ops refused for lack of space or failure
}

// Health reports the store's state.
func (s *Store) Health() Health {
	h := Health{
		Space:       s.space.report(),
		FatalErrors: s.fatals.Load(), BackgroundErrors: s.bgErrors.Load(),
		Reopens: s.reopens.Load(), Refused: s.refused.Load(),
	}
	if f := s.failed.Load(); f != nil {
		h.Failed, h.FailedSince = f.err.Error(), f.since
	}
	// A failed instance may have a Pebble goroutine parked holding the
	// mutex Metrics takes.
	if s.failed.Load() == nil && s.dbMu.TryRLock() {
		if s.db != nil {
			h.Used = s.db.Metrics().DiskSpaceUsage()
		}
		s.dbMu.RUnlock()
	}
	return h
}

// DoFreeing is Do for a write that only removes data (deleting a stream,
// purging): it passes the headroom check, so space can be freed on a full
// disk.
func (s *Store) DoFreeing(apply func(b *Batch) error) error {
	ch := make(chan error, 1)
	s.Submit(&freeingOpFunc{OpFunc{ApplyFn: apply, DoneFn: func(err error) { ch <- err }}})
	return <-ch
}

type freeingOpFunc struct{ OpFunc }

func (*freeingOpFunc) FreesSpace() bool { return true }

package consensus

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// How the store meets a write it cannot make
//
// A failed commit (a full disk, an I/O error on the write-ahead log or
// its fsync) leaves Pebble's instance unusable: its log writer keeps the
// error and the failed batch stays in its commit queue. The store then
// marks itself failed and refuses every write with ErrStorageFailed
// without calling into Pebble again. Whether the failed batch reached the
// disk is unknown, which is the position of a process that crashed during
// the write: the host handles it the same way, by dropping everything it
// holds in memory and loading the groups again from what the disk has
// (host.go, storage faults).
//
// Reopen closes the failed instance and opens the database again (the
// owner's ReopenFunc, set with SetReopen), which replays the write-ahead
// log, then checks it against the witness as a start would (witness.go):
// a database that lost synced writes marks its groups recovering.

// ReopenFunc opens the raft log's database again after a failure. The
// store has closed the previous instance (unless a Pebble goroutine was
// parked in it: then the store does not reopen). The guard may be nil
// when the database was opened without one.
type ReopenFunc func() (*pebble.DB, *FatalGuard, error)

// faults is a store's failure state; part of Store.
type faults struct {
	failed  atomic.Pointer[error]
	reopen  ReopenFunc
	closed  bool // the failed instance was closed (host loop only)
	witFS   vfs.FS
	witPath string

	failures, reopens atomic.Uint64
}

// SetReopen says how to open the database again after a failed write;
// without it a failed store stays failed. guard is the current
// instance's (nil: none). Call it before the store is used.
func (s *Store) SetReopen(guard *FatalGuard, fn ReopenFunc) {
	inst := *s.inst.Load()
	inst.guard = guard
	s.inst.Store(&inst)
	s.reopen = fn
}

// Failed returns the error that made the store refuse writes, or nil.
func (s *Store) Failed() error {
	if e := s.failed.Load(); e != nil {
		return *e
	}
	return nil
}

// StorageCounts returns how many times writes failed and how many times
// the database was reopened since the store was made.
func (s *Store) StorageCounts() (failures, reopens uint64) {
	return s.failures.Load(), s.reopens.Load()
}

// markFailed puts the store in the failed state (once per failure) and
// returns err wrapped in ErrStorageFailed.
func (s *Store) markFailed(err error) error {
	if !errors.Is(err, ErrStorageFailed) {
		err = fmt.Errorf("%w: %w", ErrStorageFailed, err)
	}
	if s.failed.CompareAndSwap(nil, &err) {
		s.failures.Add(1)
		s.log.Error("raft log write failed: writes are refused until the log is reopened", "err", err)
	}
	return err
}

// readFailed fails the store for a read of the log that failed (an I/O
// error, a record that no longer verifies, an entry gone) and returns
// err. Raft panics on such an error; the host recovers that panic because
// the store is failed, drops its groups' state and, after reopening, loads
// them again, verifying every record (host_faults.go).
func (s *Store) readFailed(err error) error {
	s.markFailed(err)
	return err
}

// refuse is the error of a write attempted while the store is failed.
func (s *Store) refuse() error {
	if err := s.Failed(); err != nil {
		if errors.Is(err, ErrStorageFailed) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrStorageFailed, err)
	}
	return nil
}

// guarded runs a write into Pebble, turning a fatal error into an error
// and any error into a failed store.
func (s *Store) guarded(fn func(db *pebble.DB) error) error {
	if err := s.refuse(); err != nil {
		return err
	}
	inst := s.inst.Load()
	run := func(f func() error) error { return f() }
	if inst.guard != nil {
		run = inst.guard.Run
	}
	if err := run(func() error { return fn(inst.db) }); err != nil {
		return s.markFailed(err)
	}
	return nil
}

// Write runs fn, a write of the caller's own to the store's database
// (records kept next to the raft log), as the store's commits run: refused
// while the store is failed, a fatal error in Pebble returned as an error
// wrapping ErrStorageFailed, and any error failing the store.
func (s *Store) Write(fn func(db *pebble.DB) error) error { return s.guarded(fn) }

// Reopen closes the failed instance and opens the database again, then
// checks it against the witness. Groups must be opened again (OpenGroup)
// afterwards. It is for the host's loop, which holds no group's storage
// across it.
func (s *Store) Reopen() error {
	if s.Failed() == nil {
		return nil
	}
	if s.reopen == nil {
		return errors.New("consensus: the raft log cannot be reopened here; restart the server")
	}
	inst := s.inst.Load()
	if inst.guard != nil && inst.guard.Parked() {
		return errors.New("consensus: a storage engine goroutine stopped on a fatal error; restart the server")
	}
	if !s.closed {
		closeQuietly(inst.db, inst.guard)
		s.closed = true
	}
	db, guard, err := s.reopen()
	if err != nil {
		return fmt.Errorf("consensus: reopen raft log: %w", err)
	}
	s.inst.Store(&instance{db: db, guard: guard})
	s.closed = false
	s.mu.Lock()
	clear(s.groups)
	s.mu.Unlock()
	s.commitMu.Lock()
	w := s.witness
	s.witness, s.seq = nil, 0
	s.commitMu.Unlock()
	s.failed.Store(nil)
	if w != nil {
		w.f.Close()
		if err := s.UseWitness(s.witFS, s.witPath); err != nil {
			return s.markFailed(fmt.Errorf("reopen witness: %w", err))
		}
	}
	s.reopens.Add(1)
	return nil
}

// CloseFailed closes a failed store's database, if it can be (not already
// closed, no Pebble goroutine parked in it), ignoring its errors. It is
// for the owner's shutdown, once the host has stopped.
func (s *Store) CloseFailed() {
	inst := s.inst.Load()
	if s.closed || (inst.guard != nil && inst.guard.Parked()) {
		return
	}
	closeQuietly(inst.db, inst.guard)
	s.closed = true
}

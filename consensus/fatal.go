package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// A full disk or a failing one must not end the process.
//
// Pebble (v1.1) reports an error on its commit path (writing or syncing
// the write-ahead log) by calling Logger.Fatalf on the committing
// goroutine, after which that database instance's commit pipeline is
// broken; an error writing its MANIFEST during a flush or compaction calls
// Fatalf on one of Pebble's own goroutines. Pebble expects Fatalf not to
// return. A FatalGuard is the Logger of one instance of the raft log:
//
//   - On a goroutine inside Run (the host's commits, the open, the
//     replication layer's own writes) Fatalf panics with a private value
//     that Run recovers and returns as an error wrapping ErrStorageFailed.
//     Nothing of Pebble's is locked at that point, so the instance can be
//     closed and the database opened again (Store.Reopen).
//   - On any other goroutine it cannot return (Pebble would run on with
//     broken state) and must not panic (nothing would recover it): the
//     goroutine is parked for good and the instance marked parked. Such an
//     instance may hold Pebble's locks and have goroutines still writing
//     files, so it is never closed or replaced: the raft log stays failed
//     until the server restarts, which the log says.
//
// Either way the host stops voting, acknowledging and leading (host.go,
// storage faults), and the rest of the server keeps running.

// ErrStorageFailed is wrapped by the errors of writes to the raft log that
// failed (a full disk, an I/O error), and of every proposal and write
// refused while the log has not been reopened since.
var ErrStorageFailed = errors.New("consensus: raft log storage failed")

// FatalGuard turns Pebble's fatal errors into errors (see above). Use one
// per database instance: as its Logger, and Run around calls into it.
type FatalGuard struct {
	log *slog.Logger

	mu      sync.Mutex
	guarded map[uint64]int // goroutine id → Run depth

	fatal  atomic.Pointer[fatalError] // the first fatal error
	parked atomic.Bool                // a Pebble goroutine is parked
}

var _ pebble.Logger = (*FatalGuard)(nil)

// NewFatalGuard returns a guard that logs to l (nil discards).
func NewFatalGuard(l *slog.Logger) *FatalGuard {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &FatalGuard{log: l, guarded: make(map[uint64]int)}
}

// fatalError is a Fatalf's message and the error among its arguments.
type fatalError struct {
	msg   string
	cause error
}

func (e *fatalError) Error() string { return e.msg }
func (e *fatalError) Unwrap() error { return e.cause }

// fatalPanic carries a Fatalf on a guarded goroutine up to Run.
type fatalPanic struct{ err *fatalError }

// Infof implements pebble.Logger: Pebble's chatter goes at debug level.
func (g *FatalGuard) Infof(format string, args ...any) {
	g.log.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

// Errorf is Pebble's error report of work it tries again.
func (g *FatalGuard) Errorf(format string, args ...any) {
	g.log.Warn(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf implements pebble.Logger without ending the process.
func (g *FatalGuard) Fatalf(format string, args ...any) {
	err := &fatalError{msg: fmt.Sprintf(format, args...)}
	for _, a := range args {
		if e, ok := a.(error); ok {
			err.cause = e // keeps errors.Is(err, syscall.ENOSPC) working
			break
		}
	}
	g.fatal.CompareAndSwap(nil, err)
	g.log.Error("raft log storage engine reported a fatal error", "component", "pebble", "err", err)
	if g.isGuarded(goid()) {
		panic(fatalPanic{err})
	}
	g.parked.Store(true)
	g.log.Error("a raft log storage goroutine stopped on a fatal error: the raft log stays failed until the server restarts",
		"component", "pebble", "err", err)
	select {}
}

// Run calls fn, returning a Fatalf on this goroutine as an error that
// wraps ErrStorageFailed and the I/O error. Any other panic in fn is
// returned as such an error too, and the instance taken as parked.
func (g *FatalGuard) Run(fn func() error) (err error) {
	id := goid()
	g.mu.Lock()
	g.guarded[id]++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		if g.guarded[id]--; g.guarded[id] == 0 {
			delete(g.guarded, id)
		}
		g.mu.Unlock()
		if r := recover(); r != nil {
			if fp, ok := r.(fatalPanic); ok {
				err = fmt.Errorf("%w: %w", ErrStorageFailed, fp.err)
				return
			}
			// Pebble panics too on a commit racing a failed log writer's
			// close, and on its invariants. Its locks may be held now: the
			// instance is treated as parked (never closed or reopened).
			g.parked.Store(true)
			g.log.Error("the raft log storage engine panicked: the raft log stays failed until the server restarts",
				"component", "pebble", "panic", r)
			err = fmt.Errorf("%w: storage engine panicked: %v", ErrStorageFailed, r)
		}
	}()
	return fn()
}

func (g *FatalGuard) isGuarded(id uint64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.guarded[id] > 0
}

// Parked reports whether a Pebble goroutine met a fatal error and was
// parked, or a call in Run panicked: the instance can be neither used nor
// closed.
func (g *FatalGuard) Parked() bool { return g.parked.Load() }

// Fatal returns the first fatal error Pebble reported, or nil.
func (g *FatalGuard) Fatal() error {
	if e := g.fatal.Load(); e != nil {
		return e
	}
	return nil
}

// goid returns the running goroutine's id from its stack header
// ("goroutine 42 [running]:"). Run and Fatalf use it, once per call.
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

// OpenPebble opens the Pebble database at dir on fs for a raft log, with a
// new FatalGuard as its logger: a fatal error during the open is returned.
func OpenPebble(fs vfs.FS, dir string, l *slog.Logger) (*pebble.DB, *FatalGuard, error) {
	g := NewFatalGuard(l)
	var db *pebble.DB
	err := g.Run(func() (err error) {
		db, err = pebble.Open(dir, &pebble.Options{FS: fs, Logger: g})
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return db, g, nil
}

// closeQuietly closes a database after a failure; its errors (the log
// writer's error, leaked iterators) say nothing new, and a Close that
// panics must not take the process along.
func closeQuietly(db *pebble.DB, g *FatalGuard) {
	defer func() { _ = recover() }()
	run := func(fn func() error) error { return fn() }
	if g != nil {
		run = g.Run
	}
	_ = run(db.Close)
}

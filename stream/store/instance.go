package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/vfs"
)

// One open of the database is an instance. A failed instance is closed
// before the store reopens, except when Pebble reported a fatal error on
// one of its own goroutines: that goroutine is parked for good (Pebble's
// state cannot be trusted past such an error, and returning into it ends
// in a panic on a goroutine nobody can recover), holding Pebble's mutex, so
// the instance can neither go on nor close. It is abandoned instead: its
// filesystem view goes dead (nothing it still runs can create, write,
// rename or remove a file), and a new instance opens the same directory.
// The abandoned instance's memory is not returned; that is the price of a
// fatal error, which should be rare (an I/O error Pebble did not expect).
//
// The directory's lock is taken once per store, by the first instance,
// and released by Store.Close, so that a new instance can open while an
// abandoned one still nominally holds it.

// errAbandoned is what an abandoned instance gets from the filesystem.
var errAbandoned = errors.New("store: database instance abandoned after a fatal error")

// instanceFS is one instance's view of the store's filesystem.
type instanceFS struct {
	vfs.FS
	st       *Store
	dead     atomic.Bool // abandoned: refuse every change
	poisoned atomic.Bool // a Pebble goroutine is parked: do not Close

	// The committer runs every call into Pebble that can reach Fatalf on
	// the store's behalf (commits, the closing sync), so that Fatalf can
	// tell them from Pebble's own goroutines by id, and so that the
	// writer can stop waiting when a Pebble goroutine parks holding the
	// mutex the call needs.
	jobs         chan func() error
	result       chan error
	parked       chan struct{} // closed when a Pebble goroutine parks
	parkOnce     sync.Once
	committerGID atomic.Uint64
	openerGID    atomic.Uint64 // the goroutine in pebble.Open, while it is
}

func (fs *instanceFS) park() { fs.parkOnce.Do(func() { close(fs.parked) }) }

// startCommitter starts the instance's committer goroutine.
func (fs *instanceFS) startCommitter() {
	started := make(chan struct{})
	go func() {
		fs.committerGID.Store(goid())
		close(started)
		for fn := range fs.jobs {
			fs.result <- runGuarded(fn)
		}
	}()
	<-started
}

// runGuarded runs fn, turning a Fatalf's panic into an error.
func runGuarded(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			fp, ok := r.(fatalPanic)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("%w: %w", ErrFailed, fp.err)
		}
	}()
	return fn()
}

// exec runs fn on the current instance's committer and waits for it,
// unless a Pebble goroutine parks first: then stuck is true and fn may
// still be blocked inside Pebble for good.
func (s *Store) exec(fn func() error) (err error, stuck bool) {
	inst := s.inst
	select {
	case inst.jobs <- fn:
	case <-inst.parked:
		return errAbandoned, true
	}
	select {
	case err := <-inst.result:
		return err, false
	case <-inst.parked:
		return errAbandoned, true
	}
}

func (fs *instanceFS) refuse() error {
	if fs.dead.Load() {
		return errAbandoned
	}
	return nil
}

func (fs *instanceFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return f, err
	}
	return &instanceFile{File: f, fs: fs}, nil
}

func (fs *instanceFS) Create(name string) (vfs.File, error) {
	if err := fs.refuse(); err != nil {
		return nil, err
	}
	return fs.wrap(fs.FS.Create(name))
}

func (fs *instanceFS) OpenReadWrite(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	if err := fs.refuse(); err != nil {
		return nil, err
	}
	return fs.wrap(fs.FS.OpenReadWrite(name, opts...))
}

func (fs *instanceFS) ReuseForWrite(oldname, newname string) (vfs.File, error) {
	if err := fs.refuse(); err != nil {
		return nil, err
	}
	return fs.wrap(fs.FS.ReuseForWrite(oldname, newname))
}

func (fs *instanceFS) Link(oldname, newname string) error {
	if err := fs.refuse(); err != nil {
		return err
	}
	return fs.FS.Link(oldname, newname)
}

func (fs *instanceFS) Remove(name string) error {
	if err := fs.refuse(); err != nil {
		return err
	}
	return fs.FS.Remove(name)
}

func (fs *instanceFS) RemoveAll(name string) error {
	if err := fs.refuse(); err != nil {
		return err
	}
	return fs.FS.RemoveAll(name)
}

func (fs *instanceFS) Rename(oldname, newname string) error {
	if err := fs.refuse(); err != nil {
		return err
	}
	return fs.FS.Rename(oldname, newname)
}

func (fs *instanceFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := fs.refuse(); err != nil {
		return err
	}
	return fs.FS.MkdirAll(dir, perm)
}

// Lock takes the real lock for the store once and hands every instance a
// lock that releases nothing.
func (fs *instanceFS) Lock(name string) (io.Closer, error) {
	st := fs.st
	st.lockMu.Lock()
	defer st.lockMu.Unlock()
	if st.lock == nil {
		l, err := fs.FS.Lock(name)
		if err != nil {
			return nil, err
		}
		st.lock = l
	}
	return nopCloser{}, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// instanceFile is a file of an instance: once the instance is abandoned,
// writes fail and syncs do nothing (what it wrote is the new instance's to
// replay, not its to finish).
type instanceFile struct {
	vfs.File
	fs *instanceFS
}

func (f *instanceFile) Write(p []byte) (int, error) {
	if err := f.fs.refuse(); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *instanceFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.refuse(); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *instanceFile) Preallocate(off, n int64) error {
	if err := f.fs.refuse(); err != nil {
		return err
	}
	return f.File.Preallocate(off, n)
}

func (f *instanceFile) Sync() error {
	if f.fs.dead.Load() {
		return nil
	}
	return f.File.Sync()
}

func (f *instanceFile) SyncData() error {
	if f.fs.dead.Load() {
		return nil
	}
	return f.File.SyncData()
}

func (f *instanceFile) SyncTo(length int64) (bool, error) {
	if f.fs.dead.Load() {
		return true, nil
	}
	return f.File.SyncTo(length)
}

// instanceState is the store's part of this file.
type instanceState struct {
	inst   *instanceFS // the open instance (writer goroutine, and Close)
	lockMu sync.Mutex
	lock   io.Closer // the directory's real lock
}

// retire ends the current instance before a reopen: closed when it can be,
// abandoned when a Pebble goroutine is parked inside it.
func (s *Store) retire() {
	if s.db == nil {
		return
	}
	if s.inst.poisoned.Load() {
		s.inst.dead.Store(true)
		s.log.Warn("abandoning the stream store's database instance; a new one takes over", "dir", s.opts.Dir)
	} else {
		closeQuietly(s.db)
		s.inst.dead.Store(true)
	}
	close(s.inst.jobs) // a committer stuck inside Pebble stays so
	s.db, s.rd = nil, failedReader{}
}

// releaseLock lets go of the directory's lock at Close.
func (s *Store) releaseLock() error {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	if s.lock == nil {
		return nil
	}
	err := s.lock.Close()
	s.lock = nil
	return err
}

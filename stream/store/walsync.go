package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/vfs"
)

// The "interval" durability rule promises that an acknowledged write has
// reached the operating system (so it survives a crash of the process) and
// is fsynced within SyncInterval (so power loss costs at most that long).
//
// Pebble's NoSync commit does not give the first half: it returns once the
// batch is in the write-ahead log's memory buffer and leaves the write(2) to
// a background flusher, so a process killed a moment after the ack loses
// it. Its Sync commit gives it, waiting until the flusher has written the
// log and then fsynced it. intervalFS keeps that wait and takes the fsync
// out of it: Sync on a write-ahead log file only marks the file as needing
// one, and the store's ticker calls syncWALs to do the real fsyncs. A
// commit therefore costs a write(2) shared by its whole group, not a disk
// flush, and the guarantee is exactly the documented one.

// intervalFS wraps an FS, deferring fsyncs of Pebble's write-ahead logs.
// Every other file (tables, manifest, directories) syncs as usual.
type intervalFS struct {
	vfs.FS

	mu   sync.Mutex // guards open; held across syncWALs so Close waits
	open map[*deferredFile]struct{}
}

func newIntervalFS(fs vfs.FS) *intervalFS {
	return &intervalFS{FS: fs, open: make(map[*deferredFile]struct{})}
}

// isWAL says whether name is one of Pebble's write-ahead log files, which
// it names NNNNNN.log.
func isWAL(name string) bool { return strings.HasSuffix(filepath.Base(name), ".log") }

func (fs *intervalFS) Create(name string) (vfs.File, error) {
	f, err := fs.FS.Create(name)
	if err != nil || !isWAL(name) {
		return f, err
	}
	return fs.track(f), nil
}

func (fs *intervalFS) ReuseForWrite(oldname, newname string) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname)
	if err != nil || !isWAL(newname) {
		return f, err
	}
	return fs.track(f), nil
}

func (fs *intervalFS) track(f vfs.File) *deferredFile {
	d := &deferredFile{File: f, fs: fs}
	fs.mu.Lock()
	fs.open[d] = struct{}{}
	fs.mu.Unlock()
	return d
}

// syncWALs fsyncs every open write-ahead log written since its last fsync.
func (fs *intervalFS) syncWALs() error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var errs []error
	for f := range fs.open {
		if f.dirty.Swap(false) {
			if err := f.File.SyncData(); err != nil {
				f.dirty.Store(true)
				errs = append(errs, fmt.Errorf("fsync write-ahead log: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// deferredFile is a write-ahead log whose Sync only records that an fsync
// is owed. By the time Pebble calls Sync its data has been written, which
// is what a commit waits for.
type deferredFile struct {
	vfs.File
	fs    *intervalFS
	dirty atomic.Bool
}

func (f *deferredFile) Sync() error {
	f.dirty.Store(true)
	return nil
}

func (f *deferredFile) SyncData() error { return f.Sync() }

// Close pays any fsync still owed: a log Pebble has finished with (rotated
// away or closed at shutdown) is made durable before it is let go.
func (f *deferredFile) Close() error {
	f.fs.mu.Lock()
	delete(f.fs.open, f)
	f.fs.mu.Unlock()
	var err error
	if f.dirty.Load() {
		err = f.File.SyncData()
	}
	return errors.Join(err, f.File.Close())
}

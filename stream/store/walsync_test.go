package store

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
)

// logWatchFS sits under the store's FS and watches write-ahead log files:
// it counts their real fsyncs and can hold their writes at a gate.
type logWatchFS struct {
	vfs.FS
	syncs   atomic.Int64
	written atomic.Int64
	held    atomic.Bool
	release chan struct{}
}

func newLogWatchFS() *logWatchFS {
	return &logWatchFS{FS: vfs.NewMem(), release: make(chan struct{})}
}

func (fs *logWatchFS) Create(name string) (vfs.File, error) {
	f, err := fs.FS.Create(name)
	if err != nil || !isWAL(name) {
		return f, err
	}
	return &watchedLog{File: f, fs: fs}, nil
}

func (fs *logWatchFS) ReuseForWrite(oldname, newname string) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname)
	if err != nil || !isWAL(newname) {
		return f, err
	}
	return &watchedLog{File: f, fs: fs}, nil
}

type watchedLog struct {
	vfs.File
	fs *logWatchFS
}

func (f *watchedLog) Write(p []byte) (int, error) {
	if f.fs.held.Load() {
		<-f.fs.release
	}
	n, err := f.File.Write(p)
	f.fs.written.Add(int64(n))
	return n, err
}

func (f *watchedLog) Sync() error     { f.fs.syncs.Add(1); return f.File.Sync() }
func (f *watchedLog) SyncData() error { f.fs.syncs.Add(1); return f.File.SyncData() }

func openWatched(t *testing.T, fs vfs.FS, mode SyncMode, every time.Duration) *Store {
	t.Helper()
	s, err := Open(Options{Dir: "db", FS: fs, Sync: mode, SyncInterval: every})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestIntervalAckWaitsForLogWrite: in interval mode an Op is not done
// until its batch has been written to the log file. An ack given while the
// bytes sat in Pebble's memory buffer would be lost with the process.
func TestIntervalAckWaitsForLogWrite(t *testing.T) {
	fs := newLogWatchFS()
	s := openWatched(t, fs, SyncInterval, time.Hour)
	var once sync.Once
	release := func() { once.Do(func() { fs.held.Store(false); close(fs.release) }) }
	t.Cleanup(release) // before Close, which waits for held writes
	fs.held.Store(true)
	before := fs.written.Load()
	done := make(chan error, 1)
	go func() {
		done <- s.Do(func(b *Batch) error { return b.PutMsg(1, &Msg{Seq: 1, Subject: []byte("a"), Data: []byte("x")}) })
	}()
	select {
	case err := <-done:
		t.Fatalf("done (err %v) while its log write was still held", err)
	case <-time.After(200 * time.Millisecond):
	}
	release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not done after the log write was released")
	}
	if fs.written.Load() == before {
		t.Fatal("done without writing the log")
	}
}

// TestIntervalDefersFsyncs: interval mode fsyncs the log on its tick, not
// per batch, and pays what is owed at Close; always mode fsyncs per batch.
func TestIntervalDefersFsyncs(t *testing.T) {
	put := func(s *Store, n int) {
		for i := 1; i <= n; i++ {
			if err := s.Do(func(b *Batch) error {
				return b.PutMsg(1, &Msg{Seq: uint64(i), Subject: []byte("a")})
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Run("interval", func(t *testing.T) {
		fs := newLogWatchFS()
		s := openWatched(t, fs, SyncInterval, time.Hour)
		before := fs.syncs.Load()
		put(s, 50)
		if n := fs.syncs.Load() - before; n != 0 {
			t.Fatalf("%d log fsyncs for 50 batches before any tick", n)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if fs.syncs.Load() == before {
			t.Fatal("close left the log unsynced")
		}
	})
	t.Run("tick", func(t *testing.T) {
		fs := newLogWatchFS()
		s := openWatched(t, fs, SyncInterval, 20*time.Millisecond)
		before := fs.syncs.Load()
		put(s, 1)
		deadline := time.Now().Add(5 * time.Second)
		for fs.syncs.Load() == before {
			if time.Now().After(deadline) {
				t.Fatal("no log fsync within 5s of a write")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	t.Run("always", func(t *testing.T) {
		fs := newLogWatchFS()
		s := openWatched(t, fs, SyncAlways, 0)
		before := fs.syncs.Load()
		put(s, 50)
		if n := fs.syncs.Load() - before; n < 50 {
			t.Fatalf("%d log fsyncs for 50 sequential batches", n)
		}
	})
}

package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/cockroachdb/pebble/vfs/errorfs"
)

// fakeSpace is a SpaceSource whose free space a test sets.
type fakeSpace struct{ free, total atomic.Uint64 }

func (f *fakeSpace) DiskSpace(string) (uint64, uint64, error) {
	return f.free.Load(), f.total.Load(), nil
}

func newFakeSpace(free, total uint64) *fakeSpace {
	f := &fakeSpace{}
	f.free.Store(free)
	f.total.Store(total)
	return f
}

// fault is an errorfs injector a test switches on and off: while on, op on
// files whose name ends in suffix fails with err.
type fault struct {
	on     atomic.Bool
	op     errorfs.Op
	suffix string
	err    error
	hits   atomic.Int64
}

func (f *fault) MaybeError(op errorfs.Op, path string) error {
	if f.on.Load() && op == f.op && strings.Contains(filepath.Base(path), f.suffix) {
		f.hits.Add(1)
		return f.err
	}
	return nil
}

// syncFaultFS injects f into fsyncs too: errorfs passes SyncData, which
// Pebble's log writer uses, straight through.
type syncFaultFS struct {
	vfs.FS
	f *fault
}

func (fs syncFaultFS) Create(name string) (vfs.File, error) {
	file, err := fs.FS.Create(name)
	return syncFaultFile{file, fs.f, name}, err
}

func (fs syncFaultFS) ReuseForWrite(oldname, newname string) (vfs.File, error) {
	file, err := fs.FS.ReuseForWrite(oldname, newname)
	return syncFaultFile{file, fs.f, newname}, err
}

type syncFaultFile struct {
	vfs.File
	f    *fault
	name string
}

func (file syncFaultFile) Sync() error {
	if err := file.f.MaybeError(errorfs.OpFileSync, file.name); err != nil {
		return err
	}
	return file.File.Sync()
}

func (file syncFaultFile) SyncData() error {
	if err := file.f.MaybeError(errorfs.OpFileSync, file.name); err != nil {
		return err
	}
	return file.File.SyncData()
}

func msgOp(id uint32, seq uint64, size int) func(b *Batch) error {
	return func(b *Batch) error {
		return b.PutMsg(id, &Msg{Seq: seq, Time: int64(seq), Subject: []byte("s"), Data: make([]byte, size)})
	}
}

// freeingOp is an Op that only deletes, as a stream delete does.
type freeingOp struct{ OpFunc }

func (freeingOp) FreesSpace() bool { return true }

func TestHeadroomRefusesBeforeApplyAndResumes(t *testing.T) {
	space := newFakeSpace(100<<20, 1<<30)
	s, err := Open(Options{Dir: "db", FS: vfs.NewMem(), Space: space, Headroom: 10 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Do(msgOp(1, 1, 100)); err != nil {
		t.Fatal(err)
	}
	space.free.Store(12 << 20) // less than headroom once the reserve (5 MiB) is counted
	time.Sleep(spaceRecheck + 10*time.Millisecond)
	applied := false
	err = s.Do(func(b *Batch) error { applied = true; return msgOp(1, 2, 100)(b) })
	if !errors.Is(err, ErrNoSpace) || !errors.Is(err, ErrNotApplied) || applied {
		t.Fatalf("write below headroom: err %v, applied %v; want ErrNoSpace before Apply", err, applied)
	}
	if h := s.Health(); !h.Space.Low || h.Refused == 0 {
		t.Fatalf("health %+v: want low space and a refusal counted", h)
	}
	// Deleting passes, so an operator can free space.
	del := &freeingOp{OpFunc{ApplyFn: func(b *Batch) error { return b.DeleteAllMsgs(1) }, DoneFn: nil}}
	ch := make(chan error, 1)
	del.DoneFn = func(err error) { ch <- err }
	s.Submit(del)
	if err := <-ch; err != nil {
		t.Fatalf("a freeing write below headroom: %v", err)
	}
	space.free.Store(100 << 20)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.Do(msgOp(1, 3, 100))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes did not resume with space back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := s.Reader().Msg(1, 3); err != nil {
		t.Fatal(err)
	}
}

func TestHeadroomCountsWritesBetweenLooks(t *testing.T) {
	// Free space that only a look would reveal as gone: the writes since
	// the last look are counted, so the store stops before the disk does.
	space := newFakeSpace(4<<20+8<<20, 1<<30) // headroom 8 MiB (+4 MiB reserve counted)
	s, err := Open(Options{Dir: "db", FS: vfs.NewMem(), Space: space, Headroom: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var refused error
	for i := uint64(1); i <= 100 && refused == nil; i++ {
		refused = s.Do(msgOp(1, i, 64<<10))
	}
	if !errors.Is(refused, ErrNoSpace) {
		t.Fatalf("64 KiB writes into 0 bytes above the headroom: %v", refused)
	}
}

// openFaulty opens a store over a memory FS wrapped in an injector.
func openFaulty(t *testing.T, f *fault, mode SyncMode) (*Store, *slogCounter) {
	t.Helper()
	logs := &slogCounter{}
	s, err := Open(Options{
		Dir: "db", FS: syncFaultFS{errorfs.Wrap(vfs.NewMem(), f), f}, Sync: mode, SyncInterval: 10 * time.Millisecond,
		Logger: slog.New(logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, logs
}

// slogCounter counts error records; the tests check a failure is loud.
type slogCounter struct{ errors atomic.Int64 }

func (c *slogCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *slogCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		c.errors.Add(1)
	}
	return nil
}
func (c *slogCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *slogCounter) WithGroup(string) slog.Handler      { return c }

func TestWALFaultsFailTheStoreAndItRecovers(t *testing.T) {
	cases := []struct {
		name string
		op   errorfs.Op
		err  error
	}{
		{"write ENOSPC", errorfs.OpFileWrite, syscall.ENOSPC},
		{"write EIO", errorfs.OpFileWrite, syscall.EIO},
		{"sync ENOSPC", errorfs.OpFileSync, syscall.ENOSPC},
		{"sync EIO", errorfs.OpFileSync, syscall.EIO},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fault{op: tc.op, suffix: ".log", err: tc.err}
			s, logs := openFaulty(t, f, SyncAlways)
			if err := s.Do(msgOp(1, 1, 10)); err != nil {
				t.Fatal(err)
			}
			f.on.Store(true)
			err := s.Do(msgOp(1, 2, 10))
			if !errors.Is(err, ErrFailed) || !errors.Is(err, tc.err) {
				t.Fatalf("write with the fault on: %v; want ErrFailed wrapping %v", err, tc.err)
			}
			if s.Failed() == nil || logs.errors.Load() == 0 {
				t.Fatal("the store is not marked failed, or said nothing at error level")
			}
			// Refused at once while failed, and reads go on.
			if err := s.Do(msgOp(1, 3, 10)); !errors.Is(err, ErrFailed) {
				t.Fatalf("write while failed: %v", err)
			}
			if _, err := s.Reader().Msg(1, 1); err != nil {
				t.Fatalf("read while failed: %v", err)
			}
			f.on.Store(false)
			deadline := time.Now().Add(15 * time.Second)
			for s.Failed() != nil {
				if time.Now().After(deadline) {
					t.Fatalf("the store did not recover: %v", s.Failed())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := s.Do(msgOp(1, 4, 10)); err != nil {
				t.Fatalf("write after recovery: %v", err)
			}
			for _, seq := range []uint64{1, 4} {
				if _, err := s.Reader().Msg(1, seq); err != nil {
					t.Fatalf("seq %d after recovery: %v", seq, err)
				}
			}
			if h := s.Health(); h.Reopens != 1 || h.Failed != "" {
				t.Fatalf("health after recovery %+v", h)
			}
		})
	}
}

func TestIntervalWALSyncFaultDoesNotPanic(t *testing.T) {
	// In interval mode log fsyncs happen on the writer's tick, outside a
	// commit: their failure fails the store, which recovers once the
	// fault is gone.
	f := &fault{op: errorfs.OpFileSync, suffix: ".log", err: syscall.EIO}
	s, _ := openFaulty(t, f, SyncInterval)
	f.on.Store(true)
	for i := uint64(1); i <= 5; i++ {
		_ = s.Do(msgOp(1, i, 10))
		time.Sleep(15 * time.Millisecond)
	}
	if s.Failed() == nil || !errors.Is(s.Failed(), syscall.EIO) {
		t.Fatalf("a failed interval fsync left the store %v", s.Failed())
	}
	f.on.Store(false)
	deadline := time.Now().Add(15 * time.Second)
	for s.Do(msgOp(1, 100, 10)) != nil {
		if time.Now().After(deadline) {
			t.Fatal("writes did not resume")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFlushFaultIsRetriedNotFatal(t *testing.T) {
	// Tables written by a memtable flush fail: Pebble reports a background
	// error and tries again; nothing panics, and once the fault is gone the
	// data written meanwhile is all there.
	f := &fault{op: errorfs.OpFileWrite, suffix: ".sst", err: syscall.ENOSPC}
	space := newFakeSpace(1<<30, 8<<20) // a small disk: 256 KiB memtables
	s, err := Open(Options{Dir: "db", FS: errorfs.Wrap(vfs.NewMem(), f), Space: space, Headroom: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f.on.Store(true)
	done := make(chan error, 1)
	go func() {
		for i := uint64(1); i <= 64; i++ {
			if err := s.Do(msgOp(1, i, 16<<10)); err != nil {
				done <- fmt.Errorf("seq %d: %w", i, err)
				return
			}
		}
		done <- nil
	}()
	deadline := time.Now().Add(15 * time.Second)
	for s.Health().BackgroundErrors == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no flush failed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.on.Store(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("writes stalled after the fault was removed")
	}
	for i := uint64(1); i <= 64; i++ {
		if _, err := s.Reader().Msg(1, i); err != nil {
			t.Fatalf("seq %d: %v", i, err)
		}
	}
}

func TestManifestFaultDuringFlushFailsTheStoreNotTheProcess(t *testing.T) {
	// A flush's MANIFEST write fails: Pebble calls Fatalf on its own
	// goroutine. The store is marked failed (not the process ended), and
	// reopens once the fault is gone with every acknowledged write.
	f := &fault{op: errorfs.OpFileWrite, suffix: "MANIFEST", err: syscall.EIO}
	space := newFakeSpace(1<<30, 8<<20) // a small disk: 256 KiB memtables
	s, err := Open(Options{Dir: "db", FS: errorfs.Wrap(vfs.NewMem(), f), Space: space, Headroom: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f.on.Store(true)
	acked := []uint64{}
	deadline := time.Now().Add(15 * time.Second)
	for seq := uint64(1); s.Failed() == nil; seq++ {
		if time.Now().After(deadline) {
			t.Fatal("the store never failed")
		}
		if err := s.Do(msgOp(1, seq, 16<<10)); err == nil {
			acked = append(acked, seq)
		}
	}
	if h := s.Health(); h.FatalErrors == 0 {
		t.Fatalf("health %+v: no fatal error counted", h)
	}
	f.on.Store(false)
	deadline = time.Now().Add(15 * time.Second)
	for s.Do(msgOp(1, 1<<20, 10)) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the store did not recover: %v", s.Failed())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, seq := range acked {
		if _, err := s.Reader().Msg(1, seq); err != nil {
			t.Fatalf("acknowledged seq %d after recovery: %v", seq, err)
		}
	}
}

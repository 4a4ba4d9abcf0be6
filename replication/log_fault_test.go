package replication

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/wisp-mq/wisp/consensus"
)

// fullDisk is a filesystem that fails every file creation, write and
// fsync with ENOSPC while full is set; reads always work.
type fullDisk struct {
	vfs.FS
	full atomic.Bool
	hits atomic.Int64
}

func (d *fullDisk) check(name string) error {
	if d.full.Load() {
		d.hits.Add(1)
		return fmt.Errorf("%s: %w", name, syscall.ENOSPC)
	}
	return nil
}

func (d *fullDisk) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return f, err
	}
	return &fullFile{File: f, d: d, name: name}, nil
}

func (d *fullDisk) Create(name string) (vfs.File, error) {
	if err := d.check(name); err != nil {
		return nil, err
	}
	f, err := d.FS.Create(name)
	return d.wrap(name, f, err)
}

func (d *fullDisk) OpenReadWrite(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := d.FS.OpenReadWrite(name, opts...)
	return d.wrap(name, f, err)
}

func (d *fullDisk) ReuseForWrite(oldname, newname string) (vfs.File, error) {
	if err := d.check(newname); err != nil {
		return nil, err
	}
	f, err := d.FS.ReuseForWrite(oldname, newname)
	return d.wrap(newname, f, err)
}

type fullFile struct {
	vfs.File
	d    *fullDisk
	name string
}

func (f *fullFile) Write(p []byte) (int, error) {
	if err := f.d.check(f.name); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *fullFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.d.check(f.name); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *fullFile) Sync() error {
	if err := f.d.check(f.name); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *fullFile) SyncData() error {
	if err := f.d.check(f.name); err != nil {
		return err
	}
	return f.File.SyncData()
}

// TestMetaRaftLogFullDiskKeepsTheServerUp: the raft log's disk of one of
// three real servers fills up (the leader's, then a follower's). Its
// server stays up, reports the fault, refuses assignments with
// ErrStorageFailed and stops leading; the other two go on; once space is
// back it reopens its log and catches up with what it missed.
func TestMetaRaftLogFullDiskKeepsTheServerUp(t *testing.T) {
	nodes := startTestCluster(t, 3)
	// Each node's disk becomes a fullDisk on restart.
	disks := map[*testNode]*fullDisk{}
	for _, tn := range nodes {
		tn.stop(t)
		disks[tn] = &fullDisk{FS: tn.fs}
		tn.fs = disks[tn]
		tn.start(t)
	}
	t.Cleanup(func() { // before the nodes stop
		for _, d := range disks {
			d.full.Store(false)
		}
	})
	assignUntil(t, nodes, "BEFORE", []string{"n1"})
	for round, role := range []string{"leader", "follower"} {
		leader := agreedLeader(t, nodes)
		bad := leader
		if role == "follower" {
			bad = without(nodes, leader)[0]
		}
		disks[bad].full.Store(true)
		// Assignments reach the bad server's log (as the leader's own
		// append, or as the follower's) and fail there; the others go on,
		// under a new leader if the bad server led.
		stream := fmt.Sprint("DURING-", round)
		assignUntil(t, nodes, stream, []string{"n1"})
		waitFor(t, "the "+role+"'s raft log to fail", func() bool { return bad.node.LogStatus().Fault != "" })
		ls := bad.node.LogStatus()
		if ls.Failures == 0 || ls.FaultSince.IsZero() {
			t.Fatalf("log status %+v: want a counted fault", ls)
		}
		if st := bad.status(); st.IsLeader || st.Log.Fault == "" {
			t.Fatalf("meta status of the failed server %+v: want a log fault, not leading", st)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := bad.node.Meta().Assign(ctx, "REFUSED", []string{"n1"})
		cancel()
		if !errors.Is(err, consensus.ErrStorageFailed) {
			t.Fatalf("assignment on the failed server: %v, want ErrStorageFailed", err)
		}
		// Reopening fails while the disk is still full.
		hits := disks[bad].hits.Load()
		waitFor(t, "a failed try to reopen the log", func() bool { return disks[bad].hits.Load() > hits })
		if bad.node.LogStatus().Fault == "" {
			t.Fatal("the log recovered on a full disk")
		}
		disks[bad].full.Store(false)
		waitFor(t, "the "+role+"'s raft log to recover", func() bool { return bad.node.LogStatus().Fault == "" })
		waitAssigned(t, nodes, stream)
		agreedLeader(t, nodes)
		if ls := bad.node.LogStatus(); ls.Reopens == 0 {
			t.Fatalf("log status %+v: want a reopen counted", ls)
		}
	}
	if _, ok := nodes[0].node.Meta().Assignments()["REFUSED"]; ok {
		t.Fatal("an assignment refused by a failed server was made")
	}
}

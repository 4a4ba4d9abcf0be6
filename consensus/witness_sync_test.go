package consensus

import (
	"testing"

	"github.com/cockroachdb/pebble/vfs"
)

// syncCountFS counts the full and data-only syncs of the files it opens.
type syncCountFS struct {
	vfs.FS
	full, data int
}

type syncCountFile struct {
	vfs.File
	fs *syncCountFS
}

func (c *syncCountFS) Create(name string) (vfs.File, error) {
	f, err := c.FS.Create(name)
	return &syncCountFile{f, c}, err
}

func (c *syncCountFS) OpenReadWrite(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := c.FS.OpenReadWrite(name, opts...)
	return &syncCountFile{f, c}, err
}

func (f *syncCountFile) Sync() error     { f.fs.full++; return f.File.Sync() }
func (f *syncCountFile) SyncData() error { f.fs.data++; return f.File.SyncData() }

// The witness's sync is the second in sequence before every
// acknowledgement; an in-place overwrite needs only its data synced, which
// spares the file system a journal commit for the inode's times.
func TestWitnessWritesSyncDataOnly(t *testing.T) {
	fs := vfs.NewStrictMem()
	w, _, _, _, err := openWitness(fs, "raft.witness")
	if err != nil {
		t.Fatal(err)
	}
	fs.ResetToSyncedState() // what the creation synced survives a power loss
	cfs := &syncCountFS{FS: fs}
	w2, seq, existed, valid, err := openWitness(cfs, "raft.witness")
	if err != nil || !existed || !valid || seq != 0 {
		t.Fatalf("reopen after creation: seq=%d existed=%v valid=%v err=%v", seq, existed, valid, err)
	}
	w.f.Close()
	for s := uint64(1); s <= 5; s++ {
		if err := w2.write(s); err != nil {
			t.Fatal(err)
		}
	}
	if cfs.full != 0 || cfs.data != 5 {
		t.Fatalf("5 witness writes made %d full and %d data syncs; want 0 and 5", cfs.full, cfs.data)
	}
	fs.ResetToSyncedState()
	_, seq, _, valid, err = openWitness(fs, "raft.witness")
	if err != nil || !valid || seq != 5 {
		t.Fatalf("after a power loss the witness reads seq=%d valid=%v err=%v; want 5", seq, valid, err)
	}
}

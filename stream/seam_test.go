package stream

import (
	"os"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/wisp-mq/wisp/stream/store"
)

// countingStore is a Store that counts the operations sent through it.
type countingStore struct {
	Store
	ops atomic.Int64
}

func (c *countingStore) Submit(op store.Op) { c.ops.Add(1); c.Store.Submit(op) }
func (c *countingStore) Do(apply func(b *store.Batch) error) error {
	c.ops.Add(1)
	return c.Store.Do(apply)
}

// TestServiceWritesThroughTheStoreSeam: New opens no store of its own when
// given OpenStore; every write goes through the Stores it returns (here
// both Pebble over one memory filesystem, which outlives the Service), and
// a file stream survives a restart on them.
func TestServiceWritesThroughTheStoreSeam(t *testing.T) {
	fs := vfs.NewMem()
	var file *countingStore
	opts := Options{OpenStore: func(kind Storage, onReopen func()) (Store, error) {
		dir := "file"
		if kind == MemoryStorage {
			dir = "memory"
		}
		st, err := store.Open(store.Options{Dir: dir, FS: fs, OnReopen: onReopen})
		if err != nil {
			return nil, err
		}
		c := &countingStore{Store: st}
		if kind == FileStorage {
			file = c
		}
		return c, nil
	}}
	h := newHarnessWith(t, opts)
	h.create(Config{Name: "F", Subjects: []string{"f"}})
	for i := 0; i < 3; i++ {
		if a := h.pub("f", "x"); a.Error != nil || a.Seq != uint64(i+1) {
			t.Fatalf("ack %+v", a)
		}
	}
	if n := file.ops.Load(); n < 4 {
		t.Fatalf("%d operations went through the seam, want at least 4", n)
	}
	h.restart()
	wantState(t, h.info("F"), 3, 1, 3)
	if entries, err := os.ReadDir(h.dir); err != nil || len(entries) != 0 {
		t.Fatalf("the store directory holds %d entries (%v): New opened a store itself", len(entries), err)
	}
}

// TestNewNeedsAStore: New opens no Pebble of its own; without OpenStore
// it refuses to start.
func TestNewNeedsAStore(t *testing.T) {
	if svc, err := New(newMemBroker(), Options{StoreDir: t.TempDir()}); err == nil {
		svc.Close()
		t.Fatal("New started without OpenStore")
	}
}

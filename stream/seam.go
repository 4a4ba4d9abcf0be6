package stream

import (
	"path/filepath"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/wisp-mq/wisp/stream/store"
)

// Store is the storage seam of the state machine: everything the stream
// layer writes or reads goes through it, so what backs it can change
// without the layer changing. Today *store.Store (Pebble on disk, or
// Pebble over vfs.NewMem() for memory streams) implements it; a
// replicated log is meant to be the next implementation.
//
// Writes are operations: Submit queues an Op whose Apply runs on the
// store's one writer goroutine, in submission order, and adds its changes
// to a batch that commits with the other Ops of its group (one batch and,
// under SyncAlways, one fsync per group); Done then tells the Op how its
// commit went. Do and DoFreeing are Submit and wait. An Op's Apply must
// decide nothing from outside its stream's state and its own fields
// (doc.go): the clock and ids are stamped on the Op before Submit.
//
// Reads go through Reader, which sees committed data only (a batch's own
// Reader sees its uncommitted writes too).
type Store interface {
	// Submit queues op for the writer; it blocks only while the queue
	// is full.
	Submit(op store.Op)
	// Do applies one function as an Op and waits for its commit.
	Do(apply func(b *store.Batch) error) error
	// DoFreeing is Do for an operation that frees space: it is let
	// through while the store refuses writes that add data.
	DoFreeing(apply func(b *store.Batch) error) error
	// Reader reads committed data.
	Reader() store.Reader
	// LastBatch numbers the newest batch whose Ops began to apply, and
	// AwaitCommitted(n) waits until batch n committed or failed: an
	// answer built from the state in memory, which Apply changes before
	// its batch commits, waits so that it never tells of data a read
	// cannot find yet (stream.awaitVisible). (Not Applied: a replicated
	// stream's replica, which embeds its Store, has an Applied of its
	// own, the raft index its store holds, which is no batch number.)
	LastBatch() uint64
	AwaitCommitted(n uint64)
	// Lost returns the ranges of stream id found missing at open.
	Lost(id uint32) []store.LostRange
	// OpenReport says what opening the store found (damage.go).
	OpenReport() store.OpenReport
	// Health reports whether the store accepts writes, and why not.
	Health() store.Health
	// CorruptRecords counts the records found corrupt and skipped.
	CorruptRecords() uint64
	// Close finishes the queued Ops and closes the store.
	Close() error
}

var _ Store = (*store.Store)(nil)

// OpenStoreFunc opens the store of one storage kind for New. onReopen is
// to be called (on the writer goroutine) after the store recovered from
// a failure by reopening, so the layer rebuilds what it holds in memory.
type OpenStoreFunc func(kind Storage, onReopen func()) (Store, error)

// PebbleStores returns the OpenStoreFunc of a server: file streams in
// Pebble under opts.StoreDir/streams (on opts.FS), with opts' sync rule
// and disk watch; memory streams in Pebble over a fresh vfs.NewMem(),
// without a write-ahead log, lost on restart like nats-server's memory
// storage.
func PebbleStores(opts Options) OpenStoreFunc {
	return func(kind Storage, onReopen func()) (Store, error) {
		if kind == MemoryStorage {
			return store.Open(store.Options{Dir: "mem", FS: vfs.NewMem(), Logger: opts.Logger, Volatile: true})
		}
		return store.Open(store.Options{
			Dir: filepath.Join(opts.StoreDir, "streams"), FS: opts.FS,
			Sync: opts.Sync, SyncInterval: opts.SyncInterval, Logger: opts.Logger,
			Headroom: opts.Headroom, Space: opts.Space, OnReopen: onReopen,
		})
	}
}

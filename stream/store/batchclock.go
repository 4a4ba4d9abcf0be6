package store

import (
	"math"
	"sync"
	"sync/atomic"
)

// batchClock numbers the writer's batches, so that a reader of what an
// Op's Apply changed in memory can wait until that change is in the
// database too. The stream layer updates its state in memory (counts,
// first and last sequence, subject table) from Apply, while the batch is
// still being gathered; those changes are visible to others as soon as
// Apply returns, but the batch's writes only once it commits. A client
// told by stream info that a stream holds n messages must find each of
// them when it reads, so such answers wait for the batch (AwaitCommitted).
type batchClock struct {
	applying atomic.Uint64 // the newest batch whose Ops began to apply
	finished atomic.Uint64 // every batch up to it committed or failed
	mu       sync.Mutex    // guards waking the waiters on cond
	cond     sync.Cond
}

// LastBatch returns the number of the newest batch the writer began
// applying Ops to (0: none yet). Whatever an Apply changed in memory
// before this call belongs to that batch or an earlier one; read it
// under the lock that Apply changes the memory under.
func (s *Store) LastBatch() uint64 { return s.clock.applying.Load() }

// AwaitCommitted waits until batch n has been committed (under
// SyncAlways, and fsynced) or has failed, or the writer stopped. It
// returns at once when no batch is in flight, the common case. It must
// not be called from the writer goroutine (from an Op's Apply or Done).
func (s *Store) AwaitCommitted(n uint64) {
	c := &s.clock
	if c.finished.Load() >= n {
		return
	}
	c.mu.Lock()
	for c.finished.Load() < n {
		c.cond.Wait()
	}
	c.mu.Unlock()
}

// beginBatch is the writer's: it numbers the batch it starts applying.
func (c *batchClock) beginBatch() uint64 { return c.applying.Add(1) }

// finishBatch is the writer's: batch n and every earlier one are done.
// The writer passes math.MaxUint64 when it stops, releasing every waiter.
func (c *batchClock) finishBatch(n uint64) {
	c.mu.Lock()
	c.finished.Store(n)
	c.cond.Broadcast()
	c.mu.Unlock()
}

func (c *batchClock) init() { c.cond.L = &c.mu }

func (c *batchClock) stop() { c.finishBatch(math.MaxUint64) }

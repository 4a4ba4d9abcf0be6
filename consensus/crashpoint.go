package consensus

import (
	"errors"
	"sync/atomic"

	"go.etcd.io/raft/v3"
)

// Crash points: places inside the host's Ready handling where a fault test
// can make the host die as a killed process would, leaving the rest of the
// iteration undone. Each point is named by what has happened before it in
// the real order (handleReady), so a host that reorders its steps (sends
// before it persists, say) reaches a point with more done than its name
// says, and a test that checks what survives a power loss at that point
// catches it.
type readyPoint int

const (
	// pointBeforePersist: every group's Ready is in the batch, nothing is
	// written; only the messages that promise nothing about this node's
	// log or vote (sendsBeforePersist) are sent.
	pointBeforePersist readyPoint = iota
	// pointAfterPersist: the batch is committed (synced if raft asked),
	// the acknowledgements and votes are not sent.
	pointAfterPersist
	// pointAfterSend: messages are with the transport, nothing applied.
	pointAfterSend
	// pointMidApply: some groups applied and advanced, not all.
	pointMidApply
	// pointAfterApply: every group applied and advanced; the records that
	// follow applying (snapshots, compaction) are not committed.
	pointAfterApply
	numReadyPoints
)

func (p readyPoint) String() string {
	return [...]string{"before-persist", "after-persist", "after-send", "mid-apply", "after-apply"}[p]
}

// crashHook decides, on the loop, whether the host dies at point p while
// handling rds (the Readys of this iteration, by group).
type crashHook func(p readyPoint, rds map[uint64]raft.Ready) bool

// errSimulatedCrash is what a host that died at a crash point reports
// from Err.
var errSimulatedCrash = errors.New("consensus: simulated crash inside Ready handling")

// crashHooks holds a host's hook (nil: none); tests only.
type crashHooks struct{ hook atomic.Pointer[crashHook] }

func (c *crashHooks) set(f crashHook) {
	if f == nil {
		c.hook.Store(nil)
		return
	}
	c.hook.Store(&f)
}

// at reports whether the host must die at p.
func (c *crashHooks) at(p readyPoint, rds map[uint64]raft.Ready) bool {
	f := c.hook.Load()
	return f != nil && (*f)(p, rds)
}

package consensus

import (
	"cmp"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// A raft panic halts its group on this node, not the process.
//
// etcd's raft panics when it cannot go on: a peer's message contradicts
// its log (an append conflicting with committed entries, a commit past the
// log's end that lostLog did not catch), or a bug. One group's impossible
// state must not take down the process, and with it every other group,
// stream and client of the server. So the host makes raft's calls for a
// group (stepping a message, ticking, taking and advancing a Ready) under
// a guard. A panic there halts that group here: its RawNode goes, it
// neither votes, acknowledges nor serves, its pending work fails, the
// panic is logged with its stack, and the group shows as halted (Status,
// Halted; /healthz and /metrics through the replication layer) until the
// server restarts and the group starts again from its disk. Its peers see
// a silent replica, as they would a crashed one.
//
// A panic while the store has failed is the storage fault's (raft panics
// on a failed read of its log) and goes on to safeIterate.

// guard runs fn, a raft call of group g (stepping m when m is set); it
// reports false if fn panicked and the group is now halted. Loop only.
func (h *Host) guard(g *group, what string, m *pb.Message, fn func()) (ok bool) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if h.cfg.Store.Failed() != nil {
			panic(r)
		}
		if m != nil {
			what += " " + m.GetType().String() + " from " + strconv.FormatUint(m.GetFrom(), 10)
		}
		h.halt(g, fmt.Errorf("consensus: group %d: raft panicked in %s: %v", g.id, what, r), debug.Stack())
		ok = false
	}()
	fn()
	return true
}

// halt stops group g on this host for good (until a restart).
func (h *Host) halt(g *group, err error, stack []byte) {
	h.log.Error("raft group halted on this node: raft cannot go on with its state; the node takes no part in the group until the server restarts",
		"group", g.id, "err", err, "stack", string(stack))
	g.stopRaft(h, fmt.Errorf("%w: %w", ErrLeadershipLost, err))
	g.halted = err
}

// step steps a peer's message into g, guarded.
func (g *group) step(h *Host, m *pb.Message) {
	h.guard(g, "step", m, func() {
		// Errors here are messages raft refuses (unknown peer, local
		// types from the network): dropping them is what raft expects.
		_ = g.rn.Step(m)
	})
}

// ready takes g's Ready if it has one, guarded.
func (g *group) ready(h *Host) (rd raft.Ready, ok bool) {
	h.guard(g, "ready", nil, func() {
		if g.rn.HasReady() {
			rd, ok = g.rn.Ready(), true
		}
	})
	return rd, ok && g.rn != nil
}

// advance tells raft that rd was handled, guarded.
func (g *group) advance(h *Host, rd raft.Ready) bool {
	return h.guard(g, "advance", nil, func() { g.rn.Advance(rd) })
}

// HaltedGroups are the groups a raft panic halted on this host (as of the
// loop's last iteration), with why, in group order.
func (h *Host) HaltedGroups() []HaltedGroup {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []HaltedGroup
	for id, s := range h.status {
		if s.Halted != nil {
			out = append(out, HaltedGroup{Group: id, Err: s.Halted})
		}
	}
	slices.SortFunc(out, func(a, b HaltedGroup) int { return cmp.Compare(a.Group, b.Group) })
	return out
}

// HaltedGroup is a group halted by a raft panic, and the panic.
type HaltedGroup struct {
	Group uint64
	Err   error
}

// RecoveringGroups are the groups recovering lost state on this host (as
// of the loop's last iteration), in group order: they neither vote nor
// serve here until they have caught up (recovery.go).
func (h *Host) RecoveringGroups() []uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []uint64
	for id, s := range h.status {
		if s.Recovering {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// LostLogs counts the times a replica here found at run time that it had
// lost entries it acknowledged, and entered recovery (lostlog.go).
func (h *Host) LostLogs() uint64 { return h.lostLogs.Load() }

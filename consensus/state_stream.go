package consensus

import (
	"errors"
	"fmt"
	"io"
	"os"

	pb "go.etcd.io/raft/v3/raftpb"
)

// A state machine whose state may be far larger than memory (a stream of
// many gigabytes) cannot hand raft its whole state as one value: raft
// keeps the latest snapshot's data in memory, writes it as one record and
// sends it as one message. Such a state machine implements StateStreamer.
// Its Snapshot returns only a small descriptor, which is what raft
// stores, compacts the log behind and sends in its MsgSnap; the state
// itself travels beside that message:
//
//   - on the sender, the transport calls Host.WriteState off the host's
//     loop, which asks the state machine to write its state (as of some
//     applied index at least the snapshot's: it need not be the
//     snapshot's exact one) into the transport, a piece at a time;
//   - the receiving transport writes what arrives to a file, verifies it,
//     and hands raft's message to the host with the file attached
//     (Message.State);
//   - when raft applies the snapshot, the host installs the file through
//     RestoreState on its loop, reading it a piece at a time, and counts
//     the state's own index as applied: raft then delivers the entries
//     between the snapshot's index and the state's, which the host skips
//     (all but membership changes, which raft itself must apply).
//
// Neither side ever holds the state whole. The price: a replica cannot
// rebuild its state from the snapshot in its own log, which holds only
// the descriptor. A state machine found behind its compacted log (it
// dropped its damaged state, say) starts empty and recovers from its
// peers instead, like a replica whose log was lost.
type StateStreamer interface {
	StateMachine
	// WriteState writes the state as of an applied index no lower than
	// that of the group's latest snapshot to w, and returns that index.
	// It is called off the host's loop, from any goroutine, possibly
	// while Apply runs; it must not hold the state in memory whole.
	WriteState(w io.Writer) (index uint64, err error)
	// RestoreState replaces the whole state with one WriteState wrote at
	// index, read from r. It is called on the host's loop, like Restore.
	RestoreState(r io.Reader, index uint64) error
}

// SnapshotState is a peer's state received beside a snapshot message: a
// file the transport wrote and verified, holding what the sender's
// WriteState wrote at Index. The host owns the file once it has the
// message: it installs it, or removes it when raft does not take the
// snapshot.
type SnapshotState struct {
	Path  string
	Index uint64
}

// ErrNotStreamed: the group's state machine is not a StateStreamer, so
// its snapshots carry the state in raft's message.
var ErrNotStreamed = errors.New("consensus: the group's state is not streamed")

// WriteState writes the state of group's state machine into w for a peer
// being sent a snapshot (StateStreamer.WriteState); it may be called from
// any goroutine.
func (h *Host) WriteState(group uint64, w io.Writer) (uint64, error) {
	h.mu.Lock()
	ss := h.streamers[group]
	h.mu.Unlock()
	if ss == nil {
		return 0, fmt.Errorf("%w (group %d)", ErrNotStreamed, group)
	}
	return ss.WriteState(w)
}

// Streamed reports whether group's snapshots carry their state beside the
// message (its state machine is a StateStreamer).
func (h *Host) Streamed(group uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.streamers[group] != nil
}

// registerStreamer makes a group's state writable off the loop.
func (h *Host) registerStreamer(id uint64, sm StateMachine) {
	ss, ok := sm.(StateStreamer)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.streamers == nil {
		h.streamers = map[uint64]StateStreamer{}
	}
	if ok {
		h.streamers[id] = ss
	} else {
		delete(h.streamers, id)
	}
}

func (h *Host) unregisterStreamer(id uint64) {
	h.mu.Lock()
	delete(h.streamers, id)
	h.mu.Unlock()
}

// stage keeps a received state until raft applies its snapshot, dropping
// the one it replaces.
func (g *group) stage(s *SnapshotState) {
	if g.staged != nil && g.staged.Path != s.Path {
		_ = os.Remove(g.staged.Path)
	}
	g.staged = s
}

// dropStaged removes a received state raft did not take.
func (g *group) dropStaged() {
	if g.staged != nil {
		_ = os.Remove(g.staged.Path)
		g.staged = nil
	}
}

// restoreSnapshot installs the snapshot raft applies at index: the state
// in the message for an ordinary state machine, the staged state beside it
// for a StateStreamer. It returns the index the state machine now holds.
func (g *group) restoreSnapshot(data []byte, index uint64) (uint64, error) {
	ss, ok := g.sm.(StateStreamer)
	if !ok {
		return index, g.sm.Restore(data, index)
	}
	st := g.staged
	g.staged = nil
	if st == nil || st.Index < index {
		if st != nil {
			_ = os.Remove(st.Path)
		}
		return 0, fmt.Errorf("no state received for the snapshot at %d", index)
	}
	defer os.Remove(st.Path)
	f, err := os.Open(st.Path)
	if err != nil {
		return 0, fmt.Errorf("open received state: %w", err)
	}
	defer f.Close()
	if err := ss.RestoreState(f, st.Index); err != nil {
		return 0, err
	}
	return st.Index, nil
}

// A peer's snapshot this replica cannot install faults its group only.
//
// The snapshot and its state come from a peer, which may be buggy, of
// another version or hostile; the host runs every group of the server,
// the meta group included, so an error there must not stop it. Two
// checks, two answers:
//
//   - Before raft sees the message (snapshotComplete): a streamed group's
//     snapshot must arrive with a state at or past its index. One without
//     is dropped, unstepped: raft never takes it, nothing is written, and
//     the leader, hearing no acknowledgement, probes and sends a snapshot
//     again.
//   - After raft took it (failedInstall): the snapshot is in the log and
//     acknowledged, but the state machine could not install it (the state
//     file unreadable, the state machine refusing it). The replica now
//     holds less than it promised, as one that lost its log: it empties
//     the group's state and log, durably marks it recovering and restarts
//     it in recovery (recovery.go), where it neither votes nor serves
//     until its peers have filled it again. If the state machine cannot
//     even be emptied, the group halts here (halt.go).
//
// Either way the failure is logged with the group and the sender, and
// counted among the failed installs (SnapshotInstalls). An error of the
// raft log's storage while doing so stays the store's fault, as any other
// (host.go).

// snapshotComplete reports whether m, a peer's message for g, may be
// stepped as far as a snapshot's state goes. Loop only.
func (g *group) snapshotComplete(h *Host, m Message) bool {
	if m.Raft.GetType() != pb.MsgSnap {
		return true
	}
	index := m.Raft.GetSnapshot().GetMetadata().GetIndex()
	if !g.streamed() || (m.State != nil && m.State.Index >= index) {
		g.snapFrom = m.Raft.GetFrom()
		return true
	}
	var got any = "none"
	if m.State != nil {
		got = m.State.Index
	}
	h.snapInstallsFailed.Add(1)
	h.log.Warn("raft snapshot from a peer dropped: it came without the state for its index; the leader sends one again",
		"group", g.id, "from", m.Raft.GetFrom(), "snapshot_index", index, "state_index", got)
	return false
}

// failedInstall confines to g the failure cause of installing the
// snapshot at index that raft took: the group restarts in recovery, or
// halts. It returns only a storage error. Loop only.
func (g *group) failedInstall(h *Host, index uint64, cause error) error {
	h.log.Error("raft replica could not install a peer's snapshot: it empties the group here and recovers it from its peers, neither voting nor serving until then",
		"group", g.id, "from", g.snapFrom, "snapshot_index", index, "err", cause)
	g.dropStaged()
	if err := g.sm.Restore(nil, 0); err != nil {
		h.halt(g, fmt.Errorf("consensus: group %d: install snapshot %d from %d: %w; then reset state machine: %w",
			g.id, index, g.snapFrom, cause, err), nil)
		return nil
	}
	wb := h.cfg.Store.NewBatch()
	defer wb.Close()
	if err := wb.resetLog(g.gs); err != nil {
		return err
	}
	if err := wb.setRecovering(g.gs, true); err != nil {
		return err
	}
	if err := wb.Commit(true); err != nil {
		return fmt.Errorf("consensus: group %d: reset after a failed snapshot install: %w", g.id, err)
	}
	g.stopRaft(h, ErrLeadershipLost)
	g.applied = 0
	g.recovery = newRecovery(h.cfg.ElectionTicks)
	return nil
}

// dropStates removes the received states of a batch the host does not
// take.
func dropStates(b Batch) {
	for _, m := range b.Messages {
		if m.State != nil {
			_ = os.Remove(m.State.Path)
		}
	}
}

// SnapshotInstalls counts the snapshots raft applied on this host since
// start, and the attempts to install one that failed (a snapshot message
// dropped for a missing or short state, a received state unreadable, or
// the state machine refusing it).
func (h *Host) SnapshotInstalls() (installed, failed uint64) {
	return h.snapInstalls.Load(), h.snapInstallsFailed.Load()
}

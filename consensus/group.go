package consensus

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"
)

// GroupConfig describes a group for AddGroup.
type GroupConfig struct {
	ID uint64
	// Peers are the host ids of the group's voters, this host included.
	// They are used when the group has no configuration on disk.
	Peers []uint64
	// Bootstrap says the group is new: with no records on this node, it
	// starts empty with Peers as voters. Without Bootstrap, a group with no
	// records here is one whose state this node lost (a wiped disk), and
	// it recovers from its peers before voting (recovery.go).
	Bootstrap    bool
	StateMachine StateMachine
}

// group is one raft group on a host; only the loop touches it.
type group struct {
	id      uint64
	peers   []uint64
	gs      *GroupStorage
	sm      StateMachine
	rn      *raft.RawNode // nil while recovery waits for its peers' terms
	applied uint64

	leader, term uint64
	isLeader     bool

	pending map[uint64]*Proposal // by sequence number
	// batch holds the proposals of the running iteration, stepped into
	// raft together by flushProposals (proposal_batch.go).
	batch proposalBatch
	// confSeq is the sequence of this host's membership change in flight
	// (0: none); confIndex its index once raft took it (membership.go).
	confSeq, confIndex uint64
	reads              []*readRequest
	recovery           *recovery
	// staged is a peer's state received beside a snapshot message, until
	// raft applies that snapshot (state_stream.go).
	staged *SnapshotState
	// snapFrom is the peer whose snapshot message was stepped last, named
	// when its install fails (state_stream.go).
	snapFrom uint64
	halted   error // a raft panic stopped the group here (halt.go)
}

type readRequest struct {
	id, term, index uint64
	ready           bool // raft confirmed index
	reply           func(uint64, error)
}

// AddGroup opens a group's log, reconciles its state machine with it and
// starts the group on this host.
func (h *Host) AddGroup(ctx context.Context, gc GroupConfig) error {
	if gc.ID == 0 || gc.StateMachine == nil || !slices.Contains(gc.Peers, h.cfg.ID) {
		return fmt.Errorf("consensus: group %d: needs an id, a state machine and peers including host %d", gc.ID, h.cfg.ID)
	}
	var err error
	if cerr := h.call(ctx, func() { err = h.addGroup(gc) }); cerr != nil {
		return cerr
	}
	return err
}

func (h *Host) addGroup(gc GroupConfig) error {
	if _, ok := h.groups[gc.ID]; ok {
		return fmt.Errorf("%w: %d", ErrGroupOpen, gc.ID)
	}
	if err := h.storageRefusal(); err != nil {
		return err
	}
	store := h.cfg.Store
	gs, rep, err := store.OpenGroup(gc.ID)
	if err != nil {
		return fmt.Errorf("consensus: open group %d: %w", gc.ID, err)
	}
	g := &group{id: gc.ID, peers: slices.Clone(gc.Peers), gs: gs, sm: gc.StateMachine, pending: make(map[uint64]*Proposal)}
	wb := store.NewBatch()
	defer wb.Close()
	if len(gs.ConfState().GetVoters()) == 0 {
		if err := wb.SetConfState(gs, &pb.ConfState{Voters: g.peers}); err != nil {
			return err
		}
	}
	if !rep.Existed && !gc.Bootstrap {
		h.log.Warn("raft group has no state on this node but is not new: recovering it from peers", "group", gc.ID)
		if err := wb.setRecovering(gs, true); err != nil {
			return err
		}
	}
	if err := g.reconcileAt(h, wb, g.sm.Applied()); err != nil {
		store.CloseGroup(gc.ID)
		return err
	}
	if err := wb.Commit(true); err != nil {
		store.CloseGroup(gc.ID)
		return err
	}
	if gs.Recovering() {
		g.recovery = newRecovery(h.cfg.ElectionTicks)
	} else if err := g.startRaft(h); err != nil {
		store.CloseGroup(gc.ID)
		return err
	}
	h.groups[gc.ID] = g
	h.registerStreamer(gc.ID, g.sm)
	h.publishStatus()
	return nil
}

// reconcileAt makes the state machine and the log agree on restart. The
// log is synced before anything is applied, so normally the state machine
// is at or behind the log's commit index; it can be behind the log's
// start (it lost unsynced applies, or dropped its damaged state, after a
// snapshot compacted the log: restore the snapshot), or ahead of the log's
// end (the log lost its tail to damage: start the replica from nothing,
// it recovers from peers).
//
// applied is what the state machine holds: its durable index on a start,
// what it applied in memory when the host reloads a group after a storage
// fault (host_faults.go).
func (g *group) reconcileAt(h *Host, wb *WriteBatch, applied uint64) error {
	st := wb.stage(g.gs)
	switch {
	case applied < st.trunc.index && g.streamed():
		// The log's snapshot holds a descriptor, not the state: start empty
		// and recover from the peers (state_stream.go).
		h.log.Warn("state machine is behind its compacted raft log, whose snapshot holds no state here: starting the replica empty, it recovers from its peers",
			"group", g.id, "applied", applied, "log_start", st.trunc.index)
		if err := g.resetToRecover(wb); err != nil {
			return err
		}
		applied = 0
	case applied < st.trunc.index:
		snap := st.snap
		if snap == nil || snap.GetMetadata().GetIndex() < st.trunc.index {
			// Not after a verified load: it drops a compaction mark no
			// snapshot covers (load.go).
			return fmt.Errorf("consensus: group %d: applied %d is before the log start %d and no snapshot covers it", g.id, applied, st.trunc.index)
		}
		h.log.Warn("state machine is behind its compacted raft log: restoring the log's snapshot, then replaying the entries after it",
			"group", g.id, "applied", applied, "log_start", st.trunc.index, "snapshot_index", snap.GetMetadata().GetIndex())
		if err := g.sm.Restore(snap.GetData(), snap.GetMetadata().GetIndex()); err != nil {
			return fmt.Errorf("consensus: group %d: restore snapshot: %w", g.id, err)
		}
		applied = snap.GetMetadata().GetIndex()
	case applied > st.hard.lastIndex && g.streamed() && st.streamed.covers(st, applied):
		// A streamed state installed past its snapshot before the log
		// received the entries between them: nothing was lost
		// (streamed.go). Raft delivers those entries again; the host
		// skips them (applyEntries).
		h.log.Info("state machine holds a streamed state past its snapshot: keeping it",
			"group", g.id, "applied", applied, "snapshot_index", st.streamed.snap)
	case applied > st.hard.lastIndex:
		h.log.Warn("state machine is ahead of its damaged raft log: starting the replica empty, it recovers from its peers",
			"group", g.id, "applied", applied, "log_last_index", st.hard.lastIndex)
		if err := g.resetToRecover(wb); err != nil {
			return err
		}
		applied = 0
	}
	if st.hard.commit < applied {
		// What was applied was committed; the commit index may have lagged
		// in an unsynced write. It never passes the log's end (a streamed
		// state can).
		st.hard.commit = min(applied, st.hard.lastIndex)
	}
	g.applied = applied
	return nil
}

// resetToRecover empties the state machine and the log and marks the
// group recovering: it neither votes nor campaigns until its peers filled
// it again (recovery.go).
func (g *group) resetToRecover(wb *WriteBatch) error {
	if err := g.sm.Restore(nil, 0); err != nil {
		return fmt.Errorf("consensus: group %d: reset state machine: %w", g.id, err)
	}
	if err := wb.resetLog(g.gs); err != nil {
		return err
	}
	return wb.setRecovering(g.gs, true)
}

// streamed reports whether the group's snapshots hold only a descriptor
// of its state (state_stream.go).
func (g *group) streamed() bool {
	_, ok := g.sm.(StateStreamer)
	return ok
}

// startRaft creates the RawNode from the group's storage.
func (g *group) startRaft(h *Host) error {
	c := h.cfg
	_, _, commit := g.gs.HardState()
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        c.ID,
		ElectionTick:              c.ElectionTicks,
		HeartbeatTick:             c.HeartbeatTicks,
		Storage:                   g.gs,
		Applied:                   min(g.applied, commit), // a streamed state may be past the log (streamed.go)
		MaxSizePerMsg:             c.MaxSizePerMsg,
		MaxInflightMsgs:           c.MaxInflightMsgs,
		MaxCommittedSizePerReady:  4 * c.MaxSizePerMsg,
		MaxUncommittedEntriesSize: 64 << 20,
		CheckQuorum:               true,
		PreVote:                   true,
		DisableProposalForwarding: true,
		StepDownOnRemoval:         true,
		Logger:                    raftLogger{h.log.With("group", g.id)},
	})
	if err != nil {
		return fmt.Errorf("consensus: group %d: start raft: %w", g.id, err)
	}
	g.rn = rn
	term, _, _ := g.gs.HardState()
	g.term = term
	return nil
}

func (g *group) tick(h *Host, out *outbox) {
	if g.recovery != nil {
		g.recovery.tick(h, g, out)
		return
	}
	if g.rn != nil { // nil: halted
		h.guard(g, "tick", nil, g.rn.Tick)
	}
}

// admit filters inbound messages: a recovering replica takes part in no
// election (recovery.go).
func (g *group) admit(m *pb.Message) bool {
	if g.recovery == nil {
		return true
	}
	switch m.GetType() {
	case pb.MsgVote, pb.MsgPreVote, pb.MsgTimeoutNow:
		return false
	}
	return true
}

// apply hands a Ready's snapshot and committed entries to the state
// machine, completes proposals and reads, and follows leadership.
func (g *group) apply(h *Host, rd raft.Ready, post *WriteBatch) error {
	if !raft.IsEmptySnap(rd.Snapshot) {
		md := rd.Snapshot.GetMetadata()
		at, err := g.restoreSnapshot(rd.Snapshot.GetData(), md.GetIndex())
		if err != nil {
			h.snapInstallsFailed.Add(1)
			// A peer's snapshot this replica cannot install faults this
			// group only, not the host (state_stream.go).
			return g.failedInstall(h, md.GetIndex(), err)
		}
		h.snapInstalls.Add(1)
		g.applied = at
	}
	// Committed entries first: a proposal committed in this Ready succeeded,
	// even if leadership changes in the same Ready.
	if err := g.applyEntries(h, rd.CommittedEntries, post); err != nil {
		return err
	}
	if rd.HardState != nil && rd.HardState.GetTerm() != g.term {
		g.term = rd.HardState.GetTerm()
		g.failPending(ErrLeadershipLost)
	}
	if rd.SoftState != nil {
		lead, isLeader := rd.SoftState.Lead, rd.SoftState.RaftState == raft.StateLeader
		if isLeader != g.isLeader || lead != g.leader {
			if g.isLeader && !isLeader {
				g.failPending(ErrLeadershipLost)
			}
			g.leader, g.isLeader = lead, isLeader
			if h.cfg.OnLeaderChange != nil {
				h.cfg.OnLeaderChange(LeaderChange{Group: g.id, Leader: lead, Term: g.term})
			}
		}
	}
	for _, rs := range rd.ReadStates {
		if len(rs.RequestCtx) != 8 {
			continue
		}
		id := binary.BigEndian.Uint64(rs.RequestCtx)
		for _, r := range g.reads {
			if r.id == id {
				r.index, r.ready = rs.Index, true
			}
		}
	}
	g.answerReads()
	return nil
}

func (g *group) applyEntries(h *Host, committed []*pb.Entry, post *WriteBatch) error {
	if len(committed) == 0 {
		return nil
	}
	ents := make([]Entry, 0, len(committed))
	type done struct {
		p   *Proposal
		res Result
		at  int // position in ents
	}
	var finished []done
	var conf *WriteBatch // configuration changes, made durable before Apply
	defer func() {
		if conf != nil {
			conf.Close()
		}
	}()
	for _, e := range committed {
		if e.GetIndex() <= g.applied {
			// The state machine holds it already: a streamed state can be
			// ahead of its snapshot (state_stream.go). Raft must still
			// apply a membership change (applyConfChange skips one it has).
			if t := e.GetType(); t == pb.EntryConfChange || t == pb.EntryConfChangeV2 {
				if conf == nil {
					conf = h.cfg.Store.NewBatch()
				}
				if _, err := g.applyConfChange(h, e, conf); err != nil {
					return err
				}
			}
			continue
		}
		ent := Entry{Index: e.GetIndex(), Term: e.GetTerm()}
		switch e.GetType() {
		case pb.EntryNormal:
			if host, seq, data, ok := unwrapProposal(e.GetData()); ok {
				ent.Data, ent.Proposer = data, host
				if p := g.pending[seq]; host == h.cfg.ID && p != nil {
					delete(g.pending, seq)
					finished = append(finished, done{p, Result{Index: ent.Index, Term: ent.Term}, len(ents)})
				}
			}
		case pb.EntryConfChange, pb.EntryConfChangeV2:
			if conf == nil {
				conf = h.cfg.Store.NewBatch()
			}
			seq, err := g.applyConfChange(h, e, conf)
			if err != nil {
				return err
			}
			if p := g.pending[seq]; seq != 0 && p != nil {
				delete(g.pending, seq)
				g.confSeq = 0
				finished = append(finished, done{p, Result{Index: ent.Index, Term: ent.Term}, -1})
			}
		}
		ents = append(ents, ent)
	}
	if conf != nil {
		// The new configuration is on disk before the state machine may
		// record the change's index as applied: a state machine that
		// persisted its applied index past a change whose configuration
		// was lost would restart raft with the old voters, and raft would
		// never hand it the change again.
		if err := conf.Commit(true); err != nil {
			return fmt.Errorf("save configuration: %w", err)
		}
		conf = nil
	}
	if len(ents) == 0 {
		return nil
	}
	results, err := g.sm.Apply(ents)
	if err != nil {
		return fmt.Errorf("apply through %d: %w", ents[len(ents)-1].Index, err)
	}
	g.applied = ents[len(ents)-1].Index
	for _, d := range finished {
		if d.at >= 0 && d.at < len(results) {
			d.res.Value = results[d.at]
		}
		d.p.finish(d.res, nil)
	}
	return nil
}

// applyConfChange applies a committed membership change to raft and
// stages the new configuration, with the change's index, in wb. A change
// at or before the stored configuration's index is already in it (the
// state machine had not applied it when the host stopped): raft started
// with it, and applying it twice could fail (a joint change). seq is the
// proposer's sequence if this host proposed it.
func (g *group) applyConfChange(h *Host, e *pb.Entry, wb *WriteBatch) (seq uint64, err error) {
	var cc pb.ConfChangeI
	var ctx []byte
	if e.GetType() == pb.EntryConfChange {
		var c pb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &c); err != nil {
			return 0, fmt.Errorf("conf change %d: %w", e.GetIndex(), err)
		}
		cc, ctx = &c, c.GetContext()
	} else {
		var c pb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &c); err != nil {
			return 0, fmt.Errorf("conf change %d: %w", e.GetIndex(), err)
		}
		cc, ctx = &c, c.GetContext()
	}
	if host, s, _, ok := unwrapProposal(ctx); ok && host == h.cfg.ID {
		seq = s
	}
	if e.GetIndex() <= wb.stage(g.gs).confIndex {
		return seq, nil
	}
	cs := g.rn.ApplyConfChange(cc)
	return seq, wb.setConfAt(g.gs, cs, e.GetIndex())
}

func (g *group) answerReads() {
	keep := g.reads[:0]
	for _, r := range g.reads {
		switch {
		case r.term != g.term || !g.isLeader:
			r.reply(0, ErrLeadershipLost)
		case r.ready && g.applied >= r.index:
			r.reply(r.index, nil)
		default:
			keep = append(keep, r)
		}
	}
	g.reads = keep
}

// maybeSnapshot takes a state machine snapshot and compacts the log once
// SnapshotEntries entries were applied since the last one, or once a
// membership change was applied after it: raft sends a follower the
// latest snapshot, and a replica added since it would find itself missing
// from the snapshot's voters and refuse it.
func (g *group) maybeSnapshot(h *Host, post *WriteBatch) error {
	st := g.gs.state()
	last := uint64(0)
	if st.snap != nil {
		last = st.snap.GetMetadata().GetIndex()
	}
	confNewer := st.snap != nil && st.confIndex > last && g.applied >= st.confIndex
	if g.applied < last+h.cfg.SnapshotEntries && !confNewer {
		return nil
	}
	if g.applied > st.hard.lastIndex {
		// A streamed state past the log's end (streamed.go): the log
		// must reach it before a snapshot can be taken there.
		return nil
	}
	data, err := g.sm.Snapshot()
	if err != nil {
		return fmt.Errorf("snapshot at %d: %w", g.applied, err)
	}
	compactTo := uint64(0)
	if g.applied > h.cfg.KeepEntries {
		compactTo = g.applied - h.cfg.KeepEntries
	}
	return post.CreateSnapshot(g.gs, g.applied, data, compactTo)
}

func (g *group) failPending(err error) {
	g.confSeq, g.confIndex = 0, 0
	g.batch.reset()
	for seq, p := range g.pending {
		p.finish(Result{}, err)
		delete(g.pending, seq)
	}
	for _, r := range g.reads {
		r.reply(0, err)
	}
	g.reads = nil
}

// RemoveGroup stops a group on this host: its pending proposals and reads
// fail with ErrUnknownGroup-wrapped errors, and with deleteData its
// records go too (the replica was moved elsewhere). Without deleteData a
// later AddGroup resumes it.
func (h *Host) RemoveGroup(ctx context.Context, id uint64, deleteData bool) error {
	var err error
	if cerr := h.call(ctx, func() { err = h.removeGroup(id, deleteData) }); cerr != nil {
		return cerr
	}
	return err
}

func (h *Host) removeGroup(id uint64, deleteData bool) error {
	g := h.groups[id]
	if g == nil {
		// Not running here, but its records may be on disk (a replica
		// that was not started again): they go all the same.
		if deleteData {
			if err := h.cfg.Store.deleteGroup(id); err != nil {
				return err
			}
		}
		return fmt.Errorf("%w: %d", ErrUnknownGroup, id)
	}
	g.failPending(fmt.Errorf("%w: %d removed", ErrUnknownGroup, id))
	delete(h.groups, id)
	g.dropStaged()
	h.unregisterStreamer(id)
	h.mu.Lock()
	delete(h.status, id)
	h.mu.Unlock()
	h.cfg.Store.CloseGroup(id)
	if !deleteData {
		return nil
	}
	return h.cfg.Store.deleteGroup(id)
}

// releaseSettled lets the log's cache (entrycache.go) drop the entries no
// one will read again soon: those applied here and, on a leader, held by
// every follower. An idle group then keeps none, however many groups the
// host runs; a follower far behind is sent older entries from Pebble.
func (g *group) releaseSettled(h *Host) {
	upTo := g.applied
	if g.rn != nil && g.isLeader {
		g.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
			if id != h.cfg.ID && pr.Match < upTo {
				upTo = pr.Match
			}
		})
	}
	g.gs.releaseCached(upTo)
}

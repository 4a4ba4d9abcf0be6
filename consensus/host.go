package consensus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// Host runs many raft groups on one goroutine. Each loop iteration takes
// the inbound batches and the callers' requests, steps them into the
// groups, ticks, then handles every group's Ready together:
//
//  1. messages that promise nothing about this node's log or vote (a
//     leader's appends, heartbeats) are sent, so that followers write
//     while the leader does;
//  2. committed entries already in the local log before this Ready are
//     applied (up to the first membership change), their proposals
//     completed: a majority holds them whatever this node writes next;
//  3. entries, hard state and snapshots of all groups go into one Pebble
//     batch, committed with one fsync;
//  4. only then are the other messages (acknowledgements of entries,
//     votes) sent, all messages for one peer in one Batch;
//  5. snapshots and the other committed entries are applied to the state
//     machines, proposals completed;
//  6. Advance.
//
// This is the order etcd's raft documents for Ready, with the leader's
// write in parallel with its followers' that it allows, and entries that
// are committed and already in the local log applied ahead of the write
// (step 2); nothing else
// touches a RawNode, which is not safe for concurrent use.
type Host struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	inbox    []Batch
	inboxN   int // estimated bytes in inbox (batchSize)
	requests []request
	extra    int // clock jump: ticks to add on the next iteration
	paused   bool
	status   map[uint64]GroupStatus
	err      error
	// streamers are the groups whose state is written off the loop
	// (state_stream.go).
	streamers map[uint64]StateStreamer
	// fault and faultSince: the raft log cannot be written (host_faults.go).
	fault      error
	faultSince time.Time

	wake    chan struct{}
	resume  chan struct{}
	stop    chan struct{}
	stopped chan struct{}

	// Loop-owned.
	groups    map[uint64]*group
	seq       uint64
	loopFault *hostFault // the store failed; nil normally
	// taken are the requests of the running iteration, the first next of
	// them run: those a storage panic cut short run after it.
	taken []request
	next  int

	crash crashHooks // fault tests only

	lostLogs atomic.Uint64 // replicas that found they lost acknowledged entries (lostlog.go)
	// snapInstalls and snapInstallsFailed count the snapshots raft applied
	// here and those whose state did not install (state_stream.go).
	snapInstalls, snapInstallsFailed atomic.Uint64
}

// GroupStatus is a group's state as of the host's last loop iteration.
type GroupStatus struct {
	Leader, Term, Commit, Applied uint64
	IsLeader, Recovering          bool
	// StorageFault: this host's raft log cannot be written, so the group
	// does not run here until it can (host_faults.go).
	StorageFault bool
	// Halted: raft panicked in the group, which does not run here until
	// the server restarts (halt.go); nil normally.
	Halted error
}

// NewHost validates cfg and starts the host's loop.
func NewHost(cfg Config) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.RequestLimit == 0 {
		cfg.RequestLimit = 16384
	}
	h := &Host{
		cfg:     cfg,
		log:     cfg.Logger,
		status:  make(map[uint64]GroupStatus),
		wake:    make(chan struct{}, 1),
		resume:  make(chan struct{}),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
		groups:  make(map[uint64]*group),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.log = h.log.With("host", cfg.ID)
	go h.run()
	return h, nil
}

// ID is the host's raft id.
func (h *Host) ID() uint64 { return h.cfg.ID }

// Stop ends the loop and fails pending requests with ErrStopped. It does
// not close the store.
func (h *Host) Stop() {
	h.mu.Lock()
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	h.mu.Unlock()
	<-h.stopped
}

// Err is the error that stopped the host, if any (a storage or state
// machine failure).
func (h *Host) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// Receive queues a batch from the transport. It never blocks; past
// InboxLimit queued batches the batch is dropped.
func (h *Host) Receive(b Batch) {
	n := batchSize(b)
	limit := h.cfg.InboxBytes
	if limit <= 0 {
		limit = 64 << 20
	}
	h.mu.Lock()
	if len(h.inbox) < h.cfg.InboxLimit && (h.inboxN+n <= limit || len(h.inbox) == 0) {
		h.inbox = append(h.inbox, b)
		h.inboxN += n
	} else {
		defer dropStates(b)
	}
	h.mu.Unlock()
	h.poke()
}

// batchSize estimates the memory a batch holds: its entries' and
// snapshots' data plus a fixed cost per message.
func batchSize(b Batch) int {
	n := 64 * (len(b.TermQueries) + len(b.TermReplies))
	for _, m := range b.Messages {
		n += 128
		for _, e := range m.Raft.GetEntries() {
			n += 32 + len(e.GetData())
		}
		if s := m.Raft.GetSnapshot(); s != nil {
			n += len(s.GetData())
		}
	}
	return n
}

func (h *Host) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// request is a caller's work for the loop; fail (if set) is called
// instead of run when the host stops first.
type request struct {
	run, fail func()
}

// do queues f for the loop, refusing it when the host stopped or when
// RequestLimit requests are already waiting (ErrQueueFull): the loop is
// behind, and a queue that grew without bound would only make every
// caller wait longer.
func (h *Host) do(f, fail func()) error { return h.enqueue(request{f, fail}, true) }

// doInternal queues what the host's own parts (the transport's reports)
// ask: never refused for a full queue, since raft counts on hearing it,
// and bounded anyway: a transport reports unreachable peers from Send, on
// the loop, a few per iteration, and each snapshot it was handed once.
func (h *Host) doInternal(f func()) { h.enqueue(request{run: f}, false) }

func (h *Host) enqueue(r request, limited bool) error {
	h.mu.Lock()
	select {
	case <-h.stop:
		h.mu.Unlock()
		return ErrStopped
	default:
	}
	if limited && len(h.requests) >= h.cfg.RequestLimit {
		h.mu.Unlock()
		return ErrQueueFull
	}
	h.requests = append(h.requests, r)
	h.mu.Unlock()
	h.poke()
	return nil
}

// call runs f on the loop and waits for it.
func (h *Host) call(ctx context.Context, f func()) error {
	done := make(chan struct{})
	if err := h.do(func() { f(); close(done) }, nil); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-h.stopped:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Pause stops the loop (as a stalled process would) until Resume; inbound
// batches queue up meanwhile.
func (h *Host) Pause() {
	h.mu.Lock()
	h.paused = true
	h.mu.Unlock()
}

// Resume restarts a paused loop.
func (h *Host) Resume() {
	h.mu.Lock()
	if h.paused {
		h.paused = false
		close(h.resume)
		h.resume = make(chan struct{})
	}
	h.mu.Unlock()
}

// JumpClock makes the next iteration tick n extra times, as a clock that
// jumped forward would.
func (h *Host) JumpClock(n int) {
	h.mu.Lock()
	h.extra += n
	h.mu.Unlock()
	h.poke()
}

// Status returns a group's state as of the last loop iteration.
func (h *Host) Status(group uint64) (GroupStatus, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.status[group]
	return s, ok
}

// Propose submits data to a group. Only the leader accepts proposals
// (raft's forwarding is off: the leader stamps operations); elsewhere the
// proposal fails with *NotLeaderError at once, and with ErrQueueFull when
// the host's request queue is full.
func (h *Host) Propose(group uint64, data []byte) *Proposal {
	p := newProposal()
	if err := h.do(func() { h.propose(group, data, p) }, func() { p.finish(Result{}, ErrStopped) }); err != nil {
		p.finish(Result{}, err)
	}
	return p
}

func (h *Host) propose(id uint64, data []byte, p *Proposal) {
	g := h.groups[id]
	switch {
	case g == nil:
		p.finish(Result{}, fmt.Errorf("%w: %d", ErrUnknownGroup, id))
		return
	case h.loopFault != nil:
		p.finish(Result{}, h.storageRefusal())
		return
	case g.rn == nil || !g.isLeader:
		p.finish(Result{}, &NotLeaderError{Group: id, Leader: g.leader})
		return
	}
	h.seq++
	g.pending[h.seq] = p
	if g.batch.add(h.seq, wrapProposal(h.cfg.ID, h.seq, data)) >= h.cfg.MaxSizePerMsg {
		h.flushGroupProposals(g)
	}
}

// ReadIndex returns an index such that every entry committed before the
// call is at or below it, confirmed by a quorum (raft's ReadIndex), once
// this replica has applied through it: a read of the state machine after
// ReadIndex returns is linearizable. Only the leader answers.
func (h *Host) ReadIndex(ctx context.Context, group uint64) (uint64, error) {
	type answer struct {
		index uint64
		err   error
	}
	ch := make(chan answer, 1)
	if err := h.do(func() {
		g, err := h.leaderOf(group)
		if err != nil {
			ch <- answer{0, err}
			return
		}
		h.seq++
		var rctx [8]byte
		binary.BigEndian.PutUint64(rctx[:], h.seq)
		g.reads = append(g.reads, &readRequest{id: h.seq, term: g.term, reply: func(i uint64, err error) { ch <- answer{i, err} }})
		g.rn.ReadIndex(rctx[:])
	}, func() { ch <- answer{0, ErrStopped} }); err != nil {
		return 0, err
	}
	select {
	case a := <-ch:
		return a.index, a.err
	case <-h.stopped:
		return 0, ErrStopped
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (h *Host) run() {
	defer close(h.stopped)
	ticker := time.NewTicker(h.cfg.TickInterval)
	defer ticker.Stop()
	defer h.failAll(ErrStopped)
	for {
		ticks := 0
		select {
		case <-h.stop:
			return
		case <-ticker.C:
			ticks = 1
		case <-h.wake:
		}
		h.mu.Lock()
		paused, resume := h.paused, h.resume
		h.mu.Unlock()
		if paused {
			select {
			case <-resume:
			case <-h.stop:
				return
			}
		}
		err := h.safeIterate(ticks)
		if err != nil && errors.Is(err, ErrStorageFailed) {
			// A full or failing disk: stop taking part, and come back
			// once the log can be written (host_faults.go).
			if h.loopFault == nil {
				h.enterFault(err)
			}
			h.publishStatus()
			continue
		}
		if err != nil {
			h.log.Error("raft host stopped", "err", err)
			h.mu.Lock()
			h.err = err
			select {
			case <-h.stop:
			default:
				close(h.stop)
			}
			h.mu.Unlock()
			return
		}
	}
}

// iterate is one loop iteration.
func (h *Host) iterate(ticks int) error {
	if h.loopFault == nil {
		if err := h.cfg.Store.Failed(); err != nil {
			// A write outside the loop's batches failed (AddGroup's, the
			// owner's own records).
			h.enterFault(err)
		}
	}
	if h.loopFault != nil {
		h.faultIteration()
		return nil
	}
	h.mu.Lock()
	inbox, requests := h.inbox, h.requests
	h.inbox, h.requests, h.inboxN = nil, nil, 0
	ticks += h.extra
	h.extra = 0
	h.mu.Unlock()

	out := newOutbox(h.cfg.ID)
	h.taken, h.next = requests, 0
	for _, b := range inbox {
		h.receive(b, out)
	}
	h.runTaken()
	for _, g := range h.groups {
		for range ticks {
			g.tick(h, out)
		}
	}
	if err := h.handleReady(out); err != nil {
		return err
	}
	h.publishStatus()
	return nil
}

// receive steps one inbound batch into its groups.
func (h *Host) receive(b Batch, out *outbox) {
	for _, m := range b.Messages {
		g := h.groups[m.Group]
		if g == nil || g.rn == nil || !g.admit(m.Raft) || g.lostLog(h, m.Raft) || !g.snapshotComplete(h, m) {
			if m.State != nil {
				_ = os.Remove(m.State.Path)
			}
			continue
		}
		if m.State != nil {
			g.stage(m.State)
		}
		g.step(h, m.Raft)
	}
	for _, id := range b.TermQueries {
		if g := h.groups[id]; g != nil && g.rn != nil && g.recovery == nil {
			out.reply(b.From, TermReply{Group: id, Term: g.rn.BasicStatus().GetTerm()})
		}
	}
	for _, r := range b.TermReplies {
		if g := h.groups[r.Group]; g != nil && g.recovery != nil {
			g.recovery.answer(b.From, r.Term)
		}
	}
}

// handleReady persists, sends, applies and advances every group with a
// Ready. The crash points (crashpoint.go) mark where a fault test may make
// the host die; they sit between the steps of the real order.
func (h *Host) handleReady(out *outbox) error {
	type ready struct {
		g  *group
		rd raft.Ready
		// early: how many of rd's committed entries were applied before
		// the write (stableCommitted).
		early int
	}
	var rds []ready
	wb := h.cfg.Store.NewBatch()
	defer wb.Close()
	sync := false
	for _, g := range h.groups {
		if err := g.startIfRecovered(h); err != nil {
			return err
		}
		if g.rn == nil {
			continue
		}
		rd, ok := g.ready(h)
		if !ok {
			continue
		}
		g.checkConfProposal(rd.Entries)
		if rd.HardState != nil {
			wb.SetHardState(g.gs, rd.HardState)
		}
		if !raft.IsEmptySnap(rd.Snapshot) {
			if err := wb.ApplySnapshot(g.gs, rd.Snapshot); err != nil {
				return err
			}
			if idx := rd.Snapshot.GetMetadata().GetIndex(); g.streamed() && g.staged != nil && g.staged.Index >= idx {
				// Synced with the snapshot, before the state is installed
				// (streamed.go).
				if err := wb.setStreamed(g.gs, streamedRecord{snap: idx, state: g.staged.Index}); err != nil {
					return err
				}
			}
			// raft's MustSync does not count a snapshot, but the follower
			// acknowledges it in this Ready's messages.
			sync = true
		}
		if err := wb.Append(g.gs, rd.Entries); err != nil {
			return err
		}
		sync = sync || rd.MustSync
		rds = append(rds, ready{g: g, rd: rd})
	}
	crashed := func(p readyPoint) bool {
		if h.crash.hook.Load() == nil {
			return false
		}
		m := make(map[uint64]raft.Ready, len(rds))
		for _, r := range rds {
			m[r.g.id] = r.rd
		}
		return h.crash.at(p, m)
	}
	// Messages that do not answer for this node's unstable state (a
	// leader's appends and heartbeats, a candidate's vote requests) go out
	// before the write, so that a leader's fsync runs while its followers
	// receive and write the same entries (the raft thesis, 10.2.1). Its
	// own acknowledgement of them counts only after the write: raft steps
	// it on Advance, so an entry commits only once a majority has it on
	// disk, this leader counted only if it is one of them.
	early := newOutbox(h.cfg.ID)
	for _, r := range rds {
		for _, m := range r.rd.Messages {
			if sendsBeforePersist(m) {
				early.add(r.g.id, m)
			}
		}
	}
	early.flush(h.cfg.Transport)
	if crashed(pointBeforePersist) {
		return errSimulatedCrash
	}
	post := h.cfg.Store.NewBatch()
	defer post.Close()
	// Committed entries already in this node's log are applied while the
	// write of the new ones is still to come, so that their proposals'
	// answers (a PubAck) do not wait for an fsync of entries proposed
	// after them. A committed entry is on the disks of a majority whatever
	// this node writes next (a leader counts itself only once its own
	// write is done), and one already in the local log keeps the state
	// machine from ever getting ahead of that log.
	for i := range rds {
		r := &rds[i]
		if r.early = stableCommitted(r.rd); r.early > 0 {
			if err := r.g.applyEntries(h, r.rd.CommittedEntries[:r.early], post); err != nil {
				return fmt.Errorf("consensus: group %d: %w", r.g.id, err)
			}
		}
	}
	// Sync only when raft needs it (Ready.MustSync: new entries, a new term
	// or vote), or a snapshot arrived. What else a Ready writes is a commit
	// index, which raft learns again from the leader if a power loss takes
	// it back, so it may wait for the next synced batch. This stays safe
	// with the witness (witness.go) and the recovery rule (recovery.go):
	// only a synced batch takes a witness sequence, so the witness never
	// claims an unsynced batch; losing one is a crash like any other, not
	// the loss of synced state that marks a store recovering; and nothing
	// a node promised (a vote, an acknowledged entry) is ever in an
	// unsynced batch.
	if !wb.Empty() {
		if err := wb.Commit(sync); err != nil {
			return err
		}
	}
	if crashed(pointAfterPersist) {
		return errSimulatedCrash
	}
	for _, r := range rds {
		for _, m := range r.rd.Messages {
			if !sendsBeforePersist(m) {
				out.add(r.g.id, m)
			}
		}
	}
	out.flush(h.cfg.Transport)
	if _, ok := h.cfg.Transport.(SnapshotReporter); !ok {
		for _, r := range rds {
			for _, m := range r.rd.Messages {
				if m.GetType() == pb.MsgSnap {
					// The transport took it; whether it arrived shows in the
					// follower's next response, so report success now.
					r.g.rn.ReportSnapshot(m.GetTo(), raft.SnapshotFinish)
				}
			}
		}
	}
	if crashed(pointAfterSend) {
		return errSimulatedCrash
	}
	syncPost := false
	for i, r := range rds {
		if i > 0 && crashed(pointMidApply) {
			return errSimulatedCrash
		}
		late := r.rd
		late.CommittedEntries = late.CommittedEntries[r.early:]
		if err := r.g.apply(h, late, post); err != nil {
			return fmt.Errorf("consensus: group %d: %w", r.g.id, err)
		}
		if r.g.rn == nil {
			// The group failed to install its snapshot and restarted in
			// recovery, or halted (state_stream.go): this Ready is dropped
			// with its RawNode.
			continue
		}
		if !r.g.advance(h, r.rd) {
			continue
		}
		if err := r.g.maybeSnapshot(h, post); err != nil {
			return fmt.Errorf("consensus: group %d: %w", r.g.id, err)
		}
		ended, err := r.g.maybeFinishRecovery(h, post)
		if err != nil {
			return err
		}
		r.g.releaseSettled(h)
		syncPost = syncPost || ended
	}
	if crashed(pointAfterApply) {
		return errSimulatedCrash
	}
	if !post.Empty() {
		// Snapshots and compaction need no sync: losing them leaves a
		// longer log. The end of a recovery does: a replica that forgot it
		// recovered recovers again after a power loss, which needs a
		// majority of the others to answer, and if another replica lost
		// its state meanwhile, the group would wait for ever with a
		// majority of intact copies.
		return post.Commit(syncPost)
	}
	return nil
}

// stableCommitted returns how many of rd's committed entries may be
// applied before rd's write: those in the local log before rd (below the
// first entry rd writes), up to the first membership change, which keeps
// its place after the write as before; none when rd installs a snapshot
// (which the apply restores first).
func stableCommitted(rd raft.Ready) int {
	if !raft.IsEmptySnap(rd.Snapshot) {
		return 0
	}
	first := uint64(math.MaxUint64)
	if len(rd.Entries) > 0 {
		first = rd.Entries[0].GetIndex()
	}
	n := 0
	for ; n < len(rd.CommittedEntries); n++ {
		e := rd.CommittedEntries[n]
		if e.GetIndex() >= first || e.GetType() != pb.EntryNormal {
			break
		}
	}
	return n
}

// sendsBeforePersist reports whether m may be sent before the Ready that
// holds it is on disk. Raft queues the messages that answer for state not
// yet durable (an acknowledgement of appended entries, a vote) after all
// others, and marks them by type: those wait for the write. The rest
// promise nothing about this node's log or vote.
func sendsBeforePersist(m *pb.Message) bool {
	switch m.GetType() {
	case pb.MsgAppResp, pb.MsgVoteResp, pb.MsgPreVoteResp:
		return false
	}
	return true
}

func (h *Host) publishStatus() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, g := range h.groups {
		s := GroupStatus{Leader: g.leader, Term: g.term, IsLeader: g.isLeader, Applied: g.applied, Recovering: g.recovery != nil, StorageFault: h.loopFault != nil, Halted: g.halted}
		if g.rn != nil {
			s.Commit = g.rn.BasicStatus().GetCommit()
		}
		h.status[id] = s
	}
}

func (h *Host) failAll(err error) {
	for _, g := range h.groups {
		g.failPending(err)
	}
	h.mu.Lock()
	reqs := h.requests
	h.requests = nil
	h.mu.Unlock()
	for _, r := range reqs {
		if r.fail != nil {
			r.fail()
		}
	}
}

// Voters returns a group's voters (host ids) as stored on this host.
func (h *Host) Voters(ctx context.Context, group uint64) ([]uint64, error) {
	var out []uint64
	var err error
	if cerr := h.call(ctx, func() {
		if g := h.groups[group]; g == nil {
			err = fmt.Errorf("%w: %d", ErrUnknownGroup, group)
		} else {
			out = append(out, g.voters()...)
		}
	}); cerr != nil {
		return nil, cerr
	}
	return out, err
}

// Learners returns a group's learners as this host's configuration has
// them (AddLearner).
func (h *Host) Learners(ctx context.Context, group uint64) ([]uint64, error) {
	var out []uint64
	var err error
	if cerr := h.call(ctx, func() {
		if g := h.groups[group]; g == nil {
			err = fmt.Errorf("%w: %d", ErrUnknownGroup, group)
		} else {
			out = append(out, g.gs.ConfState().GetLearners()...)
		}
	}); cerr != nil {
		return nil, cerr
	}
	return out, err
}

// PeerProgress is what a group's leader knows of one voter's log.
type PeerProgress struct {
	// Match is the highest index known to be in the peer's log.
	Match uint64
	// RecentActive says the leader heard from the peer within the last
	// election timeout.
	RecentActive bool
	// Learner: the peer receives the log but does not vote (AddLearner).
	Learner bool
}

// Progress returns, on a group's leader, every voter's and learner's
// progress by host id (this host included); *NotLeaderError elsewhere.
func (h *Host) Progress(ctx context.Context, group uint64) (map[uint64]PeerProgress, error) {
	var out map[uint64]PeerProgress
	var err error
	if cerr := h.call(ctx, func() {
		g, gerr := h.leaderOf(group)
		if gerr != nil {
			err = gerr
			return
		}
		st := g.rn.Status()
		out = make(map[uint64]PeerProgress, len(st.Progress))
		for id, pr := range st.Progress {
			out[id] = PeerProgress{Match: pr.Match, RecentActive: pr.RecentActive || id == h.cfg.ID, Learner: pr.IsLearner}
		}
	}); cerr != nil {
		return nil, cerr
	}
	return out, err
}

// leaderOf returns a group this host leads, or why it cannot serve what
// only the leader serves. Called on the host loop.
func (h *Host) leaderOf(id uint64) (*group, error) {
	g := h.groups[id]
	switch {
	case g == nil:
		return nil, fmt.Errorf("%w: %d", ErrUnknownGroup, id)
	case h.loopFault != nil:
		return nil, h.storageRefusal()
	case g.rn == nil || !g.isLeader:
		return nil, &NotLeaderError{Group: id, Leader: g.leader}
	}
	return g, nil
}

// ReportUnreachable is for the transport: sending to peer failed, so
// every group's leader should slow down replicating to it (raft's probe
// state) instead of streaming appends into the void.
func (h *Host) ReportUnreachable(peer uint64) {
	h.doInternal(func() {
		for _, g := range h.groups {
			if g.rn != nil {
				g.rn.ReportUnreachable(peer)
			}
		}
	})
}

// TransferLeadership asks a group's leader to hand leadership to another
// voter (a stream's leader step-down). It returns at once; the change, if
// it happens, is reported through OnLeaderChange and Status.
func (h *Host) TransferLeadership(ctx context.Context, group, to uint64) error {
	var err error
	if cerr := h.call(ctx, func() {
		g, gerr := h.leaderOf(group)
		if gerr != nil {
			err = gerr
			return
		}
		g.rn.TransferLeader(to)
	}); cerr != nil {
		return cerr
	}
	return err
}

// ReportSnapshot is for a SnapshotReporter transport: the snapshot
// message of group for peer was sent whole (ok), or could not be (raft
// then sends it again). It never blocks and is never refused for a full
// queue: raft waits for it.
func (h *Host) ReportSnapshot(group, peer uint64, ok bool) {
	status := raft.SnapshotFinish
	if !ok {
		status = raft.SnapshotFailure
	}
	h.doInternal(func() {
		if g := h.groups[group]; g != nil && g.rn != nil {
			g.rn.ReportSnapshot(peer, status)
		}
	})
}

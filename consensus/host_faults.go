package consensus

import (
	"errors"
	"fmt"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// Storage faults: a raft log that cannot be written
//
// When a write of the raft log fails (a full disk, an I/O error: the store
// is then failed, faults.go), the host must not go on with what it holds in
// memory. Raft's state there (a vote, appended entries, a new term) was
// meant to be on disk before any message that depends on it is sent; the
// write that failed may or may not have reached the disk. So the host
// does what a process that crashed in the middle of that write would do,
// without ending the process:
//
//  1. It sends nothing of the failed iteration, and drops every group's
//     RawNode: from then on it neither ticks, votes, acknowledges, leads,
//     nor answers term queries, and drops what peers send. The groups'
//     leaders elsewhere see a silent peer; a group it led elects another
//     leader (check-quorum makes the old term's leader irrelevant: it
//     sends nothing more). Pending proposals fail with an error wrapping
//     ErrLeadershipLost and ErrStorageFailed (their outcome is unknown);
//     new ones, reads, transfers and membership changes are refused with
//     ErrStorageFailed. The state machines keep what they applied: all of
//     it was committed, and it was in the log on disk before it was
//     applied.
//  2. Every Config.StorageRetry it asks the store to reopen the database
//     (Store.Reopen, which replays Pebble's write-ahead log and checks it
//     against the witness). When that works it loads every group again
//     from the disk, as AddGroup does on a start: what does not verify is
//     cut and the group recovers from its peers before voting
//     (recovery.go); a state machine ahead of what the log kept starts
//     empty. Then raft restarts from the durable state and the group
//     catches up like a restarted replica.
//
// StorageHealth reports the state for monitoring.

// hostFault is the host's storage failure; loop-owned.
type hostFault struct {
	err            error
	since, lastTry time.Time
	lastLog        time.Time
	tries          int
}

// StorageHealth is the state of a host's raft log for monitoring.
type StorageHealth struct {
	// Fault is why the host stopped taking part in its groups (nil: it
	// takes part); FaultSince when that began.
	Fault      error
	FaultSince time.Time
	// Failures counts writes that failed; Reopens, times the raft log was
	// reopened after one (since the store was made).
	Failures, Reopens uint64
}

// StorageHealth reports the host's raft log state.
func (h *Host) StorageHealth() StorageHealth {
	h.mu.Lock()
	sh := StorageHealth{Fault: h.fault, FaultSince: h.faultSince}
	h.mu.Unlock()
	sh.Failures, sh.Reopens = h.cfg.Store.StorageCounts()
	return sh
}

// storageRefusal is the error of a request refused while the log is
// failed; nil when it is not. Loop only.
func (h *Host) storageRefusal() error {
	if h.loopFault == nil {
		return nil
	}
	return fmt.Errorf("%w: this node's raft log cannot be written: %v", ErrStorageFailed, h.loopFault.err)
}

// safeIterate runs one loop iteration. Raft panics when its storage
// returns an error it does not expect (a failed read of the log); when
// the store has failed, that panic is this storage fault, and it comes
// back as its error: the host drops every RawNode (enterFault), so none
// left half-way through a call is used again. Any other panic is a bug
// and goes on.
func (h *Host) safeIterate(ticks int) (err error) {
	defer func() {
		if r := recover(); r != nil {
			ferr := h.cfg.Store.Failed()
			if ferr == nil {
				panic(r)
			}
			err = fmt.Errorf("consensus: raft stopped on a storage error (%v): %w", r, ferr)
			// The requests the panic cut short run once the groups are
			// stopped, and are refused there.
			h.enterFault(err)
			h.runTaken()
		}
	}()
	return h.iterate(ticks)
}

// runTaken runs the iteration's requests not yet run.
func (h *Host) runTaken() {
	for h.next < len(h.taken) {
		r := h.taken[h.next]
		h.next++
		r.run()
	}
	h.taken, h.next = nil, 0
	h.flushProposals()
}

// enterFault stops every group (step 1 above). Loop only.
func (h *Host) enterFault(err error) {
	now := time.Now()
	if f := h.loopFault; f != nil {
		// Failed again while reloading the groups: stop them all again.
		f.err = err
	} else {
		h.loopFault = &hostFault{err: err, since: now, lastTry: now, lastLog: now}
		h.log.Error("raft log failed: this node stops voting, acknowledging and leading until its log can be written again",
			"err", err, "groups", len(h.groups))
	}
	pendingErr := fmt.Errorf("%w: %w", ErrLeadershipLost, err)
	for _, g := range h.groups {
		g.failPending(pendingErr)
		wasLeader, hadLeader := g.isLeader, g.leader != 0
		g.rn, g.recovery = nil, nil
		g.isLeader, g.leader = false, 0
		if (wasLeader || hadLeader) && h.cfg.OnLeaderChange != nil {
			h.cfg.OnLeaderChange(LeaderChange{Group: g.id, Leader: 0, Term: g.term})
		}
	}
	h.mu.Lock()
	h.fault, h.faultSince = err, h.loopFault.since
	h.mu.Unlock()
}

// faultIteration is a loop iteration while the log is failed: inbound
// batches are dropped, requests run (and are refused where they need
// raft), and now and then the store is reopened (step 2 above).
func (h *Host) faultIteration() {
	h.mu.Lock()
	requests := h.requests
	h.inbox, h.requests, h.inboxN, h.extra = nil, nil, 0, 0
	h.mu.Unlock()
	h.taken, h.next = requests, 0
	h.runTaken()
	f := h.loopFault
	retry := h.cfg.StorageRetry
	if retry <= 0 {
		retry = time.Second
	}
	if now := time.Now(); now.Sub(f.lastTry) >= retry {
		f.lastTry = now
		f.tries++
		if err := h.recoverStorage(); err != nil {
			for _, g := range h.groups { // some may have restarted
				g.rn, g.recovery = nil, nil
			}
			if now.Sub(f.lastLog) >= 10*time.Second {
				f.lastLog = now
				h.log.Warn("raft log still failed: reopening did not succeed", "err", err, "tries", f.tries, "since", f.since)
			}
			return
		}
		h.log.Warn("raft log recovered: reopened and reloaded from disk; this node takes part in its groups again",
			"tries", f.tries, "failed_for", time.Since(f.since).Round(time.Millisecond))
		h.loopFault = nil
		h.mu.Lock()
		h.fault, h.faultSince = nil, time.Time{}
		h.mu.Unlock()
	}
	h.publishStatus()
}

// recoverStorage reopens the store and loads every group again.
func (h *Host) recoverStorage() error {
	store := h.cfg.Store
	if err := store.Reopen(); err != nil {
		return err
	}
	for _, g := range h.groups {
		if g.halted != nil {
			continue // halted until the server restarts (halt.go)
		}
		if err := h.reloadGroup(g); err != nil {
			if !errors.Is(err, ErrStorageFailed) {
				// Not the disk: nothing to wait for, and the loaded groups
				// may be in any state. Fail the store so the next try
				// starts over from a fresh open.
				err = store.markFailed(err)
			}
			return err
		}
	}
	return nil
}

// reloadGroup opens a group's log again after a reopen and restarts it
// from the disk, its state machine kept at what it applied.
func (h *Host) reloadGroup(g *group) error {
	store := h.cfg.Store
	store.CloseGroup(g.id)
	gs, rep, err := store.OpenGroup(g.id)
	if err != nil {
		return fmt.Errorf("consensus: reopen group %d: %w", g.id, err)
	}
	g.gs, g.rn, g.recovery = gs, nil, nil
	wb := store.NewBatch()
	defer wb.Close()
	if len(gs.ConfState().GetVoters()) == 0 {
		if err := wb.SetConfState(gs, &pb.ConfState{Voters: g.peers}); err != nil {
			return err
		}
	}
	if !rep.Existed {
		h.log.Warn("raft group has no state on this node after reopening its log: recovering it from peers", "group", g.id)
		if err := wb.setRecovering(gs, true); err != nil {
			return err
		}
	}
	if err := g.reconcileAt(h, wb, g.applied); err != nil {
		return err
	}
	if err := wb.Commit(true); err != nil {
		return err
	}
	if gs.Recovering() {
		g.recovery = newRecovery(h.cfg.ElectionTicks)
		return nil
	}
	return g.startRaft(h)
}

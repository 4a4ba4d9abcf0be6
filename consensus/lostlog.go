package consensus

import (
	"fmt"

	pb "go.etcd.io/raft/v3/raftpb"
)

// A replica that finds out at run time that it lost acknowledged entries.
//
// A leader's heartbeat carries as commit index the lower of its own and of
// what the follower acknowledged to it in its term (its Match). A follower
// sends an acknowledgement only once the entries are synced (host.go), so
// a heartbeat of its current term, or of a newer one, whose commit is past
// the end of its log means the follower forgot entries it promised: its
// disk dropped synced writes and the witness did not catch it (a disk
// that lies about fsync), or a bug. Raft panics on such a heartbeat
// ("tocommit out of range"). The host instead takes the replica into
// recovery (recovery.go), as if it had found the loss on opening its log:
// durably marked, it stops voting and serving, learns a term above its
// peers' and catches up before taking part again. The leader that counted
// on the lost entries steps down once it meets that term.
//
// An append (MsgApp) is no such sign: its commit is the leader's own,
// which a lagging follower may well be behind, and raft caps it at the
// entries the message brings. Older terms' heartbeats raft ignores.

// lostLog reports whether m shows that this replica lost entries it
// acknowledged; if so the group has entered recovery and m must not be
// stepped. Loop only; g.rn is set.
func (g *group) lostLog(h *Host, m *pb.Message) bool {
	if m.GetType() != pb.MsgHeartbeat {
		return false
	}
	last, _ := g.gs.LastIndex()
	if m.GetCommit() <= last || m.GetTerm() < g.rn.BasicStatus().GetTerm() {
		return false
	}
	h.log.Error("raft replica lost entries it had acknowledged: the leader counts on its log reaching an index past its end; it stops voting and serving and recovers them from its peers",
		"group", g.id, "leader", m.GetFrom(), "term", m.GetTerm(), "leader_counts_on", m.GetCommit(), "log_last_index", last)
	if err := g.enterRecovery(h); err != nil {
		// The replica recovers all the same in memory; a storage failure
		// also shows as the store's fault on the next iteration.
		h.log.Error("raft replica could not mark its recovery durably", "group", g.id, "err", err)
	}
	return true
}

// enterRecovery marks the group recovering on disk (synced, so a restart
// resumes the recovery) and restarts it in recovery: the RawNode goes,
// pending work fails, and the recovery asks the peers for their terms.
func (g *group) enterRecovery(h *Host) error {
	wb := h.cfg.Store.NewBatch()
	defer wb.Close()
	err := wb.setRecovering(g.gs, true)
	if err == nil {
		err = wb.Commit(true)
	}
	g.stopRaft(h, ErrLeadershipLost)
	g.recovery = newRecovery(h.cfg.ElectionTicks)
	h.lostLogs.Add(1)
	if err != nil {
		return fmt.Errorf("consensus: group %d: mark recovering: %w", g.id, err)
	}
	return nil
}

// stopRaft drops the group's RawNode: pending proposals and reads fail
// with err, and a leader it knew is reported gone.
func (g *group) stopRaft(h *Host, err error) {
	g.failPending(err)
	hadLeader := g.isLeader || g.leader != 0
	g.rn, g.recovery = nil, nil
	g.isLeader, g.leader = false, 0
	if hadLeader && h.cfg.OnLeaderChange != nil {
		h.cfg.OnLeaderChange(LeaderChange{Group: g.id, Leader: 0, Term: g.term})
	}
}

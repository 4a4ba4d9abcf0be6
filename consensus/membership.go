package consensus

import (
	"errors"
	"fmt"

	pb "go.etcd.io/raft/v3/raftpb"
)

// ErrConfChangePending: the group's leader has a membership change that is
// not yet applied (raft allows one at a time); retry once it is.
var ErrConfChangePending = errors.New("consensus: a membership change is already in progress")

// AddVoter proposes, on the group's leader, to make host id a voter. The
// proposal completes once the change is committed and applied here. The
// new replica's host should run the group (AddGroup with Bootstrap and
// the voters after the change as Peers: an empty replica, which the
// leader fills from its log or a snapshot).
func (h *Host) AddVoter(group, id uint64) *Proposal {
	return h.changeVoters(group, pb.ConfChangeType_ConfChangeAddNode, id)
}

// AddLearner proposes, on the group's leader, to make host id a learner:
// the leader replicates its log (or a snapshot) to it, but it neither
// votes nor counts toward a commit's majority, so a replica that starts
// empty can catch up without weakening the group's quorum meanwhile.
// AddVoter on a learner promotes it. Its host runs the group as for
// AddVoter.
func (h *Host) AddLearner(group, id uint64) *Proposal {
	return h.changeVoters(group, pb.ConfChangeType_ConfChangeAddLearnerNode, id)
}

// RemoveVoter proposes, on the group's leader, to remove host id from the
// voters (a leader that removes itself steps down once it is applied).
// The proposal completes once the change is committed and applied here;
// the removed host may then RemoveGroup. It removes a learner alike.
func (h *Host) RemoveVoter(group, id uint64) *Proposal {
	return h.changeVoters(group, pb.ConfChangeType_ConfChangeRemoveNode, id)
}

func (h *Host) changeVoters(group uint64, typ pb.ConfChangeType, id uint64) *Proposal {
	p := newProposal()
	if id == 0 {
		p.finish(Result{}, fmt.Errorf("consensus: group %d: host id 0 is not a voter", group))
		return p
	}
	if err := h.do(func() { h.proposeConf(group, typ, id, p) }, func() { p.finish(Result{}, ErrStopped) }); err != nil {
		p.finish(Result{}, err)
	}
	return p
}

func (h *Host) proposeConf(group uint64, typ pb.ConfChangeType, id uint64, p *Proposal) {
	g, err := h.leaderOf(group)
	if err != nil {
		p.finish(Result{}, err)
		return
	}
	if g.confSeq != 0 {
		p.finish(Result{}, fmt.Errorf("%w (group %d)", ErrConfChangePending, group))
		return
	}
	h.seq++
	cc := &pb.ConfChangeV2{
		Changes: []*pb.ConfChangeSingle{{Type: typ.Enum(), NodeId: new(id)}},
		Context: wrapProposal(h.cfg.ID, h.seq, nil),
	}
	if err := g.rn.ProposeConfChange(cc); err != nil {
		p.finish(Result{}, fmt.Errorf("%w: %v", ErrDropped, err))
		return
	}
	g.pending[h.seq] = p
	g.confSeq, g.confIndex = h.seq, 0
}

// checkConfProposal finds, in the entries of the Ready that follows
// proposeConf, where the change went. Raft does not refuse a change it
// cannot take (one still unapplied, which a new leader assumes of its
// whole log): it appends an empty normal entry in its place. A leader's
// log has no other empty normal entry after the one it starts its term
// with, which came in an earlier Ready (the host proposes only once it
// knows it leads), and every proposal of its own has an envelope: so an
// empty entry here is the refused change.
func (g *group) checkConfProposal(ents []*pb.Entry) {
	if g.confSeq == 0 || g.confIndex != 0 {
		return
	}
	for _, e := range ents {
		switch {
		case e.GetType() == pb.EntryConfChangeV2:
			g.confIndex = e.GetIndex()
			return
		case e.GetType() == pb.EntryNormal && len(e.GetData()) < envelopeSize:
			if p := g.pending[g.confSeq]; p != nil {
				delete(g.pending, g.confSeq)
				p.finish(Result{}, fmt.Errorf("%w (group %d)", ErrConfChangePending, g.id))
			}
			g.confSeq = 0
			return
		}
	}
}

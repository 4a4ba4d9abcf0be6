package replication

import (
	"context"
	"maps"
	"slices"
	"time"
)

// A stream's peer replacement (peer_remove.go) has its last step, adding
// the replacement as a voter, run by the stream's leader after the meta
// group recorded the replacement. That step can fail for reasons that
// pass: raft refuses a membership change while an earlier one is not yet
// applied (as just after an election), the leader changes, the request
// times out. Left alone, the stream would run one voter short for ever.
// So every stream leader compares, once a second, its group's members with
// the peers the meta group assigns the stream, and makes one change
// toward them: it removes a voter or learner no longer assigned (a
// replacement whose first step ran on a leader that lost its leadership
// before the rest, a scale down cut short), else adds as a learner an
// assigned peer that is not a member, else promotes to a voter a learner
// that caught up (a scale up, scale.go, cut short or not). A failed attempt
// is simply tried again a second later. The meta group's record is what
// the group is brought to: a peer whose removal from the voters was
// never recorded there (the replacement failed before its second step)
// is added back, and asking to remove it again starts over.

// completeInterval is how often a stream leader checks its voters.
const completeInterval = time.Second

// completeLoop runs completeVoters until the streams stop.
func (s *streams) completeLoop() {
	defer close(s.completeDone)
	t := time.NewTicker(completeInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.completeVoters()
			s.settleAbandoned() // settle.go
		}
	}
}

// completeVoters makes, on each stream group this server leads, one
// change of voters toward the assigned peers. It stands aside while this server
// runs a replacement itself, which makes its own changes in order.
func (s *streams) completeVoters() {
	n := s.node
	if !n.meta.Started() || !n.replaceMu.TryLock() {
		return
	}
	defer n.replaceMu.Unlock()
	s.mu.Lock()
	running := maps.Clone(s.running)
	s.mu.Unlock()
	for name, r := range running {
		if st, ok := n.host.Status(r.group); !ok || !st.IsLeader {
			continue
		}
		a, ok := n.meta.sm.assignment(name)
		if !ok || a.Group != r.group {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.completeGroup(ctx, name, r.group, a.Peers)
		cancel()
	}
}

// completeGroup makes one change of the group's members toward peers,
// and reports whether there was none left to make (every peer a voter,
// nobody else a member). A peer new to the group is added as a learner
// first and promoted to a voter only once it holds the log, so that it
// does not count toward a commit's majority before it can take part in
// one (scale.go).
func (s *streams) completeGroup(ctx context.Context, stream string, group uint64, peers []string) bool {
	n := s.node
	voters, err := n.host.Voters(ctx, group)
	if err != nil {
		return false
	}
	learners, err := n.host.Learners(ctx, group)
	if err != nil {
		return false
	}
	for _, v := range slices.Concat(voters, learners) {
		name := n.tr.Name(v)
		if v == n.tr.selfID || name == "" || slices.Contains(peers, name) {
			continue
		}
		if _, err := n.host.RemoveVoter(group, v).Wait(ctx); err != nil {
			s.log.Warn("a member of the stream's group is no longer assigned: trying again", "stream", stream, "peer", name, "err", err)
			return false
		}
		s.log.Info("member no longer assigned removed from the stream's group", "stream", stream, "peer", name)
		return false
	}
	for _, p := range peers {
		id := NodeID(p)
		if slices.Contains(voters, id) {
			continue
		}
		n.tr.Learn(p)
		if !slices.Contains(learners, id) {
			if _, err := n.host.AddLearner(group, id).Wait(ctx); err != nil {
				s.log.Warn("an assigned peer is not yet a member of the stream's group: trying again", "stream", stream, "peer", p, "err", err)
				return false
			}
			s.log.Info("assigned peer added as a learner of the stream's group", "stream", stream, "peer", p)
			return false // one change at a time: the next pass sees the new members
		}
		if !n.caughtUp(ctx, group, id) {
			continue // another learner may be ready first
		}
		if _, err := n.host.AddVoter(group, id).Wait(ctx); err != nil {
			s.log.Warn("an assigned peer is not yet a voter of the stream's group: trying again", "stream", stream, "peer", p, "err", err)
			return false
		}
		s.log.Info("assigned peer added as a voter of the stream's group", "stream", stream, "peer", p)
		return false
	}
	return len(learners) == 0 && len(voters) >= len(peers)
}

// promoteLag is how far behind the leader's commit index a learner may
// be and still be promoted: entries in flight to it while it is written
// to, not a backlog it must fetch before it can acknowledge new ones.
const promoteLag = 128

// caughtUp reports, on the group's leader, whether learner id answers
// and holds the log up to about the commit index.
func (n *Node) caughtUp(ctx context.Context, group, id uint64) bool {
	st, ok := n.host.Status(group)
	if !ok || !st.IsLeader {
		return false
	}
	pr, err := n.host.Progress(ctx, group)
	if err != nil {
		return false
	}
	p, ok := pr[id]
	return ok && p.RecentActive && p.Match+promoteLag >= st.Commit && p.Match > 0
}

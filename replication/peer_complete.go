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
// So every stream leader compares, once a second, its group's voters with
// the peers the meta group assigns the stream, and makes one change
// toward them: it removes a voter no longer assigned (a replacement whose
// first step ran on a leader that lost its leadership before the rest),
// else adds as a voter an assigned peer that is not one. A failed attempt
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

func (s *streams) completeGroup(ctx context.Context, stream string, group uint64, peers []string) {
	n := s.node
	voters, err := n.host.Voters(ctx, group)
	if err != nil {
		return
	}
	for _, v := range voters {
		name := n.tr.Name(v)
		if v == n.tr.selfID || name == "" || slices.Contains(peers, name) {
			continue
		}
		if _, err := n.host.RemoveVoter(group, v).Wait(ctx); err != nil {
			s.log.Warn("a voter of the stream's group is no longer assigned: trying again", "stream", stream, "peer", name, "err", err)
			return
		}
		s.log.Info("voter no longer assigned removed from the stream's group", "stream", stream, "peer", name)
		return
	}
	for _, p := range peers {
		if slices.Contains(voters, NodeID(p)) {
			continue
		}
		n.tr.Learn(p)
		if _, err := n.host.AddVoter(group, NodeID(p)).Wait(ctx); err != nil {
			s.log.Warn("an assigned peer is not yet a voter of the stream's group: trying again", "stream", stream, "peer", p, "err", err)
			return
		}
		s.log.Info("assigned peer added as a voter of the stream's group", "stream", stream, "peer", p)
		return // one change at a time: the next pass sees the new voters
	}
}

package replication

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Changing a replicated stream's replica count (STREAM.UPDATE with
// another num_replicas, from 2 to 5; a stream with one replica has no
// raft group, r1.go, and keeps its count). The stream's leader runs it,
// holding replaceMu like a peer replacement (peer_remove.go), and the
// meta group's assignment is what the group is brought to:
//
//   - Up: the meta group records the stream's peers with the new servers
//     added (the least loaded members with a route up, not already
//     holding it), in one entry, or in two when the stream grows by as
//     many as it has or more (see below). Each new server starts an empty replica;
//     the leader adds each as a learner, which catches up from its log
//     or a snapshot without counting toward a majority, and promotes it
//     to a voter once it holds about the whole log (completeGroup), one
//     change at a time.
//   - Down: one peer at a time, never the leader (which would hand over
//     half way), those the leader hears from least first: the leader
//     removes it from the voters (this commits under the old voters, a
//     majority of which is up), then the meta group records the peers
//     without it, and the removed server drops its replica.
//
// A change cut short (the leader or the meta leader fails, the request
// times out) is finished or undone by the stream's leader, whichever it
// is by then: once a second it brings its group's members to the
// assigned peers (peer_complete.go). Asked again, the change goes on from
// the peers the meta group records.

// ErrLeaderChanged: the stream's leadership moved while its replica count
// was being changed; asking the new leader again goes on from where the
// change was left.
var ErrLeaderChanged = errors.New("replication: the stream's leader changed")

// scaleSettle is how long ScaleStream lets the group's leader bring new
// peers into the group before it answers; the rest (their catching up
// and promotion) goes on in the background.
const scaleSettle = 2 * time.Second

// ScaleStream changes the number of servers holding stream (raft group
// group) to replicas. This server must lead the group when it starts,
// and still lead it for each removal (ErrLeaderChanged: ask the new
// leader). ErrNoPeers: the meta group has fewer members (with a route
// up) than replicas.
func (n *Node) ScaleStream(ctx context.Context, stream string, group uint64, replicas int) error {
	a, ok := n.meta.sm.assignment(stream)
	if !ok || a.Group != group || a.R1 {
		return fmt.Errorf("replication: stream %q is not assigned to group %d", stream, group)
	}
	if replicas < 2 {
		return fmt.Errorf("replication: stream %q: a replicated stream keeps 2 replicas or more", stream)
	}
	if replicas > len(n.meta.memberNames(ctx)) {
		return ErrNoPeers
	}
	n.replaceMu.Lock()
	defer n.replaceMu.Unlock()
	for {
		a, ok = n.meta.sm.assignment(stream)
		if !ok || a.Group != group {
			return fmt.Errorf("replication: stream %q left group %d meanwhile", stream, group)
		}
		switch {
		case len(a.Peers) < replicas:
			// A server that held the stream before (Assignment.Former)
			// recovers its replica before it takes part, which needs a
			// majority of the assigned peers other than itself to answer:
			// the peers in place must stay a majority of the new ones, so
			// a stream grows by at most one less than it has per step
			// (R2 to R3, then to R5), each step's servers voters before
			// the next.
			// Every server the change needs is picked first, so that a
			// change the cluster cannot make changes nothing.
			peers := slices.Clone(a.Peers)
			for len(peers) < replicas {
				add := n.pickReplacement(ctx, peers, keyAccount(stream))
				if add == "" {
					return ErrNoPeers
				}
				peers = append(peers, add)
			}
			step := min(replicas, 2*len(a.Peers)-1)
			peers = peers[:step]
			slices.Sort(peers)
			if err := n.reassign(ctx, metaOp{Op: opAssign, Stream: stream, Peers: peers, Expect: a.Peers}); err != nil {
				return fmt.Errorf("replication: stream %q: recording its new peers %v: %w", stream, peers, err)
			}
			n.log.Info("stream scaled up: new peers recorded", "stream", stream, "peers", peers, "was", a.Peers)
			if step == replicas {
				n.settle(ctx, stream, group, scaleSettle)
				return nil
			}
			if !n.settle(ctx, stream, group, 0) {
				return fmt.Errorf("replication: stream %q: its new peers %v are not all voters yet: %w", stream, peers, ctx.Err())
			}
		case len(a.Peers) > replicas:
			if st, ok := n.host.Status(group); !ok || !st.IsLeader {
				return ErrLeaderChanged
			}
			drop := n.pickRemoval(ctx, group, a.Peers)
			if _, err := n.host.RemoveVoter(group, NodeID(drop)).Wait(ctx); err != nil {
				return fmt.Errorf("replication: stream %q: removing %s from its group: %w", stream, drop, err)
			}
			peers := slices.DeleteFunc(slices.Clone(a.Peers), func(p string) bool { return p == drop })
			if err := n.reassign(ctx, metaOp{Op: opAssign, Stream: stream, Peers: peers, Expect: a.Peers}); err != nil {
				return fmt.Errorf("replication: stream %q: %s left its group, recording its new peers: %w", stream, drop, err)
			}
			n.log.Info("stream scaled down: peer removed", "stream", stream, "removed", drop, "peers", peers)
		default:
			return nil
		}
	}
}

// settle has this leader bring the stream's assigned peers into its
// group (completeGroup, which the background pass goes on with) for up
// to d (0: until ctx ends), and reports whether every one is a voter.
// Should this server lose the leadership meanwhile (a server given back
// the stream recovers its replica with a term above the others', which
// costs an election), it watches the new leader do it.
func (n *Node) settle(ctx context.Context, stream string, group uint64, d time.Duration) bool {
	n.streamsMu.Lock()
	s := n.streams
	n.streamsMu.Unlock()
	if s == nil {
		return false
	}
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	for {
		a, ok := n.meta.sm.assignment(stream)
		if !ok || a.Group != group {
			return false
		}
		if st, ok := n.host.Status(group); ok && st.IsLeader {
			if s.completeGroup(ctx, stream, group, a.Peers) {
				return true
			}
		} else if n.membersAre(ctx, group, a.Peers) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pickRemoval chooses which of peers leaves the group on a scale down:
// never this server (its leader); first those the leader has not heard
// from lately, then those with the least of the log, then by name (the
// last first).
func (n *Node) pickRemoval(ctx context.Context, group uint64, peers []string) string {
	pr, _ := n.host.Progress(ctx, group)
	var best string
	better := func(p, q string) bool {
		a, b := pr[NodeID(p)], pr[NodeID(q)]
		switch {
		case a.RecentActive != b.RecentActive:
			return !a.RecentActive
		case a.Match != b.Match:
			return a.Match < b.Match
		}
		return p > q
	}
	for _, p := range peers {
		if p == n.name {
			continue
		}
		if best == "" || better(p, best) {
			best = p
		}
	}
	return best
}

// membersAre reports whether this server's copy of the group's
// configuration has exactly peers as voters, and no learner.
func (n *Node) membersAre(ctx context.Context, group uint64, peers []string) bool {
	voters, err := n.host.Voters(ctx, group)
	if err != nil {
		return false
	}
	learners, err := n.host.Learners(ctx, group)
	if err != nil || len(learners) > 0 || len(voters) != len(peers) {
		return false
	}
	for _, p := range peers {
		if !slices.Contains(voters, NodeID(p)) {
			return false
		}
	}
	return true
}

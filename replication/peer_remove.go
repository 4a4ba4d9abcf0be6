package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Removing a peer from a stream's group, keeping its replica count. The
// stream's leader runs the change, one membership change at a time, in
// an order where each step commits with the servers that are up even
// when the removed one is down (the usual reason to remove it):
//
//  1. the leader removes the peer from the group's voters; the change
//     commits under the old voters, of which a majority is up;
//  2. the meta group records the stream's new peers (the removed one out,
//     the replacement in): the removed server drops its replica, the
//     replacement starts an empty one with the new voters;
//  3. the leader adds the replacement as a voter, and fills it from its
//     log or a snapshot.
//
// Between 1 and 3 the group has one voter fewer. A failure after 1 and
// before 2 is completed by asking again (removing a voter that is gone
// changes nothing, and the reassignment applies only to the peers it was
// made from). A failure after 2 leaves the replacement assigned but not
// a voter: the group runs on the others until the stream's leader
// completes it by itself (peer_complete.go), and removing the
// replacement (asking again, for it) gives its place to another server.
// One replacement runs at a time per server.

// ErrNotMember: the server named is not one of the stream's peers.
var ErrNotMember = errors.New("replication: the server is not a peer of the stream")

// ErrNoReplacement: no server outside the stream's peers is up to take
// the removed one's place; nothing was changed.
var ErrNoReplacement = errors.New("replication: no server is available to replace the peer")

// ReplacePeer replaces remove, one of the peers of stream (raft group
// group), with another member of the meta group, and returns the
// replacement's name. This server must lead the stream's group and not
// be remove itself (it would lose leadership half way: hand it over
// first).
func (n *Node) ReplacePeer(ctx context.Context, stream string, group uint64, remove string) (string, error) {
	a, ok := n.meta.sm.assignment(stream)
	if !ok || a.Group != group {
		return "", fmt.Errorf("replication: stream %q is not assigned to group %d", stream, group)
	}
	if !slices.Contains(a.Peers, remove) {
		return "", ErrNotMember
	}
	if remove == n.name {
		return "", errors.New("replication: the stream's leader cannot remove itself: step down first")
	}
	n.replaceMu.Lock()
	defer n.replaceMu.Unlock()
	if a, ok = n.meta.sm.assignment(stream); !ok || a.Group != group || !slices.Contains(a.Peers, remove) {
		return "", ErrNotMember // changed while waiting for another replacement
	}
	add := n.pickReplacement(ctx, a.Peers, keyAccount(stream))
	if add == "" {
		return "", ErrNoReplacement
	}
	if _, err := n.host.RemoveVoter(group, NodeID(remove)).Wait(ctx); err != nil {
		return "", fmt.Errorf("replication: remove %s from stream %q: %w", remove, stream, err)
	}
	peers := slices.DeleteFunc(slices.Clone(a.Peers), func(p string) bool { return p == remove })
	peers = append(peers, add)
	slices.Sort(peers)
	if err := n.reassign(ctx, metaOp{Op: "assign", Stream: stream, Peers: peers, Expect: a.Peers}); err != nil {
		return "", fmt.Errorf("replication: %s left stream %q, its replacement %s is not recorded yet: %w", remove, stream, add, err)
	}
	n.tr.Learn(add)
	if _, err := n.host.AddVoter(group, NodeID(add)).Wait(ctx); err != nil {
		return "", fmt.Errorf("replication: add %s to stream %q: %w", add, stream, err)
	}
	n.log.Info("stream peer replaced", "stream", stream, "removed", remove, "added", add)
	return add, nil
}

// pickReplacement chooses the member of the meta group, outside peers,
// with a route up (or this server) and with the stream's account
// (accounts.go), that holds the fewest streams; ties go by name. "" when
// there is none.
func (n *Node) pickReplacement(ctx context.Context, peers []string, account string) string {
	up := map[string]bool{n.name: true}
	for _, p := range n.net.Peers() {
		if p.Streams {
			up[p.Name] = true
		}
	}
	load := map[string]int{}
	for _, a := range n.meta.sm.streamAssignments() {
		for _, p := range a.Peers {
			load[p]++
		}
	}
	var best string
	for _, m := range n.meta.memberNames(ctx) {
		if slices.Contains(peers, m) || !up[m] || !n.HasAccount(m, account) {
			continue
		}
		if best == "" || load[m] < load[best] || load[m] == load[best] && m < best {
			best = m
		}
	}
	return best
}

// reassign records a stream's new peers through the meta group: proposed
// here on its leader, else asked of the leader over the routes. It
// returns once this server's replica of the meta group has applied the
// new peers.
func (n *Node) reassign(ctx context.Context, op metaOp) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	asked := time.Time{}
	for {
		if a, ok := n.meta.sm.assignment(op.Stream); ok && slices.Equal(a.Peers, op.Peers) {
			return nil
		} else if !ok || !slices.Equal(a.Peers, op.Expect) {
			return errors.New("replication: the stream's assignment changed meanwhile")
		}
		st, ok := n.host.Status(MetaGroup)
		switch {
		case !ok || st.Leader == 0:
		case st.IsLeader:
			if err := n.meta.propose(ctx, op); err != nil {
				return err
			}
		case time.Since(asked) > time.Second: // asked again when lost in an election
			body, _ := json.Marshal(stepDownRequest{Term: st.Term, Reassign: &op})
			if name := n.tr.Name(st.Leader); name != "" && n.net.Send(name, chanMetaCtl, body) == nil {
				asked = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replication: the meta group did not record the new peers: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// validReassign checks a reassignment asked by another server: a peer
// replaced (as many peers), or a replicated stream's replica count
// changed (scale.go: at least two).
func validReassign(op *metaOp) bool {
	return op != nil && op.Op == "assign" && op.Stream != "" && !op.NewGroup && len(op.Expect) > 0 &&
		len(op.Peers) >= min(2, len(op.Expect)) && len(op.Peers) <= 16
}

// proposeReassign proposes, on the meta leader, a reassignment (or
// another operation, r1.go) another server asked for.
func (m *Meta) proposeReassign(from string, op metaOp) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.propose(ctx, op); err != nil {
		m.log.Warn("a meta operation asked by a member failed", "op", op.Op, "from", from, "stream", op.Stream, "err", err)
	}
}

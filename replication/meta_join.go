package replication

import (
	"context"
	"slices"
	"time"
)

// A stream-enabled server that joins a cluster whose meta group already
// exists becomes a member, as with nats-server: the meta leader adds it.
//
// The joining server finds the group exists (its members' hellos say
// they are not pristine) and that it is not among the members; it waits,
// saying in its own hellos that it is pristine (it has no copy of the
// group) and asks to join. The meta leader, on each round, picks one
// server that has a route up, runs streams, said hello lately, is
// pristine, asks to join and is not a voter, and adds it as a voter of the meta group (one change at a time;
// a refused change is tried again next round). Once the change applies,
// the members' hellos name the new server, and it joins as any server
// that has no copy of an existing group does: without bootstrapping,
// recovering from the members before it may vote (consensus/recovery.go).
//
// Only a server that asks is added: one that takes no part (no seed
// routes, say) would be a voter that never votes. A server that is not
// pristine and not a member (it was removed, and restarted with its old
// store) is never added: to come back it must start with an empty store. The new member takes a share of new streams
// from then on (placement prefers the members holding the fewest); the
// streams placed before stay where they are.

// joinTimeout bounds one attempt to add a member.
const joinTimeout = 10 * time.Second

// addJoiners runs on the meta leader each round: it starts adding one
// server waiting to join, unless an addition is under way.
func (m *Meta) addJoiners(peers []Peer) {
	st, ok := m.node.host.Status(MetaGroup)
	if !ok || !st.IsLeader || st.Recovering {
		return
	}
	m.mu.Lock()
	busy := m.adding
	m.mu.Unlock()
	if busy {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	voters, err := m.node.host.Voters(ctx, MetaGroup)
	cancel()
	if err != nil {
		return
	}
	join := m.pickJoiner(peers, voters)
	if join == "" {
		return
	}
	m.mu.Lock()
	m.adding = true
	m.mu.Unlock()
	go func() {
		defer func() {
			m.mu.Lock()
			m.adding = false
			m.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
		defer cancel()
		m.node.tr.Learn(join)
		if _, err := m.node.host.AddVoter(MetaGroup, NodeID(join)).Wait(ctx); err != nil {
			m.log.Warn("adding a server to the meta group failed: trying again", "server", join, "err", err)
			return
		}
		m.log.Info("server added to the meta group", "server", join)
	}()
}

// pickJoiner is the first server, by name, that is waiting to join.
func (m *Meta) pickJoiner(peers []Peer, voters []uint64) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var names []string
	for _, p := range peers {
		if !p.Streams || slices.Contains(voters, NodeID(p.Name)) {
			continue
		}
		h, ok := m.hellos[p.Name]
		if !ok || time.Since(h.at) > helloFresh || !h.Pristine || !h.Join {
			continue
		}
		names = append(names, p.Name)
	}
	if len(names) == 0 {
		return ""
	}
	slices.Sort(names)
	return names[0]
}

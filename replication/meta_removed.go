package replication

import (
	"context"
	"slices"
	"time"
)

// A server removed from the cluster while it was down
// ($JS.API.SERVER.REMOVE, server_remove.go) and started again with its
// old store opens its copy of the meta group, in which it is still a
// voter, and the copies of the streams it held. It can win no election
// (its log lacks its own removal, so no member grants it a vote), but it
// would try for ever, and its stream layer would answer direct gets from
// copies the cluster has moved elsewhere.
//
// A server removed while it ran applies its own removal: its replica's
// voters no longer include it. One removed while down finds out from the
// members' hellos: once a majority of the voters
// its copy names say, with fresh hellos from replicas that are not
// pristine, that the group's members do not include it, the removal is
// committed. It then takes part in nothing until an operator acts: it
// stops its meta replica (keeping it on disk), drops its stream replicas
// as a server removed while running does, and says so in its log. To
// bring it back, stop it, empty its store directory and start it: it
// joins as a new member (meta_join.go).

// removedRounds is how many rounds in a row must tell a server it was
// removed before it believes it.
const removedRounds = 4

// checkRemoved runs each round once the replica started; it reports
// whether this server was removed.
func (m *Meta) checkRemoved() bool {
	m.mu.Lock()
	removed, members := m.removed, slices.Clone(m.members)
	hellos := make(map[string]heardHello, len(m.hellos))
	for k, v := range m.hellos {
		hellos[k] = v
	}
	m.mu.Unlock()
	if removed {
		return true
	}
	self := m.node.name
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	voters, err := m.node.host.Voters(ctx, MetaGroup)
	cancel()
	if err == nil && len(voters) > 0 && !slices.Contains(voters, m.node.tr.selfID) {
		// Its own replica applied its removal (it ran when removed):
		// its voters are the members.
		return m.leave(m.voterNames(), nil)
	}
	if !m.hadState || !slices.Contains(members, self) {
		// A server that joined in this run was added by a leader whose
		// followers may still tell the members without it for a moment.
		return false
	}
	if st, ok := m.node.host.Status(MetaGroup); !ok || st.IsLeader || st.Leader != 0 {
		m.removedRounds = 0
		return false // a replica that follows a leader is a member
	}
	var without []string
	var theirs []string
	for _, p := range members {
		h, ok := hellos[p]
		if p == self || !ok || time.Since(h.at) > helloFresh || h.Pristine || len(h.Set) == 0 {
			continue
		}
		if !slices.Contains(h.Set, self) {
			without, theirs = append(without, p), h.Set
		}
	}
	if len(without) < len(members)/2+1 {
		m.removedRounds = 0
		return false
	}
	// Seen over several rounds, not from one stale batch of hellos.
	if m.removedRounds++; m.removedRounds < removedRounds {
		return false
	}
	return m.leave(theirs, without)
}

// leave takes this server out of everything once it found it was
// removed: members are the members without it (its hellos say them, so
// that a server joining meanwhile knows the group exists without it),
// told the members that said so (nil when its own replica applied the
// removal).
func (m *Meta) leave(members, told []string) bool {
	m.log.Error("this server was removed from the cluster: the meta group's members no longer include it; "+
		"it takes no part in the meta group or in any replicated stream until an operator acts. "+
		"To bring it back, stop it, empty its store directory and start it again: it then joins as a new member",
		"members", members, "told_by", told)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.node.host.RemoveGroup(ctx, MetaGroup, false); err != nil {
		m.log.Error("stopping the meta replica of a removed server", "err", err)
		return false
	}
	m.mu.Lock()
	m.removed, m.members = true, members
	m.mu.Unlock()
	m.node.streamsMu.Lock()
	s := m.node.streams
	m.node.streamsMu.Unlock()
	if s != nil {
		s.poke()
	}
	return true
}

// Removed reports whether this server found it was removed from the
// cluster (checkRemoved).
func (m *Meta) Removed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.removed
}

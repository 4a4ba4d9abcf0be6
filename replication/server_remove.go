package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Removing a server from the cluster (the system account's
// $JS.API.SERVER.REMOVE). The streams it held are given replacements
// first, each by its own leader (stream.Service.RemovePeer, wired in
// cmd/wisp); then the meta group's leader removes it from the group's
// voters. A removed server takes no further part in placement; to come
// back it must be started with an empty store: the meta leader then adds
// it as a new member (meta_join.go), while a server whose old store
// still holds the group is never added back.

// ErrNotMetaMember: no member of the meta group has that name or id.
var ErrNotMetaMember = errors.New("replication: the server is not a member of the meta group")

// MetaMember resolves a server given by name or by raft id (decimal, as
// the logs show it) to a member's name.
func (n *Node) MetaMember(ctx context.Context, name, id string) (string, error) {
	for _, m := range n.meta.memberNames(ctx) {
		if name != "" && m == name || name == "" && id != "" && strconv.FormatUint(NodeID(m), 10) == id {
			return m, nil
		}
	}
	return "", ErrNotMetaMember
}

// StreamsOf lists the replicated streams name holds.
func (n *Node) StreamsOf(name string) []string {
	var out []string
	for s, a := range n.meta.sm.streamAssignments() {
		if a.Group != 0 && slices.Contains(a.Peers, name) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// RemoveMetaMember removes name from the meta group's voters: at once on
// the leader, else asked of the leader over the routes. It returns once
// this server's replica has applied the change.
func (n *Node) RemoveMetaMember(ctx context.Context, name string) error {
	id := NodeID(name)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	var asked time.Time
	for {
		voters, err := n.host.Voters(ctx, MetaGroup)
		if err != nil {
			return fmt.Errorf("replication: meta voters: %w", err)
		}
		if !slices.Contains(voters, id) {
			n.meta.forget(name)
			return nil
		}
		st, ok := n.host.Status(MetaGroup)
		switch {
		case !ok || st.Leader == 0:
		case st.IsLeader:
			if _, err := n.host.RemoveVoter(MetaGroup, id).Wait(ctx); err != nil {
				return fmt.Errorf("replication: remove %s from the meta group: %w", name, err)
			}
		case time.Since(asked) > time.Second:
			body, _ := json.Marshal(stepDownRequest{Term: st.Term, RemoveMember: name})
			if leader := n.tr.Name(st.Leader); leader != "" && n.net.Send(leader, chanMetaCtl, body) == nil {
				asked = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replication: %s is still a member of the meta group: %w", name, ctx.Err())
		case <-t.C:
		}
	}
}

// forget drops a removed member from the names kept of the members
// (memory and disk), so that placement no longer picks it.
func (m *Meta) forget(name string) {
	m.mu.Lock()
	if !slices.Contains(m.members, name) {
		m.mu.Unlock()
		return
	}
	m.members = slices.DeleteFunc(slices.Clone(m.members), func(s string) bool { return s == name })
	members := slices.Clone(m.members)
	m.mu.Unlock()
	if err := saveMembers(m.node.store, members); err != nil {
		m.log.Warn("saving the meta members after a removal", "err", err)
	}
}

// proposeMemberRemoval removes a member on the meta leader, asked by
// another server.
func (m *Meta) proposeMemberRemoval(from, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := m.node.host.RemoveVoter(MetaGroup, NodeID(name)).Wait(ctx); err != nil {
		m.log.Warn("a meta member removal asked by a member failed", "from", from, "server", name, "err", err)
		return
	}
	m.log.Info("server removed from the meta group", "server", name, "asked_by", from)
}

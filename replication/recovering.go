package replication

import "slices"

// Recovering names this server's replicas that lost raft state (a
// damaged or wiped log) and are still recovering it from their peers:
// "meta" for the meta group's, a stream's name for a stream's. Until it
// has recovered, such a replica neither votes nor campaigns, so it does
// not count among the intact copies a group needs a majority of
// (consensus/recovery.go). A meta replica that has not started yet is
// not listed: its state is not known.
func (n *Node) Recovering() []string {
	var out []string
	if st, ok := n.host.Status(MetaGroup); ok && st.Recovering {
		out = append(out, "meta")
	}
	n.streamsMu.Lock()
	s := n.streams
	n.streamsMu.Unlock()
	if s == nil {
		return out
	}
	s.mu.Lock()
	groups := make(map[string]uint64, len(s.running))
	for name, r := range s.running {
		groups[name] = r.group
	}
	s.mu.Unlock()
	var streams []string
	for name, g := range groups {
		if st, ok := n.host.Status(g); ok && st.Recovering {
			streams = append(streams, name)
		}
	}
	slices.Sort(streams)
	return append(out, streams...)
}

// MetaRecovering reports whether this server's meta replica is recovering
// lost state: it may follow a leader while the entries holding the
// assignments have not reached it yet, so a stream it does not know may
// exist (stream/cluster_api.go sends requests about one to the leader).
func (n *Node) MetaRecovering() bool {
	st, ok := n.host.Status(MetaGroup)
	return ok && st.Recovering
}

package replication

import (
	"context"
	"encoding/json"
	"time"
)

// Servers names the meta group's members, this server included: the
// servers a request about the whole account asks what they hold (the
// stream layer's gathering, stream/cluster_gather.go). Nil before the
// group runs.
func (n *Node) Servers() []string {
	if !n.meta.Started() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return n.meta.memberNames(ctx)
}

// AssignedConfig returns the config a replicated stream was placed with
// (as the meta group recorded it), nil for a stream not assigned.
func (n *Node) AssignedConfig(name string) json.RawMessage {
	a, ok := n.meta.sm.assignment(name)
	if !ok || a.Group == 0 {
		return nil
	}
	return a.Config
}

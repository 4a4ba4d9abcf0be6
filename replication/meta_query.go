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

// AssignedConfig returns a stream's config as the meta group recorded it
// (placed with, or last updated to), nil for a stream not assigned.
func (n *Node) AssignedConfig(name string) json.RawMessage {
	a, ok := n.meta.sm.assignment(name)
	if !ok || a.Group == 0 && !a.R1 {
		return nil
	}
	return a.Config
}

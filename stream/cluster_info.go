package stream

import (
	"context"
	"strconv"
	"time"
)

// ClusterInfo is the cluster section of stream and consumer info, with
// nats-server's fields: the cluster's name, the group, its leader and
// the other members (active is the nanoseconds since this server last
// heard from one).
type ClusterInfo struct {
	Name      string        `json:"name,omitempty"`
	RaftGroup string        `json:"raft_group,omitempty"`
	Leader    string        `json:"leader,omitempty"`
	Replicas  []PeerSummary `json:"replicas,omitempty"`
}

// PeerSummary is one replica in ClusterInfo.
type PeerSummary struct {
	Name    string        `json:"name"`
	Current bool          `json:"current"`
	Active  time.Duration `json:"active"`
	Lag     uint64        `json:"lag,omitempty"`
}

// clusterInfo is a replicated stream's cluster section, nil for a local
// stream. It asks the consensus host: never call it holding the
// stream's lock.
func (s *stream) clusterInfo() *ClusterInfo {
	if s.repl == nil {
		return nil
	}
	ci := &ClusterInfo{RaftGroup: "S-" + strconv.FormatUint(s.group, 10)}
	cl := s.repl.cluster()
	if cl == nil {
		return ci
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	gi := cl.GroupStatus(ctx, s.group)
	ci.Name, ci.Leader = cl.Name(), gi.Leader
	for _, p := range gi.Replicas {
		ci.Replicas = append(ci.Replicas, PeerSummary{Name: p.Name, Current: p.Current, Active: max(p.Active, 0), Lag: p.Lag})
	}
	return ci
}

// apiClusterInfo is the cluster section of stream and consumer info in
// API replies: a replicated stream's group, or, for a stream with one
// replica on a clustered server, the cluster's name and this server as
// its leader, as nats-server shows a one-replica stream in a cluster.
func (s *stream) apiClusterInfo() *ClusterInfo {
	if ci := s.clusterInfo(); ci != nil {
		return ci
	}
	if s.svc == nil {
		return nil
	}
	if cl := s.svc.clusterOf(); cl != nil {
		return &ClusterInfo{Name: cl.Name(), Leader: cl.Self()}
	}
	return nil
}

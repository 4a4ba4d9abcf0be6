package stream

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ClusterInfo is the cluster section of stream and consumer info, with
// nats-server's fields: the cluster's name, the group, its leader and
// the other members (active is the nanoseconds since this server last
// heard from one).
type ClusterInfo struct {
	Name      string `json:"name,omitempty"`
	RaftGroup string `json:"raft_group,omitempty"`
	Leader    string `json:"leader,omitempty"`
	// LeaderSince is when the leader took over, given when the leader
	// answers (a follower does not know it).
	LeaderSince *time.Time `json:"leader_since,omitempty"`
	// SystemAcc and TrafficAcc say whose traffic the group's replication
	// is: a replicated group's always travels on the routes between the
	// servers, in no client account, which is reported as the system
	// account's (Options.SystemAccount).
	SystemAcc  bool          `json:"system_account,omitempty"`
	TrafficAcc string        `json:"traffic_account,omitempty"`
	Replicas   []PeerSummary `json:"replicas,omitempty"`
}

// PeerSummary is one replica in ClusterInfo.
type PeerSummary struct {
	Name    string        `json:"name"`
	Peer    string        `json:"peer,omitempty"` // its raft id
	Current bool          `json:"current"`
	Offline bool          `json:"offline,omitempty"`
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
	if s.svc != nil && s.svc.systemAccount != "" {
		ci.SystemAcc, ci.TrafficAcc = true, s.svc.systemAccount
	}
	cl := s.repl.cluster()
	if cl == nil {
		return ci
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	gi := cl.GroupStatus(ctx, s.group)
	ci.Name, ci.Leader = cl.Name(), gi.Leader
	if since := s.repl.leaderSince.Load(); gi.IsLeader && since != 0 {
		t := time.Unix(0, since).UTC()
		ci.LeaderSince = &t
	}
	for _, p := range replicasBesideLeader(gi, cl.Self()) {
		ci.Replicas = append(ci.Replicas, PeerSummary{Name: p.Name, Peer: p.Peer, Current: p.Current, Offline: p.Offline, Active: max(p.Active, 0), Lag: p.Lag})
	}
	return ci
}

// replicasBesideLeader lists a group's members other than its leader, the
// cluster section's replicas, from gi, which lists the members other than
// this server. On a follower that answers (its leader moving, or a request
// it answers itself), that would name the leader as a replica and leave
// this server out; so the leader's entry gives way to this server's, as
// current as this server's last word from its leader.
func replicasBesideLeader(gi GroupInfo, self string) []PeerInfo {
	if gi.IsLeader || gi.Leader == "" || gi.Leader == self {
		return gi.Replicas
	}
	out := make([]PeerInfo, 0, len(gi.Replicas))
	var leader *PeerInfo
	for i := range gi.Replicas {
		if gi.Replicas[i].Name == gi.Leader {
			leader = &gi.Replicas[i]
			continue
		}
		out = append(out, gi.Replicas[i])
	}
	if leader == nil {
		return gi.Replicas // the leader is not a member this server knows of
	}
	out = append(out, PeerInfo{Name: self, Peer: gi.SelfPeer, Current: leader.Current, Active: leader.Active})
	slices.SortFunc(out, func(a, b PeerInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
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

package replication

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// MetaStatus is the meta group as this server sees it, for monitoring.
type MetaStatus struct {
	// Started: this server's replica runs (the group formed or is
	// forming); the rest is zero until then.
	Started bool
	// Leader names the leader, "" while none is known.
	Leader   string
	IsLeader bool
	// Size is the number of members.
	Size int
	// Replicas are the members other than this server, by name.
	Replicas []ReplicaStatus
	// Raft's figures for the group on this server.
	Term, Commit, Applied, LeaderChanges uint64
	// Log is the state of this server's raft log (set whether or not the
	// group started).
	Log LogStatus
}

// LogStatus is this server's raft log: while Fault is set a write of it
// failed (a full disk, an I/O error), and the server takes no part in any
// group until it has reopened the log.
type LogStatus struct {
	Fault      string
	FaultSince time.Time
	// Failures counts failed writes, Reopens the recoveries, since start.
	Failures, Reopens uint64
	// Halted lists the groups a raft panic stopped on this server ("group
	// N: why"): they take no part here until the server restarts.
	Halted []string
	// LostLogs counts the times a replica here found it had lost entries
	// it acknowledged (its disk dropped synced writes) and went to recover
	// them from its peers, since start.
	LostLogs uint64
}

// LogStatus reports this server's raft log.
func (n *Node) LogStatus() LogStatus {
	sh := n.host.StorageHealth()
	ls := LogStatus{FaultSince: sh.FaultSince, Failures: sh.Failures, Reopens: sh.Reopens}
	if sh.Fault != nil {
		ls.Fault = sh.Fault.Error()
	}
	for _, hg := range n.host.HaltedGroups() {
		ls.Halted = append(ls.Halted, fmt.Sprintf("group %d: %v", hg.Group, hg.Err))
	}
	ls.LostLogs = n.host.LostLogs()
	return ls
}

// ReplicaStatus is one member as this server sees it.
type ReplicaStatus struct {
	Name string // "" while its name is unknown here
	// Current: it is caught up (on the leader: it holds every committed
	// entry and answered within an election timeout; elsewhere: it was
	// heard from within an election timeout).
	Current bool
	// Active is the time since this server last heard from it, -1 never.
	Active time.Duration
	// Lag is how many committed entries it lacks (known on the leader
	// only, 0 elsewhere).
	Lag uint64
}

// currentWithin is how recently a member must have been heard from to be
// current: about an election timeout, with room for a loaded machine.
const currentWithin = 2 * time.Second

// MetaStatus reports the meta group.
func (n *Node) MetaStatus(ctx context.Context) MetaStatus {
	if !n.meta.Started() {
		return MetaStatus{Log: n.LogStatus()}
	}
	ms := n.groupStatus(ctx, MetaGroup)
	if !ms.Started {
		return MetaStatus{Log: n.LogStatus()}
	}
	ms.LeaderChanges, ms.Log = n.leaderChanges.Load(), n.LogStatus()
	return ms
}

// groupStatus reports a group as this server sees it (MetaStatus's
// fields, without the leader changes and the log's state).
func (n *Node) groupStatus(ctx context.Context, group uint64) MetaStatus {
	st, ok := n.host.Status(group)
	if !ok {
		return MetaStatus{}
	}
	ms := MetaStatus{
		Started: true, IsLeader: st.IsLeader, Term: st.Term, Commit: st.Commit, Applied: st.Applied,
	}
	if st.Leader != 0 {
		ms.Leader = n.tr.Name(st.Leader)
	}
	voters, err := n.host.Voters(ctx, group)
	if err != nil {
		return ms
	}
	ms.Size = len(voters)
	var progress map[uint64]uint64
	var active map[uint64]bool
	if st.IsLeader {
		if pr, err := n.host.Progress(ctx, group); err == nil {
			progress, active = map[uint64]uint64{}, map[uint64]bool{}
			for id, p := range pr {
				progress[id], active[id] = p.Match, p.RecentActive
			}
		}
	}
	// Learners (a stream's new replicas catching up, scale.go) are listed
	// too, never current: they do not count toward a majority yet.
	learners, _ := n.host.Learners(ctx, group)
	for _, id := range slices.Concat(voters, learners) {
		if id == n.tr.selfID {
			continue
		}
		r := ReplicaStatus{Name: n.tr.Name(id), Active: -1}
		if at := n.tr.Heard(id); !at.IsZero() {
			r.Active = time.Since(at)
		}
		heard := r.Active >= 0 && r.Active < currentWithin
		if progress != nil {
			if m := progress[id]; m < st.Commit {
				r.Lag = st.Commit - m
			}
			r.Current = heard && active[id] && r.Lag == 0
		} else {
			r.Current = heard
		}
		if slices.Contains(learners, id) {
			r.Current = false
		}
		ms.Replicas = append(ms.Replicas, r)
	}
	slices.SortFunc(ms.Replicas, func(a, b ReplicaStatus) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return ms
}

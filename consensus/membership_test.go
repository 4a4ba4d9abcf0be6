package consensus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// memberHost is a host of the membership tests, with its database and
// state machine kept across restarts.
type memberHost struct {
	id uint64
	db *pebble.DB
	h  *Host
	sm *memSM
}

func startMemberHost(t *testing.T, net *MemNetwork, m *memberHost) {
	t.Helper()
	h, err := NewHost(testConfig(m.id, NewStore(m.db, nil), net.Transport(m.id)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Stop)
	net.Attach(h)
	m.h = h
}

func newMemberHosts(t *testing.T, net *MemNetwork, n int) []*memberHost {
	var out []*memberHost
	for id := uint64(1); id <= uint64(n); id++ {
		db := openTestDB(t, vfs.NewMem())
		t.Cleanup(func() { db.Close() })
		m := &memberHost{id: id, db: db, sm: &memSM{}}
		startMemberHost(t, net, m)
		out = append(out, m)
	}
	return out
}

func hostsOf(ms ...*memberHost) []*Host {
	var out []*Host
	for _, m := range ms {
		out = append(out, m.h)
	}
	return out
}

func waitProposal(t *testing.T, what string, p *Proposal) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := p.Wait(ctx)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return res
}

// TestHostReplacesAVoter: a 3-replica group removes one replica and adds a
// new one; the new one gets every committed write, and counts in the
// quorum (a write commits with one of the old replicas down).
func TestHostReplacesAVoter(t *testing.T) {
	net := NewMemNetwork(31)
	t.Cleanup(net.Close)
	ms := newMemberHosts(t, net, 4)
	ctx := context.Background()
	for _, m := range ms[:3] {
		if err := m.h.AddGroup(ctx, GroupConfig{ID: 1, Peers: []uint64{1, 2, 3}, Bootstrap: true, StateMachine: m.sm}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 30 {
		proposeUntil(t, hostsOf(ms[:3]...), 1, fmt.Sprint("w", i))
	}
	var leader *memberHost
	waitFor(t, "a leader", func() bool {
		l := leaderOf(hostsOf(ms[:3]...), 1)
		for _, m := range ms {
			if m.h == l {
				leader = m
			}
		}
		return leader != nil
	})
	var gone, stays *memberHost
	for _, m := range ms[:3] {
		switch {
		case m == leader:
		case gone == nil:
			gone = m
		default:
			stays = m
		}
	}
	// Only the leader changes membership, one change at a time.
	var nl *NotLeaderError
	if _, err := stays.h.RemoveVoter(1, gone.id).Wait(ctx); !errors.As(err, &nl) {
		t.Fatalf("a follower's RemoveVoter: %v", err)
	}
	waitProposal(t, "remove a voter", leader.h.RemoveVoter(1, gone.id))
	if v, _ := leader.h.Voters(ctx, 1); !slices.Equal(sorted(v), sorted([]uint64{leader.id, stays.id})) {
		t.Fatalf("voters after the removal: %v", v)
	}
	newcomer := ms[3]
	if err := newcomer.h.AddGroup(ctx, GroupConfig{ID: 1, Peers: []uint64{leader.id, stays.id, newcomer.id}, Bootstrap: true, StateMachine: newcomer.sm}); err != nil {
		t.Fatal(err)
	}
	waitProposal(t, "add a voter", leader.h.AddVoter(1, newcomer.id))
	if err := gone.h.RemoveGroup(ctx, 1, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new replica to catch up", func() bool { return len(newcomer.sm.items()) == 30 })

	// With the remaining old follower down, the leader and the newcomer
	// are a quorum of {leader, stays, newcomer}.
	net.Detach(stays.id)
	stays.h.Stop()
	for i := 30; i < 40; i++ {
		proposeUntil(t, []*Host{leader.h, newcomer.h}, 1, fmt.Sprint("w", i))
	}
	waitFor(t, "the newcomer to apply every write", func() bool { return len(newcomer.sm.items()) == 40 })
	want := leader.sm.items()
	if got := newcomer.sm.items(); !slices.Equal(got, want) || len(want) != 40 || want[0] != "w0" || want[39] != "w39" {
		t.Fatalf("newcomer holds %v, leader %v", got, want)
	}
}

func sorted(v []uint64) []uint64 { v = slices.Clone(v); slices.Sort(v); return v }

// TestHostConfChangeSavedBeforeApply: a host dies right after its state
// machine applied a membership change (before the records that follow
// applying are written). The state machine kept what it applied (as a
// state machine that syncs its own writes would), so raft will not hand
// the change again on restart: the configuration must already be on
// disk, or the replica would go on with the old voters.
func TestHostConfChangeSavedBeforeApply(t *testing.T) {
	net := NewMemNetwork(32)
	t.Cleanup(net.Close)
	ms := newMemberHosts(t, net, 3)
	ctx := context.Background()
	for _, m := range ms {
		if err := m.h.AddGroup(ctx, GroupConfig{ID: 1, Peers: []uint64{1, 2, 3}, Bootstrap: true, StateMachine: m.sm}); err != nil {
			t.Fatal(err)
		}
	}
	proposeUntil(t, hostsOf(ms...), 1, "a")
	var leader, victim, removed *memberHost
	waitFor(t, "a leader", func() bool {
		l := leaderOf(hostsOf(ms...), 1)
		for _, m := range ms {
			if m.h == l {
				leader = m
			}
		}
		return leader != nil
	})
	for _, m := range ms {
		switch {
		case m == leader:
		case victim == nil:
			victim = m
		default:
			removed = m
		}
	}
	victim.h.crash.set(func(at readyPoint, rds map[uint64]raft.Ready) bool {
		if at != pointAfterApply {
			return false
		}
		for _, e := range rds[1].CommittedEntries {
			if e.GetType() == pb.EntryConfChangeV2 {
				return true
			}
		}
		return false
	})
	res := waitProposal(t, "remove a voter", leader.h.RemoveVoter(1, removed.id))
	select {
	case <-victim.h.stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("the victim never applied the change")
	}
	if err := victim.h.Err(); !errors.Is(err, errSimulatedCrash) {
		t.Fatalf("victim stopped with %v", err)
	}
	net.Detach(victim.id)
	if victim.sm.Applied() < res.Index {
		t.Fatalf("the victim's state machine applied %d, not the change at %d", victim.sm.Applied(), res.Index)
	}
	startMemberHost(t, net, victim)
	if err := victim.h.AddGroup(ctx, GroupConfig{ID: 1, Peers: []uint64{1, 2, 3}, StateMachine: victim.sm}); err != nil {
		t.Fatal(err)
	}
	if v, _ := victim.h.Voters(ctx, 1); !slices.Equal(sorted(v), sorted([]uint64{leader.id, victim.id})) {
		t.Fatalf("voters after restart: %v, want %d and %d", v, leader.id, victim.id)
	}
	// And it goes on in the group: a write commits and reaches it.
	r := proposeUntil(t, []*Host{leader.h, victim.h}, 1, "b")
	waitFor(t, "the victim to apply the write", func() bool { return victim.sm.Applied() >= r.Index })
}

// TestHostLearnerCatchesUpThenPromoted: a replica added as a learner
// receives the log but does not count toward commits (a write commits
// with the leader and one old voter while the learner and the other old
// voter are cut off, which would be two of four if it voted), and AddVoter
// promotes it once it caught up, after which it counts.
func TestHostLearnerCatchesUpThenPromoted(t *testing.T) {
	net := NewMemNetwork(37)
	t.Cleanup(net.Close)
	ms := newMemberHosts(t, net, 4)
	ctx := context.Background()
	for _, m := range ms[:3] {
		if err := m.h.AddGroup(ctx, GroupConfig{ID: 1, Peers: []uint64{1, 2, 3}, Bootstrap: true, StateMachine: m.sm}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		proposeUntil(t, hostsOf(ms[:3]...), 1, fmt.Sprint("w", i))
	}
	var leader *memberHost
	waitFor(t, "a leader", func() bool {
		l := leaderOf(hostsOf(ms[:3]...), 1)
		for _, m := range ms {
			if m.h == l {
				leader = m
			}
		}
		return leader != nil
	})
	var others []uint64
	for _, m := range ms[:3] {
		if m != leader {
			others = append(others, m.id)
		}
	}
	newcomer := ms[3]
	if err := newcomer.h.AddGroup(ctx, GroupConfig{ID: 1, Peers: []uint64{1, 2, 3, 4}, Bootstrap: true, StateMachine: newcomer.sm}); err != nil {
		t.Fatal(err)
	}
	waitProposal(t, "add a learner", leader.h.AddLearner(1, newcomer.id))
	if v, _ := leader.h.Voters(ctx, 1); !slices.Equal(sorted(v), []uint64{1, 2, 3}) {
		t.Fatalf("voters with a learner: %v", v)
	}
	if l, _ := leader.h.Learners(ctx, 1); !slices.Equal(l, []uint64{4}) {
		t.Fatalf("learners: %v", l)
	}
	pr, err := leader.h.Progress(ctx, 1)
	if err != nil || !pr[4].Learner || pr[others[0]].Learner {
		t.Fatalf("progress: %v %v", pr, err)
	}
	waitFor(t, "the learner to catch up", func() bool { return len(newcomer.sm.items()) == 20 })

	// The learner and one old voter cut off: the leader and the other
	// old voter are a majority of the three voters.
	cut := others[1]
	net.Partition([]uint64{leader.id, others[0]}, []uint64{cut, newcomer.id})
	p := leader.h.Propose(1, []byte("w20"))
	waitProposal(t, "a write without the learner", p)
	net.Heal()

	waitProposal(t, "promote the learner", leader.h.AddVoter(1, newcomer.id))
	if v, _ := leader.h.Voters(ctx, 1); !slices.Equal(sorted(v), []uint64{1, 2, 3, 4}) {
		t.Fatalf("voters after promotion: %v", v)
	}
	if l, _ := leader.h.Learners(ctx, 1); len(l) != 0 {
		t.Fatalf("learners after promotion: %v", l)
	}
	waitFor(t, "the promoted replica to apply every write", func() bool { return len(newcomer.sm.items()) == 21 })
	if got, want := newcomer.sm.items(), leader.sm.items(); !slices.Equal(got, want) {
		t.Fatalf("newcomer holds %v, leader %v", got, want)
	}
}

package replication

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wisp-mq/wisp/consensus"
)

// blobLayer is a StreamLayer whose replicas are blobSMs.
type blobLayer struct {
	mu  sync.Mutex
	sms map[string]*blobSM
}

func (l *blobLayer) OpenReplica(name string, _ uint64, _ []byte, _ time.Time) (consensus.StateMachine, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sm := &blobSM{}
	l.sms[name] = sm
	return sm, nil
}

func (l *blobLayer) CloseReplica(name string, _ uint64) {
	l.mu.Lock()
	delete(l.sms, name)
	l.mu.Unlock()
}

func (l *blobLayer) count(name string) int {
	l.mu.Lock()
	sm := l.sms[name]
	l.mu.Unlock()
	if sm == nil {
		return -1
	}
	return sm.count()
}

// streamLeaderOf is the node leading group, nil if none says so.
func streamLeaderOf(nodes []*testNode, group uint64) *testNode {
	for _, tn := range nodes {
		if st, ok := tn.node.Host().Status(group); ok && st.IsLeader {
			return tn
		}
	}
	return nil
}

// votersAre reports whether the group's leader has exactly want as
// voters.
func votersAre(nodes []*testNode, group uint64, want []string) bool {
	l := streamLeaderOf(nodes, group)
	if l == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	voters, err := l.node.Host().Voters(ctx, group)
	if err != nil || len(voters) != len(want) {
		return false
	}
	for _, w := range want {
		if !slices.Contains(voters, NodeID(w)) {
			return false
		}
	}
	return true
}

// TestHalfFinishedReplacementCompletes: a peer replacement that stopped
// after the meta group recorded the replacement, before it became a
// voter (the last step failed), is completed by the stream's leader on
// its own: the replacement becomes a voter and receives the stream's
// entries. So is one whose meta record went ahead of its first step (the
// removed server is still a voter): it is removed, the replacement added.
func TestHalfFinishedReplacementCompletes(t *testing.T) {
	nodes := startTestCluster(t, 4)
	layers := map[string]*blobLayer{}
	for _, tn := range nodes {
		layers[tn.name] = &blobLayer{sms: map[string]*blobSM{}}
		tn.node.AttachStreams(layers[tn.name])
	}
	meta := agreedLeader(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := meta.node.PlaceStream(ctx, "S", 3, []byte(`{"name":"S"}`), time.Now()); err != nil {
		t.Fatal(err)
	}
	a, _ := meta.node.meta.sm.assignment("S")
	waitFor(t, "the stream's leader", func() bool { return streamLeaderOf(nodes, a.Group) != nil })
	propose := func(data string) {
		t.Helper()
		waitFor(t, "a proposal to commit", func() bool {
			l := streamLeaderOf(nodes, a.Group)
			if l == nil {
				return false
			}
			pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
			defer pcancel()
			_, err := l.node.Host().Propose(a.Group, []byte(data)).Wait(pctx)
			return err == nil
		})
	}
	propose("one")

	// replace swaps out for in in the meta record, after removing out from
	// the voters first when removeFirst, and never adds in as a voter.
	replace := func(out, in string, removeFirst bool) []string {
		t.Helper()
		l := streamLeaderOf(nodes, a.Group)
		if l == nil || l.name == out {
			t.Fatalf("leader %v: the test removes a follower", l)
		}
		cur, _ := l.node.meta.sm.assignment("S")
		if removeFirst {
			if _, err := l.node.Host().RemoveVoter(a.Group, NodeID(out)).Wait(ctx); err != nil {
				t.Fatal(err)
			}
		}
		peers := slices.DeleteFunc(slices.Clone(cur.Peers), func(p string) bool { return p == out })
		peers = append(peers, in)
		slices.Sort(peers)
		if err := l.node.reassign(ctx, metaOp{Op: "assign", Stream: "S", Peers: peers, Expect: cur.Peers}); err != nil {
			t.Fatal(err)
		}
		return peers
	}
	outside := func(peers []string) (follower, spare string) {
		l := streamLeaderOf(nodes, a.Group)
		for _, tn := range nodes {
			switch {
			case !slices.Contains(peers, tn.name):
				spare = tn.name
			case l != nil && tn.name != l.name && follower == "":
				follower = tn.name
			}
		}
		return follower, spare
	}

	out, in := outside(a.Peers)
	peers := replace(out, in, true)
	waitFor(t, "the replacement to become a voter", func() bool { return votersAre(nodes, a.Group, peers) })
	propose("two")
	waitFor(t, "the replacement to hold the stream's entries", func() bool { return layers[in].count("S") == 2 })

	out, in = outside(peers)
	peers = replace(out, in, false)
	waitFor(t, "the unassigned voter removed and the replacement added", func() bool { return votersAre(nodes, a.Group, peers) })
	propose("three")
	waitFor(t, "the second replacement to hold the stream's entries", func() bool { return layers[in].count("S") == 3 })
}

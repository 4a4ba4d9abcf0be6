package consensus

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
)

// TestHostCrashInsideReadyKeepsPromises makes a follower die at each crash
// point inside Ready handling, just as it handles an append (or grants a
// vote), loses power, and checks that its disk still covers every
// acknowledgement and vote it sent. A host that sends before it persists,
// or does not persist its hard state, fails here.
func TestHostCrashInsideReadyKeepsPromises(t *testing.T) {
	for _, vote := range []bool{false, true} {
		for _, p := range []readyPoint{pointBeforePersist, pointAfterPersist, pointAfterSend, pointAfterApply} {
			name := fmt.Sprintf("append/%v", p)
			if vote {
				name = fmt.Sprintf("vote/%v", p)
			}
			t.Run(name, func(t *testing.T) { crashFollowerInsideReady(t, p, vote) })
		}
	}
}

func crashFollowerInsideReady(t *testing.T, p readyPoint, vote bool) {
	c := newCluster(t, 3, 11)
	defer func() {
		c.mu.Lock()
		for _, nd := range c.nodes {
			c.stop(nd, false)
		}
		c.mu.Unlock()
		c.net.Close()
	}()
	fail := func(format string, args ...any) { t.Helper(); t.Fatalf(format, args...) }
	const g = 1
	c.settle(g, fail)
	var leader, follower, other *chaosNode
	waitFor(t, "a leader", func() bool {
		for _, nd := range c.nodes {
			if st, _ := nd.host.Status(g); st.IsLeader {
				leader = nd
			}
		}
		return leader != nil
	})
	for _, nd := range c.nodes {
		switch {
		case nd == leader:
		case follower == nil:
			follower = nd
		default:
			other = nd
		}
	}
	st, _ := follower.host.Status(g)
	follower.host.crash.set(func(at readyPoint, rds map[uint64]raft.Ready) bool {
		rd, ok := rds[g]
		if at != p || !ok {
			return false
		}
		if vote {
			hs := rd.HardState
			return hs != nil && hs.GetVote() != 0 && hs.GetTerm() > st.Term
		}
		return len(rd.Entries) > 0
	})
	if vote {
		// A transfer makes the other follower campaign at once; the
		// follower grants it its vote, even with a leader it hears from.
		if err := leader.host.TransferLeadership(context.Background(), g, other.id); err != nil {
			t.Fatal(err)
		}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := leader.host.Propose(g, binary.BigEndian.AppendUint64(nil, 42)).Wait(ctx); err != nil {
			t.Fatalf("propose: %v", err)
		}
	}
	select {
	case <-follower.host.stopped:
	case <-time.After(30 * time.Second):
		t.Fatalf("the follower never reached %v", p)
	}
	c.mu.Lock()
	c.stop(follower, true)
	c.mu.Unlock()
	c.check.mu.Lock()
	v := c.check.violations
	c.check.mu.Unlock()
	if len(v) > 0 {
		t.Fatalf("after a power loss at %v: %v", p, v)
	}
	// And it comes back into the group.
	c.mu.Lock()
	c.restart(follower)
	c.mu.Unlock()
	c.settle(g, fail)
}

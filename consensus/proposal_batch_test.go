package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// TestLeaderSendsAnIterationsProposalsInOneAppend: proposals the leader's
// loop takes in one iteration reach each follower in one append, not one
// append per proposal (proposal_batch.go). A host that proposes them to
// raft one by one sends one MsgApp per entry to a replicating follower,
// so the most marked entries one append carries would be 1. Every
// proposal still commits with its own result.
func TestLeaderSendsAnIterationsProposalsInOneAppend(t *testing.T) {
	hosts, _ := startHosts(t, 3)
	proposeUntil(t, hosts, 1, "warm-up") // followers replicating
	const n = 50
	marker := []byte("one-append-")
	deadline := time.Now().Add(60 * time.Second)
	for attempt := 0; ; attempt++ {
		if time.Now().After(deadline) {
			t.Fatal("the marked proposals never all committed under one leader")
		}
		l := leaderOf(hosts, 1)
		if l == nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		var most atomic.Int64
		l.crash.set(func(at readyPoint, rds map[uint64]raft.Ready) bool {
			if at == pointBeforePersist {
				for _, m := range rds[1].Messages {
					if m.GetType() != pb.MsgApp {
						continue
					}
					k := int64(0)
					for _, e := range m.GetEntries() {
						if bytes.Contains(e.GetData(), marker) {
							k++
						}
					}
					if k > most.Load() {
						most.Store(k)
					}
				}
			}
			return false
		})
		tag := fmt.Appendf(marker, "%d-", attempt)
		props := make([]*Proposal, n)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := l.call(ctx, func() {
			for i := range props {
				props[i] = newProposal()
				l.propose(1, fmt.Appendf(bytes.Clone(tag), "%d", i), props[i])
			}
		})
		committed := err == nil
		for i, p := range props {
			if !committed || p == nil {
				break
			}
			res, perr := p.Wait(ctx)
			if perr != nil {
				committed = false
				break
			}
			if i > 0 {
				if prev, _ := props[i-1].Wait(ctx); res.Index != prev.Index+1 {
					t.Fatalf("proposal %d at index %d, the one before at %d: want consecutive entries", i, res.Index, prev.Index)
				}
			}
		}
		cancel()
		l.crash.set(nil)
		if !committed {
			continue // leadership moved; try again on the new leader
		}
		if got := most.Load(); got != n {
			t.Fatalf("the most marked entries one append carried: %d, want all %d proposed in one iteration", got, n)
		}
		return
	}
}

// TestBatchedProposalsRaftDropsFailEach: proposals raft refuses when the
// batch is stepped (here: a leadership transfer started in the same
// iteration) each fail with ErrDropped and leave nothing pending.
func TestBatchedProposalsRaftDropsFailEach(t *testing.T) {
	hosts, _ := startHosts(t, 3)
	proposeUntil(t, hosts, 1, "warm-up")
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		l := leaderOf(hosts, 1)
		if l == nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		to := hosts[0]
		if to == l {
			to = hosts[1]
		}
		props := make([]*Proposal, 3)
		var led bool
		var pendingAfter int
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := l.call(ctx, func() {
			g := l.groups[1]
			if led = g.rn != nil && g.isLeader; !led {
				return
			}
			g.rn.TransferLeader(to.ID())
			for i := range props {
				props[i] = newProposal()
				l.propose(1, []byte("dropped"), props[i])
			}
			l.flushProposals()
			pendingAfter = len(g.pending)
		})
		if err != nil || !led {
			cancel()
			continue
		}
		for i, p := range props {
			if _, perr := p.Wait(ctx); !errors.Is(perr, ErrDropped) {
				t.Fatalf("proposal %d: %v, want ErrDropped", i, perr)
			}
		}
		cancel()
		if pendingAfter != 0 {
			t.Fatalf("%d proposals still pending after the drop", pendingAfter)
		}
		return
	}
	t.Fatal("no leader took the proposals")
}

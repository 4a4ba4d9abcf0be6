package consensus

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
)

// TestHostSyncsOnlyWhenRaftMust: a follower syncs the batches that hold
// new entries (or a new term or vote), not those that only move its
// commit index forward, which raft learns again after a power loss.
func TestHostSyncsOnlyWhenRaftMust(t *testing.T) {
	net := NewMemNetwork(21)
	defer net.Close()
	var hosts []*Host
	var stores []*Store
	for id := uint64(1); id <= 3; id++ {
		db := openTestDB(t, vfs.NewMem())
		defer db.Close()
		s := NewStore(db, nil)
		c := testConfig(id, s, net.Transport(id))
		c.SnapshotEntries = 1 << 20 // no snapshot batches in the count
		h, err := NewHost(c)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Stop()
		net.Attach(h)
		hosts, stores = append(hosts, h), append(stores, s)
	}
	for _, h := range hosts {
		if err := h.AddGroup(context.Background(), GroupConfig{ID: 1, Peers: []uint64{1, 2, 3}, Bootstrap: true, StateMachine: &memSM{}}); err != nil {
			t.Fatal(err)
		}
	}
	proposeUntil(t, hosts, 1, "first")
	var before [3][2]uint64
	for i, s := range stores {
		before[i] = [2]uint64{s.commits.Load(), s.syncs.Load()}
	}
	const writes = 20
	var last Result
	for i := range writes {
		// One write at a time, each applied everywhere before the next,
		// so that a follower learns each commit apart from the next append.
		last = proposeUntil(t, hosts, 1, fmt.Sprint("w", i))
		waitFor(t, "every replica to apply the write", func() bool {
			for _, h := range hosts {
				if st, _ := h.Status(1); st.Applied < last.Index {
					return false
				}
			}
			return true
		})
	}
	// Each write reaches a follower in an append, which must be synced.
	// Its commit comes in a later message, unsynced, unless the append
	// and the commit reach a follower in one loop iteration (the leader
	// heard the other follower first), so how many commit-only batches a
	// follower writes depends on timing; over both followers and twenty
	// writes some always are, and a host that syncs every batch writes
	// none.
	unsynced := uint64(0)
	for i, s := range stores {
		commits, syncs := s.commits.Load()-before[i][0], s.syncs.Load()-before[i][1]
		t.Logf("host %d: %d batches, %d synced", i+1, commits, syncs)
		if st, _ := hosts[i].Status(1); st.IsLeader {
			continue
		}
		if syncs < writes {
			t.Errorf("follower %d: %d of %d batches synced: want every append synced", i+1, syncs, commits)
		}
		unsynced += commits - syncs
	}
	if unsynced == 0 {
		t.Errorf("followers synced every batch: want commit-only batches unsynced")
	}
}

// TestHostRequestQueueBounded: callers' requests past RequestLimit fail at
// once with ErrQueueFull while the loop is stalled, the queue never holds
// more, and the ones queued run once it resumes.
func TestHostRequestQueueBounded(t *testing.T) {
	db := openTestDB(t, vfs.NewMem())
	defer db.Close()
	cfg := testConfig(1, NewStore(db, nil), NewMemNetwork(1).Transport(1))
	cfg.RequestLimit = 50
	h, err := NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	if err := h.AddGroup(context.Background(), GroupConfig{ID: 1, Peers: []uint64{1}, Bootstrap: true, StateMachine: &memSM{}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the single replica to lead", func() bool { st, _ := h.Status(1); return st.IsLeader })
	// Stall the loop inside a request, as a slow disk would.
	release := make(chan struct{})
	stalled := make(chan struct{})
	if err := h.do(func() { close(stalled); <-release }, nil); err != nil {
		t.Fatal(err)
	}
	<-stalled
	var props []*Proposal
	full := 0
	for i := range 2 * cfg.RequestLimit {
		p := h.Propose(1, []byte(fmt.Sprint("p", i)))
		select {
		case <-p.Done():
			if _, err := p.Wait(context.Background()); errors.Is(err, ErrQueueFull) {
				full++
				continue
			}
			t.Fatalf("proposal %d finished while the loop is stalled: %v", i, err)
		default:
		}
		props = append(props, p)
	}
	h.mu.Lock()
	queued := len(h.requests)
	h.mu.Unlock()
	if full != cfg.RequestLimit || queued != cfg.RequestLimit {
		t.Fatalf("%d refused, %d queued; want %d each", full, queued, cfg.RequestLimit)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	if err := h.call(ctx, func() {}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("a call on a full queue: %v", err)
	}
	cancel()
	close(release)
	for i, p := range props {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if _, err := p.Wait(ctx); err != nil {
			t.Fatalf("queued proposal %d: %v", i, err)
		}
		cancel()
	}
}

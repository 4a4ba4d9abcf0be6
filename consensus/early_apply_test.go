package consensus

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// TestLeaderAppliesCommittedEntriesBeforeWritingNewOnes: when one Ready
// both commits an entry already in the leader's log and appends a new
// proposal, the committed entry is applied (its proposal answered)
// before the write of the new one, not after its fsync. The leader is
// paused after writing proposal A until a follower's acknowledgement of
// A waits in its inbox, then proposal B is queued: the next iteration's
// Ready commits A and appends B. A host that applies only after the
// write shows A unapplied right after the write (pointAfterPersist).
func TestLeaderAppliesCommittedEntriesBeforeWritingNewOnes(t *testing.T) {
	hosts, sms := startHosts(t, 3)
	proposeUntil(t, hosts, 1, "warm-up")
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		li := -1
		for i, h := range hosts {
			if st, ok := h.Status(1); ok && st.IsLeader {
				li = i
			}
		}
		if li < 0 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		l, sm := hosts[li], sms[li]
		var seen, appliedFirst atomic.Bool
		var aIndex atomic.Uint64
		l.crash.set(func(at readyPoint, rds map[uint64]raft.Ready) bool {
			rd, a := rds[1], aIndex.Load()
			if at != pointAfterPersist || a == 0 || len(rd.Entries) == 0 {
				return false
			}
			for _, e := range rd.CommittedEntries {
				if e.GetIndex() == a && rd.Entries[0].GetIndex() > a {
					seen.Store(true)
					appliedFirst.Store(sm.Applied() >= a)
				}
			}
			return false
		})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		pa := newProposal()
		if err := l.call(ctx, func() { l.propose(1, []byte("a"), pa) }); err != nil {
			cancel()
			l.crash.set(nil)
			continue
		}
		l.Pause()
		// The iteration that took A writes and sends it, then the loop
		// waits; a follower's acknowledgement queues in the inbox.
		acked := false
		for wait := time.Now().Add(20 * time.Second); time.Now().Before(wait) && !acked; time.Sleep(5 * time.Millisecond) {
			l.mu.Lock()
			for _, b := range l.inbox {
				for _, m := range b.Messages {
					if m.Group == 1 && m.Raft.GetType() == pb.MsgAppResp && !m.Raft.GetReject() {
						acked = true
					}
				}
			}
			l.mu.Unlock()
		}
		l.mu.Lock()
		l.requests = append(l.requests, request{run: func() {
			// A's is the last entry written to the log.
			if g := l.groups[1]; g != nil && g.rn != nil {
				if last, err := g.gs.LastIndex(); err == nil {
					aIndex.Store(last)
				}
			}
			l.propose(1, []byte("b"), newProposal())
		}})
		l.mu.Unlock()
		l.Resume()
		_, errA := pa.Wait(ctx)
		cancel()
		l.crash.set(nil)
		if errA != nil || !acked || !seen.Load() {
			continue // leadership moved, or the Ready came apart: again
		}
		if !appliedFirst.Load() {
			t.Fatal("the committed entry was applied only after the write of the new one")
		}
		return
	}
	t.Fatal("never saw one Ready commit A and append B")
}

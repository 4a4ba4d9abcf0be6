package consensus

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	pb "go.etcd.io/raft/v3/raftpb"
)

// recordingTransport keeps every batch a host sends, so that a test can
// play the host's peers with crafted messages.
type recordingTransport struct {
	mu      sync.Mutex
	batches []Batch
}

func (t *recordingTransport) Send(b Batch) {
	t.mu.Lock()
	t.batches = append(t.batches, b)
	t.mu.Unlock()
}

// count returns how many batches were sent, and how many messages among
// them match.
func (t *recordingTransport) count(match func(Batch, Message) bool) (batches, matched int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, b := range t.batches {
		for _, m := range b.Messages {
			if match(b, m) {
				matched++
			}
		}
	}
	return len(t.batches), matched
}

func (t *recordingTransport) queriesSince(n int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	q := 0
	for _, b := range t.batches[min(n, len(t.batches)):] {
		if len(b.TermQueries) > 0 {
			q++
		}
	}
	return q
}

// loneFollower is host 2 of groups {1,2,3} whose peers are the test.
func loneFollower(t *testing.T, groups ...uint64) (*Host, *recordingTransport, *Store) {
	t.Helper()
	db := openTestDB(t, vfs.NewStrictMem())
	t.Cleanup(func() { db.Close() })
	tr := &recordingTransport{}
	store := NewStore(db, nil)
	h, err := NewHost(testConfig(2, store, tr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Stop)
	for _, g := range groups {
		if err := h.AddGroup(context.Background(), GroupConfig{ID: g, Peers: []uint64{1, 2, 3}, Bootstrap: true, StateMachine: &memSM{}}); err != nil {
			t.Fatal(err)
		}
	}
	return h, tr, store
}

// raftMsg is a batch to host 2 with m, from host 1 unless m says.
func raftMsg(group uint64, m *pb.Message) Batch {
	if m.From == nil {
		m.From = new(uint64(1))
	}
	m.To = new(uint64(2))
	return Batch{From: m.GetFrom(), To: 2, Messages: []Message{{Group: group, Raft: m}}}
}

func appendMsg(term, prevIndex, prevTerm, commit uint64, ents ...*pb.Entry) *pb.Message {
	return &pb.Message{Type: pb.MsgApp.Enum(), Term: new(term), Index: new(prevIndex), LogTerm: new(prevTerm), Commit: new(commit), Entries: ents}
}

func ackedTo(group, index uint64) func(Batch, Message) bool {
	return func(_ Batch, m Message) bool {
		return m.Group == group && m.Raft.GetType() == pb.MsgAppResp && !m.Raft.GetReject() && m.Raft.GetIndex() >= index
	}
}

// A heartbeat whose commit is past the end of the follower's log, from the
// leader of its term, says the follower lost entries it acknowledged. Raft
// would panic ("tocommit out of range") and take the process with it; the
// host instead marks the replica recovering (durably), keeps it out of
// elections, and brings it back once it has caught up with a leader of a
// term above its peers'.
func TestHeartbeatPastLogEndEntersRecovery(t *testing.T) {
	h, tr, store := loneFollower(t, 1)
	h.Receive(raftMsg(1, appendMsg(2, 0, 0, 0, ent(1, 2, ""), ent(2, 2, ""), ent(3, 2, ""))))
	waitFor(t, "entries 1-3 acknowledged", func() bool { _, n := tr.count(ackedTo(1, 3)); return n > 0 })

	// The leader believes the follower holds entry 5 (it lost 4 and 5).
	h.Receive(raftMsg(1, &pb.Message{Type: pb.MsgHeartbeat.Enum(), Term: new(uint64(2)), Commit: new(uint64(5))}))
	waitFor(t, "the replica to recover", func() bool { st, _ := h.Status(1); return st.Recovering })
	if err := h.Err(); err != nil {
		t.Fatalf("host stopped: %v", err)
	}
	if n := h.LostLogs(); n != 1 {
		t.Fatalf("LostLogs = %d, want 1", n)
	}
	gs := storedGroup(store, 1)
	if !gs.Recovering() {
		t.Fatal("the recovering mark is not in the store")
	}

	// A candidate asks for its vote: a recovering replica gives none. Two
	// rounds of term queries after the request show the loop went past it.
	seen, _ := tr.count(func(Batch, Message) bool { return false })
	h.Receive(raftMsg(1, &pb.Message{From: new(uint64(3)), Type: pb.MsgVote.Enum(), Term: new(uint64(9)), Index: new(uint64(3)), LogTerm: new(uint64(2))}))
	waitFor(t, "term queries to the peers", func() bool {
		h.JumpClock(h.cfg.ElectionTicks)
		return tr.queriesSince(seen) >= 2
	})
	if _, votes := tr.count(func(_ Batch, m Message) bool { return m.Raft.GetType() == pb.MsgVoteResp }); votes > 0 {
		t.Fatal("a recovering replica voted")
	}

	// The peers answer (term 2): it adopts term 3, and a leader of term 4
	// brings it the lost entries and commits one of its own term.
	for _, p := range []uint64{1, 3} {
		h.Receive(Batch{From: p, To: 2, TermReplies: []TermReply{{Group: 1, Term: 2}}})
	}
	waitFor(t, "the adopted term", func() bool { term, _, _ := gs.HardState(); return term == 3 })
	h.Receive(raftMsg(1, appendMsg(4, 3, 2, 6, ent(4, 2, ""), ent(5, 2, ""), ent(6, 4, ""))))
	waitFor(t, "the replica to rejoin", func() bool { st, _ := h.Status(1); return !st.Recovering && st.Applied == 6 })
	if gs.Recovering() {
		t.Fatal("the recovering mark outlived the recovery")
	}
}

// A message that makes raft panic halts its group on this node, logged
// and visible, and nothing else: the process, the host and its other
// groups go on.
func TestRaftPanicHaltsOnlyItsGroup(t *testing.T) {
	h, tr, _ := loneFollower(t, 1, 2)
	// An append whose entry is not at the index after its predecessor:
	// raft panics ("index ... is out of range").
	h.Receive(raftMsg(1, appendMsg(2, 0, 0, 0, ent(10, 2, ""))))
	waitFor(t, "group 1 halted", func() bool { st, _ := h.Status(1); return st.Halted != nil })
	fromHalted := func(_ Batch, m Message) bool { return m.Group == 1 }
	_, before := tr.count(fromHalted)
	halted := h.HaltedGroups()
	if len(halted) != 1 || halted[0].Group != 1 || !strings.Contains(halted[0].Err.Error(), "out of range") {
		t.Fatalf("HaltedGroups = %v", halted)
	}
	if err := h.Err(); err != nil {
		t.Fatalf("host stopped: %v", err)
	}

	// More for the halted group is dropped; the other group works.
	h.Receive(raftMsg(1, appendMsg(2, 0, 0, 0, ent(1, 2, ""))))
	h.Receive(raftMsg(2, appendMsg(2, 0, 0, 1, ent(1, 2, ""))))
	waitFor(t, "group 2 to acknowledge", func() bool { _, n := tr.count(ackedTo(2, 1)); return n > 0 })
	waitFor(t, "group 2 to apply", func() bool { st, _ := h.Status(2); return st.Applied == 1 })
	if _, n := tr.count(fromHalted); n != before {
		t.Fatal("the halted group sent messages")
	}
	var nl *NotLeaderError
	if _, err := h.Propose(1, []byte("x")).Wait(context.Background()); !errors.As(err, &nl) {
		t.Fatalf("proposal to a halted group: %v", err)
	}
	if st, _ := h.Status(1); st.Halted == nil || st.Leader != 0 || st.IsLeader {
		t.Fatalf("group 1 status %+v", st)
	}
}

// storedGroup is the store's open GroupStorage of a group.
func storedGroup(s *Store, id uint64) *GroupStorage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.groups[id]
}

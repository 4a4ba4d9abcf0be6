package consensus

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
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
	if got := h.RecoveringGroups(); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("RecoveringGroups = %v, want [1]", got)
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
	if got := h.RecoveringGroups(); len(got) != 0 {
		t.Fatalf("RecoveringGroups after the recovery = %v", got)
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

// The stream chaos suite's seed 2001 at the consensus level: a follower's
// disk acknowledges fsyncs it never makes, the follower acknowledges an
// entry on that word, then loses power. It restarts one entry short of
// what the leader counts on, and neither its records nor its witness can
// tell (they lost the same writes). The leader's next heartbeat tells it:
// it must recover from its peers instead of panicking, and end up with the
// entry.
func TestFollowerThatForgotAnAcknowledgedEntryRecovers(t *testing.T) {
	net := NewMemNetwork(11)
	t.Cleanup(net.Close)
	type node struct {
		id   uint64
		fs   *vfs.MemFS
		db   *pebble.DB
		host *Host
		sm   *memSM
	}
	var nodes []*node
	start := func(n *node, bootstrap bool) {
		t.Helper()
		db, err := pebble.Open("db", &pebble.Options{FS: n.fs, Logger: quietPebble{}})
		if err != nil {
			t.Fatal(err)
		}
		store := NewStore(db, nil)
		if err := store.UseWitness(n.fs, "/raft.witness"); err != nil {
			t.Fatal(err)
		}
		cfg := testConfig(n.id, store, net.Transport(n.id))
		// A long election timeout (1 s and more; heartbeats every tick), so
		// that the leader is still the one counting on the entry when the
		// follower is back.
		cfg.ElectionTicks, cfg.SnapshotEntries = 100, 1000
		h, err := NewHost(cfg)
		if err != nil {
			t.Fatal(err)
		}
		net.Attach(h)
		n.db, n.host, n.sm = db, h, &memSM{}
		if err := h.AddGroup(context.Background(), GroupConfig{ID: 1, Peers: []uint64{1, 2, 3}, Bootstrap: bootstrap, StateMachine: n.sm}); err != nil {
			t.Fatal(err)
		}
	}
	stop := func(n *node) {
		net.Detach(n.id)
		n.host.Stop()
		n.db.Close()
	}
	for id := uint64(1); id <= 3; id++ {
		n := &node{id: id, fs: vfs.NewStrictMem()}
		nodes = append(nodes, n)
		start(n, true)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			stop(n)
		}
	})
	hosts := func() []*Host { return []*Host{nodes[0].host, nodes[1].host, nodes[2].host} }
	proposeUntil(t, hosts(), 1, "synced")
	var leader, f *node
	waitFor(t, "a leader", func() bool {
		l := leaderOf(hosts(), 1)
		for _, n := range nodes {
			if n.host == l {
				leader = n
			}
		}
		return l != nil
	})
	for _, n := range nodes {
		if n != leader {
			f = n
			break
		}
	}

	f.fs.SetIgnoreSyncs(true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := leader.host.Propose(1, []byte("forgotten by f")).Wait(ctx)
	if err != nil {
		t.Fatalf("proposal: %v", err)
	}
	waitFor(t, "f to acknowledge the entry", func() bool {
		pr, err := leader.host.Progress(ctx, 1)
		return err == nil && pr[f.id].Match >= res.Index
	})
	stop(f)
	f.fs.ResetToSyncedState()
	f.fs.SetIgnoreSyncs(false)
	start(f, false)

	waitFor(t, "f to find out it lost the entry", func() bool { return f.host.LostLogs() == 1 })
	waitFor(t, "f to recover the entry", func() bool {
		st, _ := f.host.Status(1)
		return !st.Recovering && slices.Contains(f.sm.items(), "forgotten by f")
	})
	proposeUntil(t, hosts(), 1, "after")
	for _, n := range nodes {
		if err := n.host.Err(); err != nil {
			t.Fatalf("host %d stopped: %v", n.id, err)
		}
	}
}

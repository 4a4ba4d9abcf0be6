package consensus

import (
	"context"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	pb "go.etcd.io/raft/v3/raftpb"
)

// TestStoreHasGroup: a group is in the store once added, not before.
func TestStoreHasGroup(t *testing.T) {
	db := openTestDB(t, vfs.NewMem())
	defer db.Close()
	store := NewStore(db, nil)
	if ok, err := store.HasGroup(7); err != nil || ok {
		t.Fatalf("HasGroup on an empty store = %v, %v", ok, err)
	}
	h, err := NewHost(testConfig(1, store, NewMemNetwork(1).Transport(1)))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	if err := h.AddGroup(context.Background(), GroupConfig{ID: 7, Peers: []uint64{1, 2, 3}, Bootstrap: true, StateMachine: &memSM{}}); err != nil {
		t.Fatal(err)
	}
	if ok, err := store.HasGroup(7); err != nil || !ok {
		t.Fatalf("HasGroup after AddGroup = %v, %v", ok, err)
	}
	if ok, _ := store.HasGroup(8); ok {
		t.Fatal("HasGroup found a group never added")
	}
}

// TestHostProgressOnLeader: the leader reports every voter's match index;
// a follower refuses.
func TestHostProgressOnLeader(t *testing.T) {
	hosts, _ := startHosts(t, 3)
	res := proposeUntil(t, hosts, 1, "a")
	var l *Host
	waitFor(t, "every voter to match the entry", func() bool {
		if l = leaderOf(hosts, 1); l == nil {
			return false
		}
		pr, err := l.Progress(context.Background(), 1)
		if err != nil || len(pr) != 3 {
			return false
		}
		for _, p := range pr {
			if p.Match < res.Index {
				return false
			}
		}
		return true
	})
	for _, h := range hosts {
		if v, err := h.Voters(context.Background(), 1); err != nil || len(v) != 3 {
			t.Fatalf("Voters = %v, %v", v, err)
		}
		if h == l {
			continue
		}
		var nl *NotLeaderError
		if _, err := h.Progress(context.Background(), 1); !errors.As(err, &nl) {
			t.Fatalf("Progress on a follower: %v", err)
		}
	}
}

// TestHostInboxBytesBound: past InboxBytes queued, inbound batches are
// dropped (a peer flooding a paused host cannot grow its memory), except
// that an empty inbox always takes one.
func TestHostInboxBytesBound(t *testing.T) {
	db := openTestDB(t, vfs.NewMem())
	defer db.Close()
	cfg := testConfig(1, NewStore(db, nil), NewMemNetwork(1).Transport(1))
	cfg.InboxBytes = 1 << 20
	h, err := NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	h.Pause()
	defer h.Resume()
	big := func() Batch {
		m := &pb.Message{Type: pb.MsgApp.Enum(), To: new(uint64), Entries: []*pb.Entry{{Data: make([]byte, 400<<10)}}}
		*m.To = 1
		return Batch{From: 2, To: 1, Messages: []Message{{Group: 1, Raft: m}}}
	}
	for range 10 {
		h.Receive(big())
	}
	h.mu.Lock()
	queued, bytes := len(h.inbox), h.inboxN
	h.mu.Unlock()
	// (The loop may have taken a batch or two before it paused.)
	if queued > 2 || bytes > cfg.InboxBytes {
		t.Fatalf("queued %d batches, %d bytes; want at most 2 within %d", queued, bytes, cfg.InboxBytes)
	}
}

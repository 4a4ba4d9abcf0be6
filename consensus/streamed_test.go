package consensus

import (
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"go.etcd.io/raft/v3"
)

// TestPowerLossAfterStreamedInstallKeepsState: a follower installs a
// streamed state written past its snapshot's index and loses power
// before its log received the entries between the two (its log ends at
// the snapshot, its state machine is ahead of it). It restarts with its
// state, not as a replica that lost it, and catches up.
func TestPowerLossAfterStreamedInstallKeepsState(t *testing.T) {
	s := &stateNet{net: NewMemNetwork(7), dir: t.TempDir(), hosts: map[uint64]*Host{}, inFlight: map[uint64]bool{}}
	t.Cleanup(s.net.Close)
	peers := []uint64{1, 2, 3}
	var hosts []*Host
	var sms []*streamSM
	for id := uint64(1); id <= 2; id++ {
		db := openTestDB(t, vfs.NewMem())
		t.Cleanup(func() { db.Close() })
		h, sm := s.start(t, id, db, peers)
		hosts, sms = append(hosts, h), append(sms, sm)
	}
	fs := newDisk(t)
	db := openTestDB(t, fs)
	h3, sm3 := s.start(t, 3, db, peers)

	s.net.Partition([]uint64{1, 2}, []uint64{3})
	for i := range 45 {
		proposeUntil(t, hosts, 5, string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	// The state written for the follower is past the snapshot sent.
	s.beforeWrite = func() {
		for i := range 3 {
			proposeUntil(t, hosts, 5, "late"+string(rune('a'+i)))
		}
	}
	// The follower dies once it installed the state, before anything
	// after the snapshot's write.
	snapIndex := make(chan uint64, 1)
	h3.crash.set(func(p readyPoint, rds map[uint64]raft.Ready) bool {
		rd, ok := rds[5]
		if p != pointAfterApply || !ok || raft.IsEmptySnap(rd.Snapshot) {
			return false
		}
		select {
		case snapIndex <- rd.Snapshot.GetMetadata().GetIndex():
		default:
		}
		return true
	})
	s.net.Heal()
	select {
	case <-h3.stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("the follower never installed a snapshot")
	}
	at := <-snapIndex
	if applied := sm3.Applied(); applied <= at {
		t.Fatalf("state installed at %d, its snapshot at %d: the case is not tested", applied, at)
	}
	// Power loss: the raft database keeps what it synced; the state
	// machine's state is durable.
	h3.Stop()
	s.net.Detach(3)
	fs.SetIgnoreSyncs(true)
	db.Close()
	fs.ResetToSyncedState()
	fs.SetIgnoreSyncs(false)
	db = openTestDB(t, fs)
	t.Cleanup(func() { db.Close() })
	before := sm3.items()
	h3 = s.startWith(t, 3, db, peers, sm3)
	if st, _ := h3.Status(5); st.Recovering {
		t.Fatal("the follower restarted as a replica that lost its state")
	}
	if got := sm3.items(); !slices.Equal(got, before) {
		t.Fatalf("the follower's state changed on restart: %d items, had %d", len(got), len(before))
	}
	proposeUntil(t, append(hosts, h3), 5, "after")
	waitFor(t, "the follower to hold every entry", func() bool {
		return len(sms[0].items()) == 49 && slices.Equal(sm3.items(), sms[0].items())
	})
}

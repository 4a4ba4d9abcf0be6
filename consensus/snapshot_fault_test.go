package consensus

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"testing"
)

// badSnapshotCase runs group 5 (streamed) and group 1 (an ordinary group,
// as the meta group is) on three hosts, cuts host 3 off while group 5's
// log is compacted, and lets bad(m) spoil the first snapshots sent to it.
// Host 3 must keep group 1 going throughout, and group 5 must catch up
// once a good snapshot arrives, or, with brokenSM (its state machine
// cannot even be emptied), halt there alone.
func badSnapshotCase(t *testing.T, spoil int, brokenSM bool, bad func(m *Message)) {
	s, hosts, sms, _ := streamHosts(t, 3, 0)
	sms[2].refuseReset.Store(brokenSM)
	metas := make([]*memSM, len(hosts))
	for i, h := range hosts {
		metas[i] = &memSM{}
		if err := h.AddGroup(context.Background(), GroupConfig{ID: 1, Peers: []uint64{1, 2, 3}, Bootstrap: true, StateMachine: metas[i]}); err != nil {
			t.Fatal(err)
		}
	}
	s.net.Partition([]uint64{1, 2}, []uint64{3})
	for i := range 45 {
		proposeUntil(t, hosts[:2], 5, fmt.Sprintf("s%d", i))
	}
	var spoiled atomic.Int32
	s.tamper = func(m *Message) {
		if m.Group != 5 || spoiled.Load() >= int32(spoil) {
			return
		}
		spoiled.Add(1)
		bad(m)
	}
	s.net.Heal()
	waitFor(t, "a spoiled snapshot to be sent", func() bool { return spoiled.Load() > 0 })
	// Host 3 goes on with its other groups: it applies what group 1
	// commits after the bad snapshots arrived.
	for i := range 5 {
		proposeUntil(t, hosts, 1, fmt.Sprintf("m%d", i))
	}
	waitFor(t, "host 3 to apply group 1's entries", func() bool {
		return len(metas[2].items()) == 5 && slices.Equal(metas[2].items(), metas[0].items())
	})
	if brokenSM {
		waitFor(t, "host 3's group 5 to halt", func() bool {
			st, ok := hosts[2].Status(5)
			return ok && st.Halted != nil
		})
		if hg := hosts[2].HaltedGroups(); len(hg) != 1 || hg[0].Group != 5 {
			t.Fatalf("halted groups %v, want group 5 only", hg)
		}
		proposeUntil(t, hosts, 5, "after")
		return
	}
	// And group 5 recovers from its peers once a good snapshot comes.
	waitFor(t, "host 3 to hold every entry of group 5", func() bool {
		return len(sms[0].items()) == 45 && slices.Equal(sms[2].items(), sms[0].items())
	})
	if n := spoiled.Load(); n != int32(spoil) {
		t.Fatalf("%d snapshots spoiled, want %d: the case is not tested", n, spoil)
	}
	if _, failed := hosts[2].SnapshotInstalls(); failed < uint64(spoil) {
		t.Fatalf("%d failed snapshot installs counted, want %d", failed, spoil)
	}
	waitFor(t, "host 3's group 5 to rejoin", func() bool {
		st, ok := hosts[2].Status(5)
		return ok && st.Halted == nil && !st.Recovering && st.Commit >= 45
	})
	proposeUntil(t, hosts, 5, "after")
	waitFor(t, "host 3 to apply group 5's next entry", func() bool {
		return slices.Contains(sms[2].items(), "after")
	})
}

// TestSnapshotWithoutItsStateFaultsOnlyItsGroup: snapshots sent with a
// state short of their index, or with none, are dropped before raft sees
// them; the leader sends them again.
func TestSnapshotWithoutItsStateFaultsOnlyItsGroup(t *testing.T) {
	n := 0
	badSnapshotCase(t, 2, false, func(m *Message) {
		n++
		if n == 1 {
			m.State.Index = m.Raft.GetSnapshot().GetMetadata().GetIndex() - 1
			return
		}
		_ = os.Remove(m.State.Path)
		m.State = nil
	})
}

// TestSnapshotInstallFailureFaultsOnlyItsGroup: a snapshot raft took whose
// state cannot be read restarts the group in recovery, and it recovers.
func TestSnapshotInstallFailureFaultsOnlyItsGroup(t *testing.T) {
	badSnapshotCase(t, 1, false, func(m *Message) {
		_ = os.Remove(m.State.Path)
	})
}

// TestSnapshotInstallFailureHaltsOnlyItsGroup: when the state machine
// cannot even be emptied after a failed install, the group halts on that
// host alone; the rest of the host, and the group on its peers, go on.
func TestSnapshotInstallFailureHaltsOnlyItsGroup(t *testing.T) {
	badSnapshotCase(t, 1, true, func(m *Message) {
		_ = os.Remove(m.State.Path)
	})
}

package consensus

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// TestLeaderAppendsReachFollowersBeforeItsWrite: a leader sends its
// appends before it writes the same entries itself, so that its fsync and
// its followers' run at once. The leader's hook, just before it persists
// the Ready that appends a marked proposal, waits for a follower to have
// the entry in its own log; a host that writes before it sends never lets
// it (the hook gives up after 30 s).
// The proposal is still acknowledged, and the cluster's promise checks
// (an acknowledgement only for what is on disk) hold.
func TestLeaderAppendsReachFollowersBeforeItsWrite(t *testing.T) {
	c := newCluster(t, 3, 5)
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
	marker := binary.BigEndian.AppendUint64(nil, 0x5eed_0f_ea11)
	seen := make(chan bool, 16)
	for _, self := range c.nodes {
		self.host.crash.set(func(at readyPoint, rds map[uint64]raft.Ready) bool {
			if at == pointBeforePersist {
				if index, ok := appendsMarked(rds[g], marker); ok {
					seen <- holdsMarked(c, self, entryKey(g, index), marker)
				}
			}
			return false
		})
	}
	var hosts []*Host
	for _, nd := range c.nodes {
		hosts = append(hosts, nd.host)
	}
	proposeUntil(t, hosts, g, string(marker))
	for _, nd := range c.nodes {
		nd.host.crash.set(nil)
	}
	close(seen)
	n := 0
	for ok := range seen {
		if !ok {
			t.Fatal("no follower had the entry before the leader wrote it")
		}
		n++
	}
	if n == 0 {
		t.Fatal("no leader's hook saw the proposal's Ready")
	}
	c.check.mu.Lock()
	v := c.check.violations
	c.check.mu.Unlock()
	if len(v) > 0 {
		t.Fatalf("violations: %v", v)
	}
}

// appendsMarked returns the index of the entry ending in marker that rd
// sends to a follower (rd is a leader's).
func appendsMarked(rd raft.Ready, marker []byte) (uint64, bool) {
	for _, m := range rd.Messages {
		if m.GetType() != pb.MsgApp {
			continue
		}
		for _, e := range m.GetEntries() {
			if bytes.HasSuffix(e.GetData(), marker) {
				return e.GetIndex(), true
			}
		}
	}
	return 0, false
}

// holdsMarked waits (30 s at most) for a node other than self to hold the
// entry at key, ending in marker, in its raft log.
func holdsMarked(c *cluster, self *chaosNode, key, marker []byte) bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, nd := range c.nodes {
			if nd == self {
				continue
			}
			v, closer, err := nd.db.Get(key)
			if err != nil {
				continue
			}
			e, err := decodeEntry(key, v)
			closer.Close()
			if err == nil && bytes.HasSuffix(e.GetData(), marker) {
				return true
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

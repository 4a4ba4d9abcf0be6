package consensus

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
)

// TestLostEntryIsNotLostByTheGroup is the case the recovery rule exists
// for. In a 3-replica group, A leads and commits entry e with C's
// acknowledgement while B is cut off. A crashes; C loses the tail of its
// log, e included. Were C to vote, B and C (neither holding e) could elect
// a leader and e, committed and acknowledged, would be gone. C must stay
// out of elections until it has caught up, so no leader arises until A is
// back, and then e is everywhere.
func TestLostEntryIsNotLostByTheGroup(t *testing.T) {
	c := newCluster(t, 3, 42)
	defer func() {
		c.mu.Lock()
		for _, nd := range c.nodes {
			c.stop(nd, false)
		}
		c.mu.Unlock()
		c.net.Close()
	}()
	const g = 1
	var a *chaosNode
	waitFor(t, "a leader", func() bool {
		for _, nd := range c.nodes {
			if st, _ := nd.host.Status(g); st.IsLeader {
				a = nd
				return true
			}
		}
		return false
	})
	var b, cc *chaosNode
	for _, nd := range c.nodes {
		switch {
		case nd == a:
		case b == nil:
			b = nd
		default:
			cc = nd
		}
	}
	c.net.Partition([]uint64{a.id, cc.id}, []uint64{b.id})
	data := binary.BigEndian.AppendUint64(nil, 777)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	res, err := a.host.Propose(g, data).Wait(ctx)
	cancel()
	if err != nil {
		t.Fatalf("write with A and C: %v", err)
	}
	waitFor(t, "C to hold e", func() bool { st, _ := cc.host.Status(g); return st.Commit >= res.Index })

	c.mu.Lock()
	c.stop(a, false)
	c.stop(cc, false)
	db, err := pebble.Open("db", &pebble.Options{FS: cc.fs, Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	db.DeleteRange(entryKey(g, res.Index), entryKey(g, ^uint64(0)), pebble.Sync)
	db.Close()
	c.net.Heal()
	c.restart(cc)
	c.mu.Unlock()

	// Give B and C many election timeouts: neither may become leader.
	st, _ := cc.host.Status(g)
	if !st.Recovering {
		t.Fatalf("C does not know it lost entries: %+v", st)
	}
	for range 20 {
		b.host.JumpClock(c.nodes[0].host.cfg.ElectionTicks)
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	for _, nd := range []*chaosNode{b, cc} {
		if st, _ := nd.host.Status(g); st.IsLeader {
			t.Fatalf("node %d became leader without the only intact holder of entry %d", nd.id, res.Index)
		}
	}

	c.mu.Lock()
	c.restart(a)
	c.mu.Unlock()
	for _, nd := range c.nodes {
		waitFor(t, "every replica to apply e", func() bool {
			_, ids, _ := nd.sms[g].state()
			st, _ := nd.host.Status(g)
			return slices.Contains(ids, 777) && !st.Recovering
		})
	}
}

// TestRecoveryThatCannotEndSaysSo: a replica that lost its state waits
// for the terms of a majority of the other replicas before it takes part
// again. When they cannot answer (one is down here; when a majority of the
// group lost state, none ever can, and the group must stay without a
// leader rather than lose acknowledged writes), it keeps waiting and says
// so in the log, naming who does not answer; once they can, it recovers.
func TestRecoveryThatCannotEndSaysSo(t *testing.T) {
	c := newCluster(t, 3, 7)
	defer func() {
		c.mu.Lock()
		for _, nd := range c.nodes {
			c.stop(nd, false)
		}
		c.mu.Unlock()
		c.net.Close()
	}()
	const g = 1
	waitFor(t, "a leader", func() bool {
		for _, nd := range c.nodes {
			if st, _ := nd.host.Status(g); st.IsLeader {
				return true
			}
		}
		return false
	})
	b, wiped := c.nodes[1], c.nodes[2]
	var logged lockedBuffer
	c.mu.Lock()
	c.stop(b, false)
	c.stop(wiped, false)
	wiped.fs = newDisk(t)
	c.logger = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c.restart(wiped)
	c.logger = nil
	c.mu.Unlock()

	ticks := wiped.host.cfg.ElectionTicks
	waitFor(t, "the stuck recovery logged", func() bool {
		wiped.host.JumpClock(10 * ticks)
		time.Sleep(20 * time.Millisecond)
		return strings.Contains(logged.String(), "still recovering")
	})
	line := logged.String()
	if !strings.Contains(line, "too few peers answer") || !strings.Contains(line, "not_answering=["+strconv.FormatUint(b.id, 16)+"]") {
		t.Fatalf("the warning does not say who does not answer: %s", line)
	}
	if st, _ := wiped.host.Status(g); !st.Recovering || st.IsLeader {
		t.Fatalf("the wiped replica stopped recovering without its peers: %+v", st)
	}

	c.mu.Lock()
	c.restart(b)
	c.mu.Unlock()
	waitFor(t, "the wiped replica to recover", func() bool {
		st, _ := wiped.host.Status(g)
		return !st.Recovering
	})
}

// lockedBuffer is a bytes.Buffer safe for a logger and a test to share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRecoveryEndSurvivesPowerLoss: once a replica that lost its state has
// recovered, a power loss must not make it recover again. It would need
// the terms of a majority of the others, and if one of them lost its
// state in the meantime (here: its disk is wiped), the group would wait
// for ever although a majority of it is intact. An idle group writes
// nothing synced after the recovery ends, so only a synced end keeps it.
func TestRecoveryEndSurvivesPowerLoss(t *testing.T) {
	c := newCluster(t, 3, 11)
	defer func() {
		c.mu.Lock()
		for _, nd := range c.nodes {
			c.stop(nd, false)
		}
		c.mu.Unlock()
		c.net.Close()
	}()
	leaders := func() bool {
		for _, g := range chaosGroups {
			led := false
			for _, nd := range c.nodes {
				if st, _ := nd.host.Status(g); nd.up && st.IsLeader {
					led = true
				}
			}
			if !led {
				return false
			}
		}
		return true
	}
	waitFor(t, "a leader in every group", leaders)
	wiped := c.nodes[2]
	c.mu.Lock()
	c.stop(wiped, false)
	wiped.fs = newDisk(t)
	c.restart(wiped)
	c.mu.Unlock()
	waitFor(t, "the wiped replica to recover every group", func() bool {
		for _, g := range chaosGroups {
			if st, _ := wiped.host.Status(g); st.Recovering {
				return false
			}
		}
		return true
	})
	// Power loss of the recovered replica; another loses its disk.
	other := c.nodes[1]
	c.mu.Lock()
	c.stop(wiped, true)
	c.stop(other, false)
	other.fs = newDisk(t)
	c.restart(wiped)
	c.restart(other)
	c.mu.Unlock()
	for _, g := range chaosGroups {
		if st, _ := wiped.host.Status(g); st.Recovering {
			t.Fatalf("group %d: the replica recovers again after a power loss", g)
		}
	}
	waitFor(t, "a leader in every group with two intact replicas", leaders)
	waitFor(t, "the second wiped replica to recover", func() bool {
		for _, g := range chaosGroups {
			if st, _ := other.host.Status(g); st.Recovering {
				return false
			}
		}
		return true
	})
}

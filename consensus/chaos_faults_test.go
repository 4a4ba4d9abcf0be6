package consensus

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble"
	"go.etcd.io/raft/v3"
)

// The chaos suite's faults: what the scheduler can do to a cluster.

// fault injects one fault chosen by rng.
func (c *cluster) fault(rng *rand.Rand) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.n / 2 // faults a majority survives
	nd := c.nodes[rng.IntN(c.n)]
	switch rng.IntN(16) {
	case 12, 13, 14, 15:
		c.crashInsideReady(nd, readyPoint(rng.IntN(int(numReadyPoints))), rng.IntN(4) != 0)
	case 0:
		c.note("crash and restart node %d", nd.id)
		c.stop(nd, false)
		c.restart(nd)
	case 1:
		c.note("power loss of node %d", nd.id)
		c.stop(nd, true)
		c.restart(nd)
	case 2:
		if rng.IntN(4) == 0 {
			c.note("power loss of all nodes")
			for _, x := range c.nodes {
				c.stop(x, true)
			}
			for _, x := range c.nodes {
				c.restart(x)
			}
		}
	case 3:
		perm := rng.Perm(c.n)
		var minority, majority []uint64
		for i, p := range perm {
			if i < f {
				minority = append(minority, uint64(p+1))
			} else {
				majority = append(majority, uint64(p+1))
			}
		}
		c.note("partition %v | %v", minority, majority)
		c.net.Partition(minority, majority)
	case 4:
		perm := rng.Perm(c.n)
		bridge := uint64(perm[0] + 1)
		a, b := []uint64{bridge}, []uint64{bridge}
		for i, p := range perm[1:] {
			if i%2 == 0 {
				a = append(a, uint64(p+1))
			} else {
				b = append(b, uint64(p+1))
			}
		}
		c.note("bridge partition %v | %v", a, b)
		c.net.Partition(a, b)
	case 5:
		to := c.nodes[rng.IntN(c.n)]
		if to != nd {
			c.note("one-way cut %d -> %d", nd.id, to.id)
			c.net.Cut(nd.id, to.id)
		}
	case 6:
		c.note("heal")
		c.net.Heal()
	case 7:
		if nd.up {
			d := time.Duration(50+rng.IntN(400)) * time.Millisecond
			c.note("pause node %d for %v", nd.id, d)
			nd.host.Pause()
			h := nd.host
			time.AfterFunc(d, h.Resume)
		}
	case 8:
		if nd.up {
			c.note("clock jump on node %d", nd.id)
			nd.host.JumpClock(5 + rng.IntN(30))
		}
	case 11:
		if c.damaged() < f {
			c.stop(nd, rng.IntN(2) == 0)
			c.note("node %d: %s", nd.id, c.damageWAL(nd, rng))
			c.kept.forget(nd.id)
			c.restart(nd)
		}
	case 10:
		if c.damaged() < f {
			c.note("node %d: disk replaced by an empty one", nd.id)
			c.stop(nd, false)
			c.kept.forget(nd.id)
			nd.fs = newDisk(c.t)
			c.restart(nd)
		}
	case 9:
		if c.damaged() < f {
			c.stop(nd, rng.IntN(2) == 0)
			c.note("node %d: %s", nd.id, c.corrupt(nd, rng))
			c.kept.forget(nd.id)
			c.restart(nd)
		}
	}
}

// corrupt damages a stopped node's raft records of one group: a bit flip
// in an entry or the state record, or a truncated tail.
func (c *cluster) corrupt(nd *chaosNode, rng *rand.Rand) string {
	db, err := pebble.Open("db", &pebble.Options{FS: nd.fs, Logger: quietPebble{}})
	if err != nil {
		return "open failed: " + err.Error()
	}
	defer db.Close()
	g := chaosGroups[rng.IntN(len(chaosGroups))]
	it, _ := db.NewIter(&pebble.IterOptions{LowerBound: entryKey(g, 0), UpperBound: entryKey(g, ^uint64(0))})
	var keys [][]byte
	for ok := it.First(); ok; ok = it.Next() {
		keys = append(keys, append([]byte(nil), it.Key()...))
	}
	it.Close()
	switch kind := rng.IntN(3); {
	case kind == 0 && len(keys) > 0:
		k := keys[rng.IntN(len(keys))]
		v, closer, _ := db.Get(k)
		b := append([]byte(nil), v...)
		closer.Close()
		b[rng.IntN(len(b))] ^= 1 << rng.IntN(8)
		db.Set(k, b, pebble.Sync)
		idx, _ := keyIndex(k)
		return fmt.Sprintf("bit flip in group %d entry %d", g, idx)
	case kind == 1 && len(keys) > 0:
		from := keys[len(keys)-1-rng.IntN(min(len(keys), 8))]
		db.DeleteRange(from, entryKey(g, ^uint64(0)), pebble.Sync)
		idx, _ := keyIndex(from)
		return fmt.Sprintf("group %d log truncated from %d", g, idx)
	default:
		k := kindKey(g, kindState)
		v, closer, err := db.Get(k)
		if err != nil {
			return "no state record: " + err.Error() + fmt.Sprint(len(keys))
		}
		b := append([]byte(nil), v...)
		closer.Close()
		b[rng.IntN(len(b))] ^= 1 << rng.IntN(8)
		db.Set(k, b, pebble.Sync)
		return fmt.Sprintf("bit flip in group %d state", g)
	}
}

// damageWAL cuts the tail of, or flips a bit in, a stopped node's newest
// Pebble write-ahead log: damage Pebble itself may not report. If Pebble
// then refuses to open, the node gets an empty disk, as an operator would
// give it.
func (c *cluster) damageWAL(nd *chaosNode, rng *rand.Rand) string {
	names, _ := nd.fs.List("db")
	var wal string
	for _, n := range names {
		if strings.HasSuffix(n, ".log") && n > wal {
			wal = n
		}
	}
	if wal == "" {
		return "WAL: none to damage"
	}
	path := "db/" + wal
	f, err := nd.fs.Open(path)
	if err != nil {
		return "WAL: " + err.Error()
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if len(b) == 0 {
		return "WAL: empty"
	}
	what := ""
	if rng.IntN(2) == 0 {
		cut := 1 + rng.IntN(min(len(b), 512))
		b = b[:len(b)-cut]
		what = fmt.Sprintf("WAL %s: last %d bytes cut", wal, cut)
	} else {
		pos := rng.IntN(len(b))
		b[pos] ^= 1 << rng.IntN(8)
		what = fmt.Sprintf("WAL %s: bit flip at %d of %d", wal, pos, len(b))
	}
	nd.fs.Remove(path)
	if f, err = nd.fs.Create(path); err == nil {
		f.Write(b)
		f.Sync()
		f.Close()
	}
	if db, err := pebble.Open("db", &pebble.Options{FS: nd.fs, Logger: quietPebble{}}); err != nil {
		nd.fs = newDisk(c.t)
		what += "; Pebble refused to open, disk replaced"
	} else {
		db.Close()
	}
	return what
}

// persists reports whether some group's Ready has something to persist
// (and so, perhaps, a promise in its messages).
func persists(rds map[uint64]raft.Ready) bool {
	for _, rd := range rds {
		if len(rd.Entries) > 0 || rd.HardState != nil || !raft.IsEmptySnap(rd.Snapshot) {
			return true
		}
	}
	return false
}

// crashInsideReady makes a node die at a point inside its Ready handling
// (the first time it gets there with something to persist), then crashes it
// (with power loss or not) and restarts it. If it does not get there soon
// it is crashed between iterations instead.
func (c *cluster) crashInsideReady(nd *chaosNode, p readyPoint, powerLoss bool) {
	if !nd.up {
		return
	}
	var fired atomic.Bool
	nd.host.crash.set(func(at readyPoint, rds map[uint64]raft.Ready) bool {
		return at == p && persists(rds) && fired.CompareAndSwap(false, true)
	})
	select {
	case <-nd.host.stopped:
	case <-time.After(time.Second):
	}
	what := "power loss"
	if !powerLoss {
		what = "crash"
	}
	c.note("%s of node %d inside Ready at %v (reached: %v)", what, nd.id, p, fired.Load())
	c.stop(nd, powerLoss)
	c.restart(nd)
}

package consensus

import (
	"math/rand/v2"
	"time"
)

// Process faults laid over the scheduler's: a node, or two at once, that
// crashes or loses power and stays down for a while, as a machine being
// rebooted does, while the scheduler's own faults go on (another node
// may crash, lose power or have its disk damaged meanwhile). The
// scheduler's faults restart a node at once; these are the ones where
// two nodes are down at the same time. With three nodes, two down is no
// majority: writes must fail, and nothing acknowledged may be lost once
// they are back. They are drawn from a random stream of their own
// (seeded from the run's seed), so a seed's scheduled faults stay the
// ones it always had, with these on top.

// downHold bounds how long an overlapping process fault keeps a node
// down.
const (
	downHoldMin = 200 * time.Millisecond
	downHoldMax = 2 * time.Second
)

// overlapDown restarts the nodes whose time down is over and, one time
// in five, takes down one node (two, one time in three of those) until a
// time drawn from rng.
func (c *cluster) overlapDown(rng *rand.Rand) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.restartDue(false)
	if rng.IntN(5) != 0 {
		return
	}
	count := 1
	if rng.IntN(3) == 0 {
		count = 2
	}
	for _, i := range rng.Perm(c.n)[:count] {
		nd := c.nodes[i]
		powerLoss := rng.IntN(2) == 0
		hold := downHoldMin + time.Duration(rng.Int64N(int64(downHoldMax-downHoldMin)))
		if !nd.up {
			continue
		}
		what := "crash"
		if powerLoss {
			what = "power loss"
		}
		c.note("kept down: %s of node %d for %v", what, nd.id, hold)
		c.stop(nd, powerLoss)
		if c.downUntil == nil {
			c.downUntil = map[uint64]time.Time{}
		}
		c.downUntil[nd.id] = time.Now().Add(hold)
	}
}

// restartDue restarts the nodes kept down whose time is over (every one
// with all). Called with c.mu held. A node the scheduler restarted
// meanwhile (its own crash of the node, a power loss of all) stays up.
func (c *cluster) restartDue(all bool) {
	for _, nd := range c.nodes {
		at, ok := c.downUntil[nd.id]
		if !ok || !all && time.Now().Before(at) {
			continue
		}
		delete(c.downUntil, nd.id)
		if !nd.up {
			c.note("node %d back up", nd.id)
			c.restart(nd)
		}
	}
}

package main

import (
	"math/rand/v2"
	"time"
)

// Faults laid over the scheduler's: one-way partitions and a second
// server cut off, holding while the scheduler's own fault runs, so that
// two faults overlap. They are drawn from a random stream of their own
// (seeded from the run's seed), so a seed's scheduled faults stay the ones
// it always had, with these on top. They only hold or cut links: they
// destroy no data, so the promise that damage stays within a minority is
// untouched (cluster_chaos_run_test.go keeps damage to one server at a
// time); a group may lose its majority for the while, which the checker
// allows, since it checks after healing.

// overlay starts, one time in four, a link fault chosen by rng, and
// returns what undoes it (nil when none was started).
func (c *chaosCluster) overlay(rng *rand.Rand) func() {
	if rng.IntN(4) != 0 {
		return nil
	}
	n := len(c.servers)
	o := c.servers[rng.IntN(n)]
	switch k := rng.IntN(4); {
	case k == 0: // o hears every other server, none hears o
		c.note("overlapping: %s not heard by the others", o.name)
		c.count("one-way: not heard")
		c.holdFrom(o.index, -1)
	case k == 1: // o is heard by every other server and hears none
		c.note("overlapping: %s hears none of the others", o.name)
		c.count("one-way: deaf")
		for j := range n {
			if j != o.index {
				c.holdFrom(j, o.index)
			}
		}
	case k == 2: // one server does not hear another, which hears it
		p := c.servers[(o.index+1+rng.IntN(n-1))%n]
		c.note("overlapping: %s not heard by %s", o.name, p.name)
		c.count("one-way: one link")
		c.holdFrom(o.index, p.index)
	default: // a second server cut off
		c.note("overlapping: %s cut off", o.name)
		c.count("overlapping isolation")
		c.isolate(o.index, true)
	}
	return func() {
		c.note("overlapping fault over")
		c.healLinks()
	}
}

// holdFrom holds what server i sends to server j (to every other server
// when j < 0), whichever of them dialled the route, while i still hears
// them.
func (c *chaosCluster) holdFrom(i, j int) {
	for k := range c.servers {
		if k == i || (j >= 0 && k != j) {
			continue
		}
		c.links[i][k].SetHeld(true, false) // i dialled: what it sends out
		c.links[k][i].SetHeld(false, true) // k dialled: what comes back from i
	}
}

// endOverlay undoes an overlay (when undo is not nil) once it has held
// for at least hold since start, also when the scheduled fault returned
// at once (it had nothing to do).
func endOverlay(undo func(), start time.Time, hold time.Duration) {
	if undo == nil {
		return
	}
	if d := hold - time.Since(start); d > 0 {
		time.Sleep(d)
	}
	undo()
}

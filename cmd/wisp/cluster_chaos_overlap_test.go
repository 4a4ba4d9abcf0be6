package main

import (
	"math/rand/v2"
	"time"
)

// Faults laid over the scheduler's: one-way partitions and a second
// server cut off, holding while the scheduler's own fault runs, so that
// two faults overlap; and, from a stream of their own, servers that
// crash or lose power and stay down as long (downOverlay), so that two
// process faults overlap. Each kind is drawn from a random stream of its
// own (seeded from the run's seed), so a seed's scheduled faults stay the
// ones it always had, with these on top. They destroy no data (a power
// loss drops only what was not fsynced), so the promise that damage stays
// within a minority is untouched (cluster_chaos_run_test.go keeps damage
// to one server at a time); a group may lose its majority for the while
// (two of three servers down), which the checker allows, since it checks
// after healing: publishes then fail, and nothing acknowledged may be
// lost.

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

// downOverlay takes down, one time in five, a server (crashed, or its
// power cut), and on five servers one time in three two of them, and
// returns what restarts them (nil when none went down). A server the
// scheduled fault restarts meanwhile stays up.
func (c *chaosCluster) downOverlay(rng *rand.Rand) func() {
	if rng.IntN(5) != 0 {
		return nil
	}
	n := len(c.servers)
	count := 1
	if n >= 5 && rng.IntN(3) == 0 {
		count = 2
	}
	var down []*chaosServer
	for _, i := range rng.Perm(n)[:count] {
		s := c.servers[i]
		powerLoss := rng.IntN(2) == 0
		if !s.running {
			continue
		}
		if powerLoss {
			c.note("overlapping: power loss of %s", s.name)
			c.count("overlapping power loss")
		} else {
			c.note("overlapping: crash of %s", s.name)
			c.count("overlapping crash")
		}
		c.stop(s, powerLoss)
		down = append(down, s)
	}
	if len(down) == 0 {
		return nil
	}
	return func() {
		for _, s := range down {
			if !s.running {
				c.note("overlapping: %s back up", s.name)
				c.restart(s)
			}
		}
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

// both undoes a and b (either may be nil); nil when both are.
func both(a, b func()) func() {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func() { a(); b() }
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

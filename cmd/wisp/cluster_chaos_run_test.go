package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A stream chaos run: a cluster, replicated streams with publishers and
// a consumer, faults from a seeded scheduler for a while, then heal and
// check (cluster_chaos_work_test.go).

// chaosStreams are the streams of a run: both R3, and on five servers the
// second is R5.
func chaosStreams(n int) []jetstream.StreamConfig {
	r := 3
	if n >= 5 {
		r = 5
	}
	return []jetstream.StreamConfig{
		{Name: "C0", Subjects: []string{"c0.>"}, Replicas: 3, AllowDirect: true},
		{Name: "C1", Subjects: []string{"c1.>"}, Replicas: r, AllowDirect: true},
	}
}

func runStreamChaos(t *testing.T, n int, seed uint64, faultTime time.Duration) {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	extra := rand.New(rand.NewPCG(seed^0x0e1a, seed))
	down := rand.New(rand.NewPCG(seed^0xd0e5, seed)) // cluster_chaos_overlap_test.go
	c := startChaosCluster(t, n)
	book := newChaosBook()
	// How to replay this run: its seed, and its time of faults when it
	// is not the 40 s a replay takes by default (a short run's 12 s, the
	// last of a long run's). A seed's schedule of faults goes on for as
	// long as the faults last, so a replay of another length ends in
	// another state: seed 3016's short run failed, and its 40 s replays
	// passed.
	replay := fmt.Sprintf("CHAOS_SEED=%d", seed)
	if faultTime != 40*time.Second {
		replay = fmt.Sprintf("CHAOS_SEED=%d CHAOS_FAULT_TIME=%v", seed, faultTime)
	}
	replay += " go test -race -run '^TestStreamChaosShort$' ./cmd/wisp"
	fail := func() {
		t.Helper()
		bad := book.violations()
		if len(bad) == 0 {
			if t.Failed() { // a wait that timed out: what led to it
				c.mu.Lock()
				t.Logf("seed %d (replay: %s) events:\n  %s", seed, replay, strings.Join(c.events, "\n  "))
				c.mu.Unlock()
			}
			return
		}
		t.Errorf("STREAM CHAOS FAILURE seed=%d servers=%d (replay: %s):\n  %s", seed, n, replay, strings.Join(bad, "\n  "))
		c.mu.Lock()
		t.Logf("events:\n  %s", strings.Join(c.events, "\n  "))
		c.mu.Unlock()
	}
	defer fail()

	_, js := jsConnect(t, c.urls())
	streams := chaosStreams(n)
	for _, cfg := range streams {
		waitLong(t, "stream "+cfg.Name+" created", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := js.CreateStream(ctx, cfg)
			return err == nil
		})
	}
	const cons = "D"
	waitLong(t, "consumer created", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := js.CreateOrUpdateConsumer(ctx, "C0", jetstream.ConsumerConfig{Durable: cons, AckPolicy: jetstream.AckExplicitPolicy, AckWait: 3 * time.Second})
		return err == nil
	})

	stopPub, stopCons := make(chan struct{}), make(chan struct{})
	consDone := make(chan struct{})
	var pubs sync.WaitGroup
	for i, target := range []string{"C0", "C0", "C1"} {
		pubs.Add(1)
		name := fmt.Sprintf("p%d", i)
		go chaosPublisher(t, c.urls(), name, target, strings.ToLower(target)+"."+name, book, stopPub, &pubs)
	}
	go chaosConsumer(c.urls(), cons, "C0", book, stopCons, consDone)
	defer func() {
		select {
		case <-consDone:
		default:
			close(stopCons)
			<-consDone
		}
	}()

	end := time.Now().Add(faultTime)
	for i := 0; i < 500 && time.Now().Before(end); i++ {
		c.fault(rng, extra, down, js, streams)
		time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond)
	}
	close(stopPub)
	pubs.Wait()
	c.note("faults over: heal")
	c.heal()
	waitLong(t, "one meta leader", func() bool {
		leader := ""
		for _, s := range c.servers {
			l := s.node.MetaLeader()
			if l == "" || (leader != "" && l != leader) {
				return false
			}
			leader = l
		}
		return true
	})
	for _, cfg := range streams {
		c.checkStream(cfg.Name, book)
	}
	var last uint64
	for _, st := range c.servers[0].layers.global().Stats().Streams {
		if st.Name == "C0" {
			last = st.LastSeq
		}
	}
	if s, _ := c.servers[0].node.Assignment("C0"); len(s) > 0 {
		// servers[0] may hold no replica of C0 (five servers): ask one that does.
		for _, x := range c.servers {
			if x.name == s[0] {
				for _, st := range x.layers.global().Stats().Streams {
					if st.Name == "C0" {
						last = st.LastSeq
					}
				}
			}
		}
	}
	checkConsumer(t, js, "C0", cons, book, last)
	close(stopCons)
	<-consDone
	book.mu.Lock()
	t.Logf("seed %d, %d servers: %d publishes acknowledged, %d deliveries, %d acks confirmed, %d not; faults %v",
		seed, n, book.published, book.deliveries, len(book.confirmed), book.ackFailures, c.faults)
	book.mu.Unlock()
}

// fault injects one fault chosen by rng, holds it a while, and undoes it.
// extra draws the overlapping link faults, down the overlapping process
// faults (cluster_chaos_overlap_test.go).
func (c *chaosCluster) fault(rng, extra, down *rand.Rand, js jetstream.JetStream, streams []jetstream.StreamConfig) {
	c.clearCaughtUp(streams)
	n := len(c.servers)
	hold := time.Duration(300+rng.IntN(2700)) * time.Millisecond
	pick := c.servers[rng.IntN(n)]
	target := streams[rng.IntN(len(streams))].Name
	leader := nodeOfChaos(c, streamLeader(nil, js, target))
	damaged := false
	for _, s := range c.servers {
		damaged = damaged || !s.damagedAt.IsZero()
	}
	k := rng.IntN(20)
	// The servers go down first: a power loss heals the links of the
	// server it stops once it is down, which would undo a link overlay.
	undoDown := c.downOverlay(down)
	undo, start := both(c.overlay(extra), undoDown), time.Now()
	defer endOverlay(undo, start, hold)
	switch {
	case k < 3: // the stream's leader crashes
		if leader == nil {
			return
		}
		c.note("crash %s (leader of %s) for %v", leader.name, target, hold)
		c.count("leader crash")
		c.stop(leader, false)
		time.Sleep(hold)
		c.restart(leader)
	case k < 5: // a follower crashes
		if pick == leader {
			return
		}
		c.note("crash %s for %v", pick.name, hold)
		c.count("crash")
		c.stop(pick, false)
		time.Sleep(hold)
		c.restart(pick)
	case k < 8: // power loss of one server
		c.note("power loss of %s for %v", pick.name, hold)
		c.count("power loss")
		c.stop(pick, true)
		time.Sleep(hold)
		c.restart(pick)
	case k == 8: // power loss of every server at once
		c.note("power loss of every server")
		c.count("power loss of all")
		for _, s := range c.servers {
			c.stop(s, true)
		}
		time.Sleep(hold)
		for _, s := range c.servers {
			c.restart(s)
		}
	case k < 12: // the leader is cut off: a minority leader must not acknowledge
		if leader == nil {
			return
		}
		c.note("isolate %s (leader of %s) for %v", leader.name, target, hold+2*time.Second)
		c.count("leader isolated")
		c.isolate(leader.index, true)
		time.Sleep(hold + 2*time.Second)
		c.isolate(leader.index, false)
	case k < 14: // a minority against a majority
		perm := rng.Perm(n)
		minority := perm[:(n-1)/2]
		if rng.IntN(2) == 0 && n == 5 {
			minority = perm[:1]
		}
		in := map[int]bool{}
		var names []string
		for _, i := range minority {
			in[i] = true
			names = append(names, c.servers[i].name)
		}
		c.note("partition %v from the rest for %v", names, hold)
		c.count("partition")
		for i := range n {
			for j := range n {
				if i != j && in[i] != in[j] {
					c.links[i][j].SetCut(true)
				}
			}
		}
		time.Sleep(hold)
		c.healLinks()
	case k < 15: // a link stops carrying data: the peers look stuck
		other := c.servers[(pick.index+1+rng.IntN(n-1))%n]
		c.note("pause link %s-%s for %v", pick.name, other.name, hold)
		c.count("paused link")
		c.links[pick.index][other.index].SetPaused(true)
		c.links[other.index][pick.index].SetPaused(true)
		time.Sleep(hold)
		c.healLinks()
	case k < 16: // slow links around one server
		d := time.Duration(5+rng.IntN(60)) * time.Millisecond
		c.note("links of %s slowed by %v for %v", pick.name, d, hold)
		c.count("slow links")
		for j := range n {
			if j != pick.index {
				c.links[pick.index][j].SetDelay(d)
				c.links[j][pick.index].SetDelay(d)
			}
		}
		time.Sleep(hold)
		c.healLinks()
	case k < 19: // a minority's files damaged between stop and restart
		if damaged {
			return
		}
		c.stop(pick, rng.IntN(2) == 0)
		c.note("%s damaged: %s", pick.name, c.damage(pick, rng))
		c.count("damaged files")
		pick.damagedAt = time.Now()
		c.restart(pick)
	default: // a disk replaced by an empty one
		if damaged {
			return
		}
		c.note("%s: disk replaced by an empty one", pick.name)
		c.count("disk wiped")
		c.stop(pick, false)
		pick.fs = chaosDisk(c.t, pick.dir)
		pick.damagedAt = time.Now()
		c.restart(pick)
	}
}

// healLinks ends every cut, pause and delay.
func (c *chaosCluster) healLinks() {
	for i := range c.links {
		for j := range c.links[i] {
			if p := c.links[i][j]; p != nil {
				p.SetCut(false)
				p.SetPaused(false)
				p.SetHeld(false, false)
				p.SetDelay(0)
			}
		}
	}
}

// clearCaughtUp ends the damaged state of a server once it holds intact
// copies again: until then it is the minority a further damage must not
// add to. A server has caught up once its meta replica runs and knows
// the streams, none of its raft replicas is still recovering lost state
// (until it has, it does not vote: a copy that does not count), and each
// of its stream replicas holds as much as the most advanced running one.
// Counting a replica as caught up on its stream's last sequence alone
// (seed 860100) let the schedule wipe a second and then a third server
// while the first one's meta replica still recovered: two of three
// copies lost, a meta group that can never elect again without risking
// acknowledged data.
func (c *chaosCluster) clearCaughtUp(streams []jetstream.StreamConfig) {
	for _, s := range c.servers {
		if s.damagedAt.IsZero() || !s.running {
			continue
		}
		if c.caughtUp(s, streams) {
			c.note("%s caught up", s.name)
			s.damagedAt = time.Time{}
		}
	}
}

// caughtUp reports whether running server s holds intact copies of the
// meta group and of every stream assigned to it (clearCaughtUp).
func (c *chaosCluster) caughtUp(s *chaosServer, streams []jetstream.StreamConfig) bool {
	if !s.node.Meta().Started() || len(s.node.Recovering()) > 0 {
		return false
	}
	for _, cfg := range streams {
		holders, known := s.node.Assignment(cfg.Name)
		if !known {
			return false // its meta replica has not caught up with the assignments
		}
		if !slices.Contains(holders, s.name) {
			continue
		}
		var mine, best uint64
		held := false
		for _, x := range c.servers {
			if !x.running || !slices.Contains(holders, x.name) {
				continue
			}
			for _, st := range x.layers.global().Stats().Streams {
				if st.Name == cfg.Name {
					best = max(best, st.LastSeq)
					if x == s {
						mine, held = st.LastSeq, true
					}
				}
			}
		}
		if !held || mine < best {
			return false
		}
	}
	return true
}

func nodeOfChaos(c *chaosCluster, name string) *chaosServer {
	for _, s := range c.servers {
		if s.name == name && s.running {
			return s
		}
	}
	return nil
}

// TestStreamChaosShort: a short seeded run on three servers and one on
// five (make test). TestStreamChaosLong is the long one.
func TestStreamChaosShort(t *testing.T) {
	if os.Getenv("CHAOS_TIME") != "" {
		t.Skip("the long run (TestStreamChaosLong) is on")
	}
	if seed, ok := chaosEnv(t); ok {
		// As long as a long run's, or as long as the run to replay had
		// (runStreamChaos names it in a failure).
		faultTime := 40 * time.Second
		if v := os.Getenv("CHAOS_FAULT_TIME"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatalf("CHAOS_FAULT_TIME: %v", err)
			}
			faultTime = d
		}
		runStreamChaos(t, 3+2*int(seed%2), seed, faultTime)
		return
	}
	for _, seed := range []uint64{3016, 5015} { // even: three servers, odd: five
		n := 3 + 2*int(seed%2)
		t.Run(fmt.Sprintf("seed=%d/servers=%d", seed, n), func(t *testing.T) {
			runStreamChaos(t, n, seed, 12*time.Second)
		})
	}
}

// TestStreamChaosLong runs while CHAOS_TIME (a Go duration) lasts, seeds
// from CHAOS_SEED on (random without it), three or five servers as the
// seed says.
func TestStreamChaosLong(t *testing.T) {
	total, err := time.ParseDuration(os.Getenv("CHAOS_TIME"))
	if err != nil {
		t.Skip("set CHAOS_TIME (and optionally CHAOS_SEED) to run: make chaos")
	}
	seed, given := chaosEnv(t)
	if !given {
		seed = rand.Uint64() % 1_000_000
	}
	end := time.Now().Add(total)
	for run := 0; time.Now().Before(end) && run < 1000; run++ {
		s := seed + uint64(run)
		n := 3 + 2*int(s%2) // the seed decides, so that it replays alone
		t.Logf("run %d: seed %d, %d servers", run, s, n)
		ok := t.Run(fmt.Sprintf("seed=%d/servers=%d", s, n), func(t *testing.T) {
			runStreamChaos(t, n, s, min(40*time.Second, max(5*time.Second, time.Until(end))))
		})
		if !ok {
			t.Fatalf("failed: seed %d (servers=%d); its failure above names how to replay it", s, n)
		}
	}
}

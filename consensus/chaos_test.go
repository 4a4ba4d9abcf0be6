package consensus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// The chaos suite: in-process clusters whose disks are Pebble's
// crash-simulating memory filesystem and whose network is a MemNetwork, a
// scheduler driven by one seed that injects faults while clients write,
// and a checker run after healing. `go test` runs a short version; `make
// chaos` a long one (CHAOS_SEED, CHAOS_TIME).

var chaosGroups = []uint64{1, 2}

// chaosSettle bounds the wait for convergence after healing.
var chaosSettle = 90 * time.Second

// checker gathers what must hold across the run.
type checker struct {
	mu         sync.Mutex
	proposer   map[[2]uint64]uint64 // (group, term) → host whose entries commit in that term
	leader     map[[2]uint64]uint64 // (group, term) → host that became leader in it
	violations []string
}

func newChecker() *checker {
	return &checker{proposer: make(map[[2]uint64]uint64), leader: make(map[[2]uint64]uint64)}
}

func (c *checker) violate(format string, args ...any) {
	c.violations = append(c.violations, fmt.Sprintf(format, args...))
}

// proposedIn records that an entry proposed by host committed in term:
// two hosts in one term would be two leaders accepting writes.
func (c *checker) proposedIn(group, term, host uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := [2]uint64{group, term}
	if p, ok := c.proposer[k]; ok && p != host {
		c.violate("group %d term %d: entries from hosts %d and %d committed", group, term, p, host)
	}
	c.proposer[k] = host
}

func (c *checker) leaderIn(lc LeaderChange, host uint64) {
	if lc.Leader != host {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := [2]uint64{lc.Group, lc.Term}
	if p, ok := c.leader[k]; ok && p != host {
		c.violate("group %d term %d: hosts %d and %d both leader", lc.Group, lc.Term, p, host)
	}
	c.leader[k] = host
}

// chaosNode is one host with its own disk.
type chaosNode struct {
	id   uint64
	fs   *vfs.MemFS
	db   *pebble.DB
	host *Host
	sms  map[uint64]*logSM
	up   bool
	// recovering: some replica of the node was recovering lost state
	// when it last stopped; a node kept down (chaos_overlap_test.go)
	// still counts as damaged then.
	recovering bool
}

// newDisk returns an empty crash-simulating filesystem whose database
// directory itself is durable, as an installed node's would be: only the
// data in it is at risk.
func newDisk(t testing.TB) *vfs.MemFS {
	fs := vfs.NewStrictMem()
	if err := fs.MkdirAll("db", 0o755); err != nil {
		t.Fatal(err)
	}
	if d, err := fs.OpenDir("/"); err == nil {
		d.Sync()
		d.Close()
	}
	return fs
}

type cluster struct {
	t     testing.TB
	n     int
	net   *MemNetwork
	check *checker
	cfg   func(id uint64, s *Store) Config
	kept  *promises
	// logger, when set, is the log of the hosts started from then on.
	logger *slog.Logger

	mu    sync.Mutex
	nodes []*chaosNode
	log   []string
	// downUntil: nodes kept down by an overlapping process fault, and
	// when each comes back (chaos_overlap_test.go).
	downUntil map[uint64]time.Time
}

func newCluster(t testing.TB, n int, seed uint64) *cluster {
	c := &cluster{t: t, n: n, net: NewMemNetwork(seed), check: newChecker(), kept: newPromises()}
	for i := range n {
		nd := &chaosNode{id: uint64(i + 1), fs: newDisk(t)}
		c.nodes = append(c.nodes, nd)
		if err := c.start(nd, true); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func (c *cluster) peers() []uint64 {
	var p []uint64
	for i := range c.n {
		p = append(p, uint64(i+1))
	}
	return p
}

// start opens a node's database and state machines and starts its host.
// Called with c.mu held, or before the run.
func (c *cluster) start(nd *chaosNode, bootstrap bool) error {
	db, err := pebble.Open("db", &pebble.Options{FS: nd.fs, Logger: quietPebble{}})
	if err != nil {
		return fmt.Errorf("node %d: open: %w", nd.id, err)
	}
	cfg := DefaultConfig()
	var logger *slog.Logger
	if os.Getenv("CHAOS_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	if c.logger != nil {
		logger = c.logger
	}
	store := NewStore(db, logger)
	if err := store.UseWitness(nd.fs, "/raft.witness"); err != nil {
		db.Close()
		return fmt.Errorf("node %d: witness: %w", nd.id, err)
	}
	cfg.ID, cfg.Store, cfg.Logger = nd.id, store, logger
	cfg.Transport = promiseTransport{c.net.Transport(nd.id), c.kept}
	cfg.TickInterval = 20 * time.Millisecond
	cfg.SnapshotEntries, cfg.KeepEntries = 64, 16
	cfg.OnLeaderChange = func(lc LeaderChange) { c.check.leaderIn(lc, nd.id) }
	h, err := NewHost(cfg)
	if err != nil {
		db.Close()
		return err
	}
	nd.db, nd.host, nd.sms = db, h, make(map[uint64]*logSM)
	c.net.Attach(h)
	for _, g := range chaosGroups {
		sm, err := openLogSM(db, g, c.check)
		if err == nil {
			err = h.AddGroup(context.Background(), GroupConfig{ID: g, Peers: c.peers(), Bootstrap: bootstrap, StateMachine: sm})
		}
		if err != nil {
			h.Stop()
			db.Close()
			return fmt.Errorf("node %d group %d: %w", nd.id, g, err)
		}
		nd.sms[g] = sm
	}
	nd.up = true
	return nil
}

// stop crashes a node: the process dies; with powerLoss, whatever was not
// synced is gone too.
func (c *cluster) stop(nd *chaosNode, powerLoss bool) {
	if !nd.up {
		return
	}
	nd.recovering = false
	for _, g := range chaosGroups {
		if st, ok := nd.host.Status(g); !ok || st.Recovering {
			nd.recovering = true
		}
	}
	c.net.Detach(nd.id)
	nd.host.Resume()
	nd.host.Stop()
	if err := nd.host.Err(); err != nil && !errors.Is(err, errSimulatedCrash) {
		c.check.mu.Lock()
		c.check.violate("node %d stopped with: %v", nd.id, err)
		c.check.mu.Unlock()
	}
	if powerLoss {
		nd.fs.SetIgnoreSyncs(true)
	}
	nd.db.Close()
	if powerLoss {
		nd.fs.ResetToSyncedState()
		nd.fs.SetIgnoreSyncs(false)
		if v := c.kept.check(nd.id, nd.fs, chaosGroups); len(v) > 0 {
			c.check.mu.Lock()
			c.check.violations = append(c.check.violations, v...)
			c.check.mu.Unlock()
		}
	}
	nd.up = false
}

func (c *cluster) note(format string, args ...any) {
	c.log = append(c.log, fmt.Sprintf(format, args...))
}

// damaged counts nodes whose raft state is not whole: recovering, or
// about to be, or down since they were.
func (c *cluster) damaged() int {
	n := 0
	for _, nd := range c.nodes {
		if !nd.up {
			if nd.recovering {
				n++
			}
			continue
		}
		for _, g := range chaosGroups {
			if st, ok := nd.host.Status(g); !ok || st.Recovering {
				n++
				break
			}
		}
	}
	return n
}

// client writes unique ids through whichever node leads, retrying an id
// whose outcome is unknown, and records the acknowledged ones.
func (c *cluster) client(ctx context.Context, next *atomic.Uint64, acked *sync.Map, rng *rand.Rand) {
	for ctx.Err() == nil {
		id := next.Add(1)
		g := chaosGroups[int(id)%len(chaosGroups)]
		data := binary.BigEndian.AppendUint64(nil, id)
		for try := 0; try < 50 && ctx.Err() == nil; try++ {
			c.mu.Lock()
			var h *Host
			for _, nd := range c.nodes {
				if st, ok := nd.host.Status(g); nd.up && ok && st.IsLeader {
					h = nd.host
				}
			}
			c.mu.Unlock()
			if h == nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			wctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err := h.Propose(g, data).Wait(wctx)
			cancel()
			if err == nil {
				acked.Store(id, g)
				break
			}
			time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		}
	}
}

func (c *cluster) restart(nd *chaosNode) {
	if err := c.start(nd, false); err != nil {
		c.check.mu.Lock()
		c.check.violate("restart node %d: %v", nd.id, err)
		c.check.mu.Unlock()
	}
}

// runChaos runs one seeded scenario for d, then heals and checks.
func runChaos(t *testing.T, n int, seed uint64, d time.Duration) {
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	down := rand.New(rand.NewPCG(seed^0xd0e5, uint64(n))) // chaos_overlap_test.go
	c := newCluster(t, n, seed)
	defer func() {
		c.mu.Lock()
		for _, nd := range c.nodes {
			c.stop(nd, false)
		}
		c.mu.Unlock()
		c.net.Close()
	}()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("CHAOS FAILURE seed=%d nodes=%d: %s", seed, n, fmt.Sprintf(format, args...))
		for _, l := range c.log {
			t.Log("  fault: " + l)
		}
		t.FailNow()
	}
	c.net.SetFaults(Faults{Drop: 0.02, Duplicate: 0.02, MaxDelay: 15 * time.Millisecond})

	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var next atomic.Uint64
	var acked sync.Map
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		crng := rand.New(rand.NewPCG(seed, uint64(100+i)))
		go func() { defer wg.Done(); c.client(ctx, &next, &acked, crng) }()
	}
	for ctx.Err() == nil {
		c.overlapDown(down)
		c.fault(rng)
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(100+rng.IntN(300)) * time.Millisecond):
		}
	}
	wg.Wait()

	// Heal everything and let the cluster settle.
	c.mu.Lock()
	c.note("final heal")
	c.net.Heal()
	c.net.SetFaults(Faults{})
	c.restartDue(true)
	for _, nd := range c.nodes {
		if nd.up {
			nd.host.Resume()
		} else {
			c.restart(nd)
		}
	}
	c.mu.Unlock()
	for _, g := range chaosGroups {
		c.settle(g, fail)
	}
	c.verify(&acked, fail)
}

// settle commits one more write in g and waits until every replica has
// applied everything and none is recovering.
func (c *cluster) settle(g uint64, fail func(string, ...any)) {
	deadline := time.Now().Add(chaosSettle)
	barrier := binary.BigEndian.AppendUint64(nil, 1<<62|g)
	var res Result
	for done := false; !done; {
		if time.Now().After(deadline) {
			fail("group %d: no barrier write committed after healing: %v", g, c.states(g))
		}
		c.mu.Lock()
		for _, nd := range c.nodes {
			if st, _ := nd.host.Status(g); st.IsLeader {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				r, err := nd.host.Propose(g, barrier).Wait(ctx)
				cancel()
				if err == nil {
					res, done = r, true
				}
			}
		}
		c.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	for {
		ok := true
		for _, nd := range c.nodes {
			st, _ := nd.host.Status(g)
			ok = ok && !st.Recovering && st.Applied >= res.Index
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			fail("group %d: replicas did not converge on %d: %v", g, res.Index, c.states(g))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// faultKinds counts the faults injected, by kind.
func (c *cluster) faultKinds() map[string]int {
	kinds := map[string]int{}
	for _, l := range c.log {
		for _, k := range []string{"kept down", "inside Ready", "crash", "power loss of node", "power loss of all", "partition", "bridge", "one-way", "heal", "pause", "clock", "bit flip", "truncated", "disk replaced", "WAL"} {
			if strings.Contains(l, k) {
				kinds[k]++
				break
			}
		}
	}
	return kinds
}

func (c *cluster) states(g uint64) []string {
	var states []string
	for _, nd := range c.nodes {
		st, _ := nd.host.Status(g)
		states = append(states, fmt.Sprintf("%d:%+v", nd.id, st))
	}
	return states
}

// verify is the checker: identical replicas, no acknowledged write lost,
// no two leaders in one term (nor entries of two hosts committed in one).
func (c *cluster) verify(acked *sync.Map, fail func(string, ...any)) {
	c.check.mu.Lock()
	v := c.check.violations
	c.check.mu.Unlock()
	if len(v) > 0 {
		fail("%v", v)
	}
	count := 0
	for _, g := range chaosGroups {
		_, ref, refCRC := c.nodes[0].sms[g].state()
		// logSM skips an id it has seen (clients retry writes whose
		// outcome they do not know), so ids hold each write once by
		// construction: what is checked is that none was lost.
		pos := make(map[uint64]bool, len(ref))
		for _, id := range ref {
			pos[id] = true
		}
		for _, nd := range c.nodes[1:] {
			// Clients had stopped before the barrier, the group's last
			// entry, which every replica applied: their logs end together.
			_, ids, crc := nd.sms[g].state()
			if !slices.Equal(ids, ref) || crc != refCRC {
				fail("group %d: node %d holds %d writes (crc %08x), node 1 %d (crc %08x)", g, nd.id, len(ids), crc, len(ref), refCRC)
			}
		}
		acked.Range(func(k, val any) bool {
			if val.(uint64) == g {
				count++
				if !pos[k.(uint64)] {
					fail("group %d: acknowledged write %d lost", g, k.(uint64))
				}
			}
			return true
		})
	}
	if count == 0 {
		fail("no write was acknowledged")
	}
	c.t.Logf("chaos: %d acknowledged writes checked; faults %v; network %+v", count, c.faultKinds(), c.net.Stats())
}

func TestChaosShort(t *testing.T) {
	if os.Getenv("CHAOS_TIME") != "" {
		t.Skip("the long run (TestChaosLong) is on")
	}
	for _, n := range []int{3, 5} {
		t.Run(fmt.Sprintf("nodes=%d", n), func(t *testing.T) {
			runChaos(t, n, uint64(n)*1000+7, 6*time.Second)
		})
	}
}

// TestChaosLong runs while CHAOS_TIME (a Go duration) lasts, seeds from
// CHAOS_SEED on (random without it), alternating 3 and 5 nodes.
func TestChaosLong(t *testing.T) {
	total, err := time.ParseDuration(os.Getenv("CHAOS_TIME"))
	if err != nil {
		t.Skip("set CHAOS_TIME (and optionally CHAOS_SEED) to run: make chaos")
	}
	seed := rand.Uint64() % 1_000_000
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("CHAOS_SEED: %v", err)
		}
	}
	end := time.Now().Add(total)
	for run := 0; time.Now().Before(end) && run < 10_000; run++ {
		s := seed + uint64(run)
		n := 3 + 2*int(s%2) // the seed decides, so that it replays alone
		t.Logf("run %d: seed %d, %d nodes", run, s, n)
		ok := t.Run(fmt.Sprintf("seed=%d/nodes=%d", s, n), func(t *testing.T) {
			runChaos(t, n, s, min(20*time.Second, time.Until(end)+time.Second))
		})
		if !ok {
			t.Fatalf("failed: replay with CHAOS_SEED=%d (nodes=%d)", s, n)
		}
	}
}

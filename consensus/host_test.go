package consensus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
)

// memSM is a state machine that keeps the applied data in memory.
type memSM struct {
	mu      sync.Mutex
	applied uint64
	data    []string
}

func (m *memSM) Applied() uint64 { m.mu.Lock(); defer m.mu.Unlock(); return m.applied }
func (m *memSM) Apply(ents []Entry) ([]any, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	results := make([]any, len(ents))
	for i, e := range ents {
		if e.Index != m.applied+1 {
			return nil, fmt.Errorf("applied %d then %d", m.applied, e.Index)
		}
		m.applied = e.Index
		if e.Data == nil {
			continue
		}
		// A proposal retried after an ambiguous failure may commit twice:
		// keep the first, as a stream's message-id deduplication would.
		if at := slices.Index(m.data, string(e.Data)); at >= 0 {
			results[i] = at + 1
			continue
		}
		m.data = append(m.data, string(e.Data))
		results[i] = len(m.data) // the item's position, as a stream's sequence
	}
	return results, nil
}
func (m *memSM) Snapshot() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return []byte(strings.Join(m.data, "\n")), nil
}
func (m *memSM) Restore(data []byte, index uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applied, m.data = index, nil
	if len(data) > 0 {
		m.data = strings.Split(string(data), "\n")
	}
	return nil
}
func (m *memSM) items() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.data...)
}

func testConfig(id uint64, s *Store, t Transport) Config {
	c := DefaultConfig()
	c.ID, c.Store, c.Transport = id, s, t
	c.TickInterval = 10 * time.Millisecond
	c.SnapshotEntries, c.KeepEntries = 20, 5
	return c
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func leaderOf(hosts []*Host, group uint64) *Host {
	for _, h := range hosts {
		if st, ok := h.Status(group); ok && st.IsLeader {
			return h
		}
	}
	return nil
}

// proposeUntil retries a proposal on whichever host leads until one
// commits.
func proposeUntil(t *testing.T, hosts []*Host, group uint64, data string) Result {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if l := leaderOf(hosts, group); l != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			res, err := l.Propose(group, []byte(data)).Wait(ctx)
			cancel()
			if err == nil {
				return res
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("proposal %q never committed", data)
	return Result{}
}

func TestHostReplicatesManyGroups(t *testing.T) {
	net := NewMemNetwork(1)
	defer net.Close()
	var hosts []*Host
	sms := map[[2]uint64]*memSM{}
	var changes sync.Map
	for id := uint64(1); id <= 3; id++ {
		db := openTestDB(t, vfs.NewMem())
		defer db.Close()
		c := testConfig(id, NewStore(db, nil), net.Transport(id))
		c.OnLeaderChange = func(lc LeaderChange) { changes.Store(lc.Group, lc) }
		h, err := NewHost(c)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Stop()
		net.Attach(h)
		hosts = append(hosts, h)
	}
	for _, h := range hosts {
		for g := uint64(1); g <= 4; g++ {
			sm := &memSM{}
			sms[[2]uint64{h.ID(), g}] = sm
			if err := h.AddGroup(context.Background(), GroupConfig{ID: g, Peers: []uint64{1, 2, 3}, Bootstrap: true, StateMachine: sm}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for g := uint64(1); g <= 4; g++ {
		for i := range 30 {
			proposeUntil(t, hosts, g, fmt.Sprintf("g%d-%d", g, i))
		}
	}
	// A follower refuses proposals and names the leader.
	l := leaderOf(hosts, 1)
	for _, h := range hosts {
		if h != l && l != nil {
			_, err := h.Propose(1, []byte("x")).Wait(context.Background())
			var nl *NotLeaderError
			if !errors.As(err, &nl) {
				t.Fatalf("follower proposal: %v", err)
			}
			break
		}
	}
	if l != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		idx, err := l.ReadIndex(ctx, 1)
		cancel()
		if err != nil && !errors.Is(err, ErrLeadershipLost) {
			t.Fatalf("read index: %v", err)
		}
		if err == nil && idx < 30 {
			t.Fatalf("read index %d below the writes made", idx)
		}
	}
	for g := uint64(1); g <= 4; g++ {
		waitFor(t, "replicas to converge", func() bool {
			a := sms[[2]uint64{1, g}].items()
			return len(a) == 30 && fmt.Sprint(a) == fmt.Sprint(sms[[2]uint64{2, g}].items()) && fmt.Sprint(a) == fmt.Sprint(sms[[2]uint64{3, g}].items())
		})
		if _, ok := changes.Load(g); !ok {
			t.Fatalf("no leader change reported for group %d", g)
		}
	}
}

func TestHostRemoveGroup(t *testing.T) {
	net := NewMemNetwork(2)
	defer net.Close()
	db := openTestDB(t, vfs.NewMem())
	defer db.Close()
	store := NewStore(db, nil)
	h, err := NewHost(testConfig(1, store, net.Transport(1)))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	net.Attach(h)
	ctx := context.Background()
	sm := &memSM{}
	if err := h.AddGroup(ctx, GroupConfig{ID: 9, Peers: []uint64{1}, Bootstrap: true, StateMachine: sm}); err != nil {
		t.Fatal(err)
	}
	proposeUntil(t, []*Host{h}, 9, "kept")
	if err := h.RemoveGroup(ctx, 9, false); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Propose(9, []byte("x")).Wait(ctx); !errors.Is(err, ErrUnknownGroup) {
		t.Fatalf("proposal to a removed group: %v", err)
	}
	// Kept data: the group resumes where it was.
	if err := h.AddGroup(ctx, GroupConfig{ID: 9, Peers: []uint64{1}, StateMachine: sm}); err != nil {
		t.Fatal(err)
	}
	proposeUntil(t, []*Host{h}, 9, "again")
	if got := sm.items(); len(got) != 2 {
		t.Fatalf("state machine holds %v", got)
	}
	if err := h.RemoveGroup(ctx, 9, true); err != nil {
		t.Fatal(err)
	}
	if g, rep, err := store.OpenGroup(9); err != nil || rep.Existed {
		t.Fatalf("deleted group still has records: %+v %v", rep, err)
	} else {
		store.CloseGroup(g.Group())
	}
}

// startHosts starts n hosts on one MemNetwork, each with group 1 on a
// memSM.
func startHosts(t *testing.T, n int) ([]*Host, []*memSM) {
	net := NewMemNetwork(4)
	t.Cleanup(net.Close)
	var peers []uint64
	for i := range n {
		peers = append(peers, uint64(i+1))
	}
	var hosts []*Host
	var sms []*memSM
	for _, id := range peers {
		db := openTestDB(t, vfs.NewMem())
		t.Cleanup(func() { db.Close() })
		h, err := NewHost(testConfig(id, NewStore(db, nil), net.Transport(id)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(h.Stop)
		net.Attach(h)
		sm := &memSM{}
		if err := h.AddGroup(context.Background(), GroupConfig{ID: 1, Peers: peers, Bootstrap: true, StateMachine: sm}); err != nil {
			t.Fatal(err)
		}
		hosts, sms = append(hosts, h), append(sms, sm)
	}
	return hosts, sms
}

func TestHostProposalResultAndTransfer(t *testing.T) {
	hosts, _ := startHosts(t, 3)
	first := proposeUntil(t, hosts, 1, "a")
	second := proposeUntil(t, hosts, 1, "b")
	if second.Index <= first.Index || first.Value == nil || second.Value.(int) <= first.Value.(int) {
		t.Fatalf("results %+v then %+v: want the state machine's answers", first, second)
	}
	var l, to *Host
	waitFor(t, "a leader", func() bool { l = leaderOf(hosts, 1); return l != nil })
	for _, h := range hosts {
		if h != l {
			to = h
			break
		}
	}
	var nl *NotLeaderError
	if err := to.TransferLeadership(context.Background(), 1, l.ID()); !errors.As(err, &nl) {
		t.Fatalf("transfer asked of a follower: %v", err)
	}
	// The transfer may be lost to an election racing it: ask until the
	// chosen host leads.
	waitFor(t, "leadership to move", func() bool {
		if cur := leaderOf(hosts, 1); cur != nil && cur != to {
			cur.TransferLeadership(context.Background(), 1, to.ID())
		}
		st, _ := to.Status(1)
		return st.IsLeader
	})
	proposeUntil(t, hosts, 1, "c")
}

// A state machine that lost its state (its writes were not synced) after
// the log was compacted is restored from the log's snapshot, then
// replays the entries after it.
func TestHostRestoresStateMachineBehindTheLog(t *testing.T) {
	net := NewMemNetwork(5)
	defer net.Close()
	db := openTestDB(t, vfs.NewMem())
	defer db.Close()
	start := func(sm *memSM) *Host {
		h, err := NewHost(testConfig(1, NewStore(db, nil), net.Transport(1)))
		if err != nil {
			t.Fatal(err)
		}
		net.Attach(h)
		if err := h.AddGroup(context.Background(), GroupConfig{ID: 1, Peers: []uint64{1}, Bootstrap: true, StateMachine: sm}); err != nil {
			t.Fatal(err)
		}
		return h
	}
	h := start(&memSM{})
	for i := range 50 {
		proposeUntil(t, []*Host{h}, 1, fmt.Sprint("w", i))
	}
	h.Stop()
	g, _, _ := NewStore(db, nil).OpenGroup(1)
	if fi, _ := g.FirstIndex(); fi <= 1 {
		t.Fatalf("log not compacted (first index %d): the test needs it", fi)
	}

	fresh := &memSM{}
	h = start(fresh)
	defer h.Stop()
	waitFor(t, "the state machine to be whole again", func() bool { return len(fresh.items()) == 50 })
	if got := fresh.items(); got[0] != "w0" || got[49] != "w49" {
		t.Fatalf("restored %v", got)
	}
}

package consensus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// Recent entries are served from memory: with their records gone from
// Pebble behind the store's back, Entries and Term still answer (before
// the cache, the read failed the store).
func TestEntryCacheServesWithoutReading(t *testing.T) {
	db := openTestDB(t, vfs.NewMem())
	defer db.Close()
	s := NewStore(db, nil)
	g, _, _ := s.OpenGroup(1)
	appendEnts(t, s, g, hard(1, 1, 0), ent(1, 1, "a"), ent(2, 1, "b"), ent(3, 2, "c"))
	if err := db.DeleteRange(entryKey(1, 1), entryKey(1, 4), nil); err != nil {
		t.Fatal(err)
	}
	ents, err := g.Entries(1, 4, 1<<20)
	if err != nil {
		t.Fatalf("entries: %v", err)
	}
	if got := entsString(ents); got != "1/1:a 2/1:b 3/2:c" {
		t.Fatalf("entries %s", got)
	}
	if s.Failed() != nil {
		t.Fatalf("store failed: %v", s.Failed())
	}
}

// A conflicting append replaces the cached suffix, and entries handed out
// before keep what they were.
func TestEntryCacheConflict(t *testing.T) {
	db := openTestDB(t, vfs.NewMem())
	defer db.Close()
	s := NewStore(db, nil)
	g, _, _ := s.OpenGroup(1)
	appendEnts(t, s, g, hard(1, 1, 0), ent(1, 1, "a"), ent(2, 1, "b"), ent(3, 1, "c"), ent(4, 1, "d"))
	before, err := g.Entries(1, 5, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	appendEnts(t, s, g, hard(2, 2, 0), ent(3, 2, "C"))
	appendEnts(t, s, g, nil, ent(4, 2, "D"), ent(5, 2, "E"))
	after, err := g.Entries(1, 6, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got := entsString(after); got != "1/1:a 2/1:b 3/2:C 4/2:D 5/2:E" {
		t.Fatalf("after the conflict: %s", got)
	}
	if got := entsString(before); got != "1/1:a 2/1:b 3/1:c 4/1:d" {
		t.Fatalf("entries read before the conflict changed: %s", got)
	}
	if tm, err := g.Term(4); err != nil || tm != 2 {
		t.Fatalf("term of 4: %d %v", tm, err)
	}
}

// The cache stays within its bound, and what it dropped is read from
// Pebble.
func TestEntryCacheBounded(t *testing.T) {
	db := openTestDB(t, vfs.NewMem())
	defer db.Close()
	s := NewStore(db, nil)
	s.SetEntryCacheBytes(1000)
	g, _, _ := s.OpenGroup(1)
	payload := strings.Repeat("x", 90)
	for i := range uint64(100) {
		appendEnts(t, s, g, hard(1, 1, 0), ent(i+1, 1, payload))
		if c := g.state().cache; c.bytes > 1000 || len(c.ents) == 0 {
			t.Fatalf("after %d entries: cache of %d bytes, %d entries", i+1, c.bytes, len(c.ents))
		}
	}
	c := g.state().cache
	if c.first <= 1 || c.first+uint64(len(c.ents)) != 101 {
		t.Fatalf("cache holds %d..%d", c.first, c.first+uint64(len(c.ents))-1)
	}
	ents, err := g.Entries(1, 101, 1<<20)
	if err != nil || len(ents) != 100 || ents[99].GetIndex() != 100 {
		t.Fatalf("entries: %d, %v", len(ents), err)
	}
}

func TestEntryCacheMatchesPebble(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { entryCacheDifferential(t, seed) })
	}
}

// entryCacheDifferential runs one random sequence of appends (some in
// conflict), snapshots with compaction, and installed snapshots on two
// stores, one with a small cache and one without, and checks that every
// read answers the same on both.
func entryCacheDifferential(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	var stores [2]*Store
	var groups [2]*GroupStorage
	for k := range stores {
		db := openTestDB(t, vfs.NewMem())
		defer db.Close()
		stores[k] = NewStore(db, nil)
		groups[k], _, _ = stores[k].OpenGroup(1)
	}
	stores[0].SetEntryCacheBytes(200 + rng.IntN(2000))
	stores[1].SetEntryCacheBytes(0)
	term := uint64(1)
	for step := range 200 {
		st := groups[0].state()
		first, last := st.trunc.index+1, st.hard.lastIndex
		each := func(f func(wb *WriteBatch, g *GroupStorage) error) {
			for k, s := range stores {
				wb := s.NewBatch()
				if err := f(wb, groups[k]); err != nil {
					wb.Close()
					t.Fatalf("step %d: %v", step, err)
				}
				if err := wb.Commit(true); err != nil {
					t.Fatal(err)
				}
			}
		}
		switch r := rng.IntN(20); {
		case r < 15 || last < first:
			from := last + 1
			if r < 4 && last >= first {
				from = first + rng.Uint64N(last-first+1) // a conflict
				term++
			}
			var ents []*pb.Entry
			for i := range uint64(1 + rng.IntN(8)) {
				ents = append(ents, ent(from+i, term, strings.Repeat("e", rng.IntN(120))))
			}
			each(func(wb *WriteBatch, g *GroupStorage) error { return wb.Append(g, ents) })
		case r < 19:
			at := first + rng.Uint64N(last-first+1)
			compact := at - rng.Uint64N(at-first+1)
			each(func(wb *WriteBatch, g *GroupStorage) error {
				return wb.CreateSnapshot(g, at, []byte("s"), compact)
			})
		default:
			at := last + 1 + uint64(rng.IntN(4))
			term++
			snap := &pb.Snapshot{Data: []byte("in"), Metadata: &pb.SnapshotMetadata{
				Index: new(at), Term: new(term), ConfState: &pb.ConfState{Voters: []uint64{1}},
			}}
			each(func(wb *WriteBatch, g *GroupStorage) error { return wb.ApplySnapshot(g, snap) })
		}
		compareReads(t, step, groups[0], groups[1], rng)
	}
}

func compareReads(t *testing.T, step int, cached, plain *GroupStorage, rng *rand.Rand) {
	t.Helper()
	st := plain.state()
	lo, hi := st.trunc.index, st.hard.lastIndex+2
	for i := lo; i <= hi; i++ {
		a, aerr := cached.Term(i)
		b, berr := plain.Term(i)
		if a != b || !errors.Is(aerr, berr) {
			t.Fatalf("step %d: Term(%d) = %d %v with the cache, %d %v without", step, i, a, aerr, b, berr)
		}
	}
	for range 10 {
		from := lo + rng.Uint64N(hi-lo+1)
		to := from + rng.Uint64N(hi-from+1)
		max := rng.Uint64N(600)
		a, aerr := cached.Entries(from, to, max)
		b, berr := plain.Entries(from, to, max)
		if entsString(a) != entsString(b) || !errors.Is(aerr, berr) {
			t.Fatalf("step %d: Entries(%d, %d, %d) = %s %v with the cache, %s %v without",
				step, from, to, max, entsString(a), aerr, entsString(b), berr)
		}
		if aerr != nil && !errors.Is(aerr, raft.ErrCompacted) && !errors.Is(aerr, raft.ErrUnavailable) {
			t.Fatalf("step %d: Entries(%d, %d): %v", step, from, to, aerr)
		}
	}
	if c := cached.state().cache; len(c.ents) > 0 && c.first+uint64(len(c.ents))-1 != cached.state().hard.lastIndex {
		t.Fatalf("step %d: cache ends at %d, log at %d", step, c.first+uint64(len(c.ents))-1, cached.state().hard.lastIndex)
	}
}

func entsString(ents []*pb.Entry) string {
	var b strings.Builder
	for i, e := range ents {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d/%d:%s", e.GetIndex(), e.GetTerm(), e.GetData())
	}
	return b.String()
}

// Once every replica has applied every entry, the groups' caches are
// empty: an idle group holds no entries in memory, however many a host
// runs.
func TestEntryCacheReleasedWhenSettled(t *testing.T) {
	net := NewMemNetwork(3)
	defer net.Close()
	var hosts []*Host
	for id := uint64(1); id <= 3; id++ {
		db := openTestDB(t, vfs.NewMem())
		defer db.Close()
		c := testConfig(id, NewStore(db, nil), net.Transport(id))
		c.SnapshotEntries = 1000 // no compaction empties the caches instead
		h, err := NewHost(c)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Stop()
		net.Attach(h)
		hosts = append(hosts, h)
	}
	for _, h := range hosts {
		if err := h.AddGroup(context.Background(), GroupConfig{ID: 1, Peers: []uint64{1, 2, 3}, Bootstrap: true, StateMachine: &memSM{}}); err != nil {
			t.Fatal(err)
		}
	}
	var last Result
	for i := range 40 {
		last = proposeUntil(t, hosts, 1, fmt.Sprint("w", i))
	}
	cached := func(h *Host) (n int) {
		if err := h.call(context.Background(), func() { n = len(h.groups[1].gs.state().cache.ents) }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor(t, "every replica to apply every entry and drop its cache", func() bool {
		for _, h := range hosts {
			if st, _ := h.Status(1); st.Applied < last.Index || cached(h) != 0 {
				return false
			}
		}
		return true
	})
}

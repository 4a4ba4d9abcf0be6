package consensus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// faultyDisk is a filesystem whose writes a test makes fail: while full,
// creating a file and every write, preallocation and fsync fail with
// ENOSPC (a full disk); while failing, the fsyncs of Pebble's write-ahead
// log fail with EIO (a disk that cannot sync); while witnessFull, only the
// writes of the witness file fail with ENOSPC. Reads always work.
type faultyDisk struct {
	vfs.FS
	full, failing, witnessFull atomic.Bool
	hits                       atomic.Int64
}

// witnessFile is the path of the disk hosts' witness (witness.go).
const witnessFile = "raft.witness"

// diskFault is an error the faulty disk injected: it names the file, so a
// test can tell which write met the fault.
type diskFault struct {
	op, name string
	errno    syscall.Errno
}

func (e *diskFault) Error() string { return e.op + " " + e.name + ": " + e.errno.Error() }
func (e *diskFault) Unwrap() error { return e.errno }

func (d *faultyDisk) fail(name string, sync bool) error {
	switch {
	case d.full.Load(), d.witnessFull.Load() && name == witnessFile:
		d.hits.Add(1)
		return &diskFault{"write", name, syscall.ENOSPC}
	case d.failing.Load() && sync && len(name) > 4 && name[len(name)-4:] == ".log":
		d.hits.Add(1)
		return &diskFault{"sync", name, syscall.EIO}
	}
	return nil
}

func (d *faultyDisk) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return f, err
	}
	return &faultyFile{File: f, d: d, name: name}, nil
}

func (d *faultyDisk) Create(name string) (vfs.File, error) {
	if err := d.fail(name, false); err != nil {
		return nil, err
	}
	f, err := d.FS.Create(name)
	return d.wrap(name, f, err)
}

func (d *faultyDisk) OpenReadWrite(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := d.FS.OpenReadWrite(name, opts...)
	return d.wrap(name, f, err)
}

func (d *faultyDisk) ReuseForWrite(oldname, newname string) (vfs.File, error) {
	if err := d.fail(newname, false); err != nil {
		return nil, err
	}
	f, err := d.FS.ReuseForWrite(oldname, newname)
	return d.wrap(newname, f, err)
}

func (d *faultyDisk) Link(oldname, newname string) error {
	if err := d.fail(newname, false); err != nil {
		return err
	}
	return d.FS.Link(oldname, newname)
}

type faultyFile struct {
	vfs.File
	d    *faultyDisk
	name string
}

func (f *faultyFile) Write(p []byte) (int, error) {
	if err := f.d.fail(f.name, false); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *faultyFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.d.fail(f.name, false); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *faultyFile) Preallocate(off, n int64) error {
	if err := f.d.fail(f.name, false); err != nil {
		return err
	}
	return f.File.Preallocate(off, n)
}

func (f *faultyFile) Sync() error {
	if err := f.d.fail(f.name, true); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultyFile) SyncData() error {
	if err := f.d.fail(f.name, true); err != nil {
		return err
	}
	return f.File.SyncData()
}

func (f *faultyFile) SyncTo(n int64) (bool, error) {
	if err := f.d.fail(f.name, true); err != nil {
		return false, err
	}
	return f.File.SyncTo(n)
}

// diskHost is a host of the storage fault tests: its raft log on a
// faulty disk, reopened by the store after a failure.
type diskHost struct {
	id     uint64
	mem    *vfs.MemFS // strict: a power loss drops what was not synced
	disk   *faultyDisk
	store  *Store
	h      *Host
	sm     *memSM
	mu     sync.Mutex
	guards []*FatalGuard // one per open of the database
	// sentFailed counts raft messages the host sent while its log was
	// failed (checked on its loop, in Send).
	sentFailed atomic.Int64
}

func (d *diskHost) open() (*pebble.DB, *FatalGuard, error) {
	db, g, err := OpenPebble(d.disk, "db", nil)
	if err == nil {
		d.mu.Lock()
		d.guards = append(d.guards, g)
		d.mu.Unlock()
	}
	return db, g, err
}

// failedSendCheck is the host's transport: it counts what the host sends
// while its log is failed, then passes the batch on.
type failedSendCheck struct {
	Transport
	d *diskHost
}

func (t failedSendCheck) Send(b Batch) {
	// Send runs on the host's loop, which owns loopFault.
	if t.d.h.loopFault != nil && len(b.Messages) > 0 {
		t.d.sentFailed.Add(int64(len(b.Messages)))
	}
	t.Transport.Send(b)
}

func startDiskHosts(t *testing.T, net *MemNetwork, p *promises) []*diskHost {
	t.Helper()
	var out []*diskHost
	for id := uint64(1); id <= 3; id++ {
		d := &diskHost{id: id, mem: vfs.NewStrictMem(), sm: &memSM{}}
		d.disk = &faultyDisk{FS: d.mem}
		db, g, err := d.open()
		if err != nil {
			t.Fatal(err)
		}
		d.store = NewStore(db, nil)
		d.store.SetReopen(g, d.open)
		if err := d.store.UseWitness(d.disk, witnessFile); err != nil {
			t.Fatal(err)
		}
		cfg := testConfig(id, d.store, failedSendCheck{promiseTransport{net.Transport(id), p}, d})
		cfg.StorageRetry = 20 * time.Millisecond
		h, err := NewHost(cfg)
		if err != nil {
			t.Fatal(err)
		}
		d.h = h
		net.Attach(h)
		out = append(out, d)
	}
	t.Cleanup(func() {
		for _, d := range out {
			d.h.Stop()
			closeQuietly(d.store.DB(), nil)
		}
	})
	for _, d := range out {
		if err := d.h.AddGroup(context.Background(), GroupConfig{ID: 1, Peers: []uint64{1, 2, 3}, Bootstrap: true, StateMachine: d.sm}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func diskHostsOf(ds []*diskHost) []*Host {
	var out []*Host
	for _, d := range ds {
		out = append(out, d.h)
	}
	return out
}

// TestRaftLogFaultStopsTheReplicaAndItRecovers: a replica's raft log
// stops taking writes (a full disk, or fsyncs of its write-ahead log
// failing with EIO), on a follower and on the leader; and a full disk met
// only by the witness's write after a commit Pebble synced (which a full
// disk does too, when it fills between the two). The process goes on
// (Pebble's fatal commit error is an error, not a panic), the replica
// sends nothing while it cannot persist, refuses proposals with
// ErrStorageFailed, and reports the fault; the other two keep committing
// (electing a new leader when the failed one led); once the disk works
// again the replica reopens its log, catches up, and every replica holds
// every acknowledged write once. After a power loss of every replica at
// the end, every vote and acknowledgement sent is still on disk.
func TestRaftLogFaultStopsTheReplicaAndItRecovers(t *testing.T) {
	const (
		enospc        = iota // the whole disk is full
		eio                  // the write-ahead log's fsyncs fail
		witnessENOSPC        // only the witness's writes fail (full)
	)
	for _, tc := range []struct {
		name   string
		leader bool
		fault  int
	}{
		{"follower-enospc", false, enospc},
		{"leader-enospc", true, enospc},
		{"follower-eio", false, eio},
		{"leader-eio", true, eio},
		{"follower-witness-enospc", false, witnessENOSPC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			if v := os.Getenv("CHAOS_SEED"); v != "" { // replay a failed run
				if n, err := strconv.ParseUint(v, 10, 64); err == nil {
					seed = n
				}
			}
			t.Logf("seed %d (CHAOS_SEED=%d replays it)", seed, seed)
			rng := rand.New(rand.NewPCG(seed, 15))
			net := NewMemNetwork(seed)
			defer net.Close()
			p := newPromises()
			ds := startDiskHosts(t, net, p)
			hosts := diskHostsOf(ds)
			acked := map[string]bool{}
			write := func(name string) Result {
				res := proposeUntil(t, hosts, 1, name)
				acked[name] = true
				return res
			}
			for i := range 5 + rng.IntN(20) {
				write(fmt.Sprint("before-", i))
			}
			var bad *diskHost
			waitFor(t, "a leader", func() bool { return leaderOf(hosts, 1) != nil })
			for _, d := range ds {
				if st, _ := d.h.Status(1); st.IsLeader == tc.leader {
					bad = d
					break
				}
			}
			switch tc.fault {
			case enospc:
				bad.disk.full.Store(true)
			case eio:
				bad.disk.failing.Store(true)
			case witnessENOSPC:
				bad.disk.witnessFull.Store(true)
			}
			// The next write reaches the bad replica's log; it fails there.
			// On a failed leader the proposal's outcome is unknown: it is
			// retried on whoever leads (memSM keeps one of each).
			i := 0
			waitFor(t, "the bad replica's log to fail", func() bool {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				if l := leaderOf(hosts, 1); l != nil {
					name := fmt.Sprint("trigger-", i)
					i++
					if _, err := l.Propose(1, []byte(name)).Wait(ctx); err == nil {
						acked[name] = true
					}
				}
				return bad.h.StorageHealth().Fault != nil
			})
			sh := bad.h.StorageHealth()
			if !errors.Is(sh.Fault, ErrStorageFailed) || sh.Failures == 0 {
				t.Fatalf("storage health %+v: want a fault wrapping ErrStorageFailed, counted", sh)
			}
			if st, _ := bad.h.Status(1); !st.StorageFault || st.IsLeader {
				t.Fatalf("status of the failed replica %+v: want a storage fault, not leading", st)
			}
			_, err := bad.h.Propose(1, []byte("refused")).Wait(context.Background())
			if !errors.Is(err, ErrStorageFailed) {
				t.Fatalf("proposal on the failed replica: %v, want ErrStorageFailed", err)
			}
			// The others go on, under a new leader if the bad one led.
			waitFor(t, "a leader among the others", func() bool {
				l := leaderOf(hosts, 1)
				return l != nil && l != bad.h
			})
			var last Result
			for i := range 10 + rng.IntN(30) {
				last = write(fmt.Sprint("during-", i))
			}
			if st, _ := bad.h.Status(1); !st.StorageFault || st.Applied >= last.Index {
				t.Fatalf("failed replica %+v applied through %d during the fault", st, last.Index)
			}
			// Reopening fails too while the disk is full (a new write-ahead
			// log cannot be created), or works and fails at the next sync:
			// either way the fault is met again before the disk recovers.
			hits := bad.disk.hits.Load()
			waitFor(t, "failed tries to reopen", func() bool { return bad.disk.hits.Load() >= hits+2 })
			bad.disk.full.Store(false)
			bad.disk.failing.Store(false)
			bad.disk.witnessFull.Store(false)
			waitFor(t, "the replica to recover", func() bool { return bad.h.StorageHealth().Fault == nil })
			for i := range 5 + rng.IntN(10) {
				last = write(fmt.Sprint("after-", i))
			}
			waitFor(t, "every replica to apply every write", func() bool {
				for _, h := range hosts {
					if st, _ := h.Status(1); st.Applied < last.Index {
						return false
					}
				}
				return true
			})
			if sent := bad.sentFailed.Load(); sent != 0 {
				t.Fatalf("the replica sent %d raft messages while its log was failed", sent)
			}
			if sh := bad.h.StorageHealth(); sh.Reopens == 0 {
				t.Fatalf("storage health %+v: want a reopen counted", sh)
			} else {
				t.Logf("replica %d: %d failed writes, %d reopens, %d injected errors", bad.id, sh.Failures, sh.Reopens, bad.disk.hits.Load())
			}
			// The first fault is the error the disk injected, through
			// whichever write met it first: a commit into Pebble, which
			// reports it by its fatal error (the guard of the first open
			// turned it into the fault), or the witness's write after a
			// commit Pebble had synced (the disk filled between the two).
			want := syscall.ENOSPC
			if tc.fault == eio {
				want = syscall.EIO
			}
			var injected *diskFault
			if !errors.As(sh.Fault, &injected) || injected.errno != want {
				t.Fatalf("first storage fault %v: want the injected %v", sh.Fault, want)
			}
			bad.mu.Lock()
			fatal := bad.guards[0].Fatal()
			bad.mu.Unlock()
			switch {
			case tc.fault == witnessENOSPC && injected.name != witnessFile:
				t.Fatalf("first storage fault %v: want the witness's write", sh.Fault)
			case injected.name == witnessFile:
				t.Logf("the first fault met the witness's write: %v", sh.Fault)
			case fatal == nil || !errors.Is(sh.Fault, fatal):
				t.Fatalf("first storage fault %v, on %s: want Pebble's fatal error on the first open (%v)", sh.Fault, injected.name, fatal)
			}
			ref := ds[0].sm.items()
			for _, d := range ds {
				items := d.sm.items()
				if !slices.Equal(items, ref) {
					t.Fatalf("replica %d holds %d items, replica 1 %d: they differ", d.id, len(items), len(ref))
				}
				seen := map[string]bool{}
				for _, it := range items {
					if seen[it] {
						t.Fatalf("replica %d holds %q twice", d.id, it)
					}
					seen[it] = true
				}
				for name := range acked {
					if !seen[name] {
						t.Fatalf("replica %d lost acknowledged write %q", d.id, name)
					}
				}
			}
			// Power loss of every replica: what each promised is on disk.
			for _, d := range ds {
				d.h.Stop()
			}
			for _, d := range ds {
				closeQuietly(d.store.DB(), nil)
				d.mem.ResetToSyncedState()
				if lost := p.check(d.id, d.mem, []uint64{1}); len(lost) > 0 {
					t.Fatalf("promises forgotten: %v", lost)
				}
			}
		})
	}
}

// TestFatalGuardNeverEndsTheProcess: Pebble's Fatalf inside Run comes back
// as an error wrapping ErrStorageFailed and the cause; on any other
// goroutine (one of Pebble's own) it parks that goroutine instead of
// panicking, and a store over that instance refuses to reopen it.
func TestFatalGuardNeverEndsTheProcess(t *testing.T) {
	g := NewFatalGuard(nil)
	err := g.Run(func() error {
		g.Fatalf("pebble: fatal commit error: %v", syscall.ENOSPC)
		return nil
	})
	if !errors.Is(err, ErrStorageFailed) || !errors.Is(err, syscall.ENOSPC) || g.Parked() {
		t.Fatalf("Fatalf inside Run: %v (parked %v), want ErrStorageFailed and ENOSPC", err, g.Parked())
	}
	if err := NewFatalGuard(nil).Run(func() error { panic("pebble: invariant") }); !errors.Is(err, ErrStorageFailed) {
		t.Fatalf("panic inside Run: %v, want ErrStorageFailed", err)
	}
	go g.Fatalf("MANIFEST sync failed: %v", syscall.EIO) // parks for good
	waitFor(t, "the goroutine to park", g.Parked)

	db, err := pebble.Open("db", &pebble.Options{FS: vfs.NewMem(), Logger: g})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := NewStore(db, nil)
	s.SetReopen(g, func() (*pebble.DB, *FatalGuard, error) { t.Fatal("reopened a parked instance"); return nil, nil, nil })
	s.markFailed(syscall.EIO)
	if err := s.Reopen(); err == nil {
		t.Fatal("Reopen of an instance with a parked goroutine succeeded")
	}
	if err := s.Write(func(*pebble.DB) error { return nil }); !errors.Is(err, ErrStorageFailed) {
		t.Fatalf("write on a failed store: %v, want ErrStorageFailed", err)
	}
}

// TestRaftLogReadOfDamagedEntryStopsTheReplicaAndItRecovers: an entry of
// the leader's log is damaged while it runs; raft reads it to catch up a
// follower. The read fails the store instead of raft's panic ending the
// process: the leader stops, reopens its log, finds the damage on
// loading (its verified prefix is kept, the replica recovers from its
// peers before voting), and every replica ends with every acknowledged
// write.
func TestRaftLogReadOfDamagedEntryStopsTheReplicaAndItRecovers(t *testing.T) {
	net := NewMemNetwork(7)
	defer net.Close()
	ds := startDiskHosts(t, net, newPromises())
	hosts := diskHostsOf(ds)
	acked := []string{}
	for i := range 3 {
		name := fmt.Sprint("before-", i)
		proposeUntil(t, hosts, 1, name)
		acked = append(acked, name)
	}
	waitFor(t, "a leader", func() bool { return leaderOf(hosts, 1) != nil })
	var lead, lag *diskHost
	for _, d := range ds {
		if st, _ := d.h.Status(1); st.IsLeader {
			lead = d
		} else if lag == nil {
			lag = d
		}
	}
	var others []uint64
	for _, d := range ds {
		if d != lag {
			others = append(others, d.id)
		}
	}
	net.Partition(others, []uint64{lag.id})
	// Entries appended from now on are read from Pebble, not from the
	// cache of recent entries (entrycache.go), which would hide the
	// damage below.
	for _, d := range ds {
		d.store.SetEntryCacheBytes(0)
	}
	var first Result
	for i := range 4 { // few: no snapshot compacts them away (testConfig)
		name := fmt.Sprint("during-", i)
		res, err := lead.h.Propose(1, []byte(name)).Wait(context.Background())
		if err != nil {
			t.Fatalf("write %s on the leader: %v", name, err)
		}
		if i == 0 {
			first = res
		}
		acked = append(acked, name)
	}
	// Damage the first entry the cut-off follower lacks, in the leader's
	// log, then let the follower ask for it.
	k := entryKey(1, first.Index)
	if err := lead.store.DB().Set(k, []byte("not a record"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	net.Heal()
	waitFor(t, "the leader's read of the damaged entry to fail its log", func() bool {
		return lead.h.StorageHealth().Fault != nil
	})
	waitFor(t, "the leader to reopen its log", func() bool {
		sh := lead.h.StorageHealth()
		return sh.Fault == nil && sh.Reopens > 0
	})
	last := proposeUntil(t, hosts, 1, "after")
	acked = append(acked, "after")
	waitFor(t, "every replica to apply every write", func() bool {
		for _, h := range hosts {
			if st, _ := h.Status(1); st.Applied < last.Index || st.Recovering {
				return false
			}
		}
		return true
	})
	if sent := lead.sentFailed.Load(); sent != 0 {
		t.Fatalf("the damaged replica sent %d raft messages while its log was failed", sent)
	}
	for _, d := range ds {
		items := d.sm.items()
		for _, name := range acked {
			if !slices.Contains(items, name) {
				t.Fatalf("replica %d lacks acknowledged write %q (holds %v)", d.id, name, items)
			}
		}
	}
}

// TestRaftPanicOnAFailedReadIsAStorageFault: raft panics when its storage
// fails a read it needs (here: committed entries a restarted replica
// applies one per Ready, one of them damaged after the log was loaded).
// The host takes that panic for the storage fault it is: the process goes
// on, the log is reopened and verified (a lone replica goes on with what
// verified), and the entries before the damage are applied.
func TestRaftPanicOnAFailedReadIsAStorageFault(t *testing.T) {
	fs := vfs.NewMem()
	open := func() (*pebble.DB, *FatalGuard, error) { return OpenPebble(fs, "db", nil) }
	start := func(sm *memSM, maxMsg uint64) (*Host, *Store) {
		db, g, err := open()
		if err != nil {
			t.Fatal(err)
		}
		s := NewStore(db, nil)
		s.SetReopen(g, open)
		cfg := testConfig(1, s, NewMemNetwork(1).Transport(1))
		cfg.SnapshotEntries, cfg.StorageRetry = 1000, 20*time.Millisecond
		cfg.MaxSizePerMsg = maxMsg
		h, err := NewHost(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.AddGroup(context.Background(), GroupConfig{ID: 1, Peers: []uint64{1}, Bootstrap: true, StateMachine: sm}); err != nil {
			t.Fatal(err)
		}
		return h, s
	}
	h, s := start(&memSM{}, 1<<20)
	var last Result
	for i := range 10 {
		last = proposeUntil(t, []*Host{h}, 1, fmt.Sprint("w", i))
	}
	h.Stop()
	closeQuietly(s.DB(), nil)

	// Restart with an empty state machine: raft hands the committed
	// entries again, from the log, a few bytes' worth per Ready.
	sm := &memSM{}
	h, s = start(sm, 1)
	defer func() { h.Stop(); closeQuietly(s.DB(), nil) }()
	h.Pause()
	if err := s.DB().Set(entryKey(1, last.Index), []byte("not a record"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	h.Resume()
	waitFor(t, "the failed read to fail the log", func() bool { return h.StorageHealth().Failures > 0 })
	waitFor(t, "the log to be reopened", func() bool {
		sh := h.StorageHealth()
		return sh.Fault == nil && sh.Reopens > 0
	})
	waitFor(t, "the entries before the damage to be applied", func() bool {
		st, _ := h.Status(1)
		return st.Applied >= last.Index-1
	})
	if err := h.Err(); err != nil {
		t.Fatalf("host stopped: %v", err)
	}
	if items := sm.items(); len(items) != 9 || items[8] != "w8" {
		t.Fatalf("applied %v, want w0..w8", items)
	}
}

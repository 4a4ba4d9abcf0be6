package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/consensus"
	"github.com/wisp-mq/wisp/stream"
)

// syncWatchFS counts the fsyncs of the write-ahead logs on a server's
// disk once armed, and cuts the power at the one a test chose: cut runs
// before that fsync, which (like every later one) the disk then ignores.
type syncWatchFS struct {
	vfs.FS
	armed func() bool
	at    int64 // the armed fsync (from 1) the power is cut before
	n     atomic.Int64
	fired atomic.Bool
	cut   func()
	mu    sync.Mutex
	seen  []string // what each armed fsync was, for the failure message
}

type syncWatchFile struct {
	vfs.File
	fs   *syncWatchFS
	name string
}

func (w *syncWatchFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return &syncWatchFile{File: f, fs: w, name: name}, nil
}

func (w *syncWatchFS) Create(name string) (vfs.File, error) {
	f, err := w.FS.Create(name)
	return w.wrap(name, f, err)
}

func (w *syncWatchFS) ReuseForWrite(oldname, newname string) (vfs.File, error) {
	f, err := w.FS.ReuseForWrite(oldname, newname)
	return w.wrap(newname, f, err)
}

func (w *syncWatchFS) OpenReadWrite(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := w.FS.OpenReadWrite(name, opts...)
	return w.wrap(name, f, err)
}

// before is called before each fsync of a write-ahead log.
func (f *syncWatchFile) before() {
	w := f.fs
	if w.fired.Load() || !w.armed() {
		return
	}
	n := w.n.Add(1)
	w.mu.Lock()
	w.seen = append(w.seen, filepath.Base(filepath.Dir(f.name)))
	w.mu.Unlock()
	if n == w.at && w.fired.CompareAndSwap(false, true) {
		w.cut()
	}
}

func (f *syncWatchFile) Sync() error                       { f.before(); return f.File.Sync() }
func (f *syncWatchFile) SyncData() error                   { f.before(); return f.File.SyncData() }
func (f *syncWatchFile) SyncTo(length int64) (bool, error) { f.before(); return f.File.SyncTo(length) }

// TestPowerLossDuringSnapshotInstall: a replica stopped while the others
// took enough messages to compact their logs past it comes back and
// receives the leader's snapshot with the stream beside it. Its power
// is cut at a point of the install the seed chooses (an fsync of its
// raft log or of its stream store, from the snapshot's record to the
// last batch of the stream). Restarted cut off from its peers, it must
// not hold part of the stream as though it held it whole: either it
// holds a state complete at its applied index, or it knows it lost
// state (recovering: it neither votes nor campaigns) and holds nothing
// it could serve. Once reconnected, every replica holds every
// acknowledged message at its sequence, the same on each.
func TestPowerLossDuringSnapshotInstall(t *testing.T) {
	seed, given := chaosEnv(t)
	seeds := []uint64{seed}
	if !given {
		// Cuts before the fsync of: the store's clear (1), the
		// first batch of messages (2), the second (6), the last batch
		// naming the applied index (5), what follows the install (20).
		seeds = []uint64{1, 2, 6, 5, 20}
	}
	for _, sd := range seeds {
		t.Run(fmt.Sprint("seed=", sd), func(t *testing.T) { powerLossDuringInstall(t, sd) })
	}
}

func powerLossDuringInstall(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	c := startChaosCluster(t, 3)
	_, js := jsConnect(t, c.urls())
	waitLong(t, "stream created", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SI", Subjects: []string{"si.>"}, Replicas: 3, AllowDirect: true})
		return err == nil
	})
	acked := publishAcked(t, js, "si", 0, 5)
	leader := chaosStreamLeader(t, js, "SI")
	var away *chaosServer
	for _, s := range c.servers {
		if s.name != leader {
			away = s
			break
		}
	}
	c.stop(away, false)
	// Enough for several store batches of the install (1024 messages
	// each) and for the others to compact their logs past the replica.
	const total = 2600
	for i, seq := range publishAsyncAcked(t, js, "si", 5, total-5) {
		acked[i] = seq
	}

	var running atomic.Bool
	down := make(chan struct{})
	w := &syncWatchFS{at: 1 + rng.Int64N(7)}
	w.armed = func() bool {
		// From the first byte of the stream received.
		return running.Load() && away.node.Transport().StateStats().Received > 0
	}
	w.cut = func() {
		c.isolate(away.index, true)
		away.fs.SetIgnoreSyncs(true)
		close(down)
	}
	away.wrapFS = func(fs vfs.FS) vfs.FS { w.FS = fs; return w }
	c.restart(away)
	away.wrapFS = nil
	running.Store(true)
	select {
	case <-down:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the power was never cut (%d fsyncs seen of the %d wanted: %v)", w.n.Load(), w.at, w.seen)
	}
	t.Logf("seed %d: power cut before fsync %d of the install (%v)", seed, w.at, w.seen)
	c.stop(away, true)
	// Back, but cut off from its peers: what it holds now is its own.
	// Its stream layer serves (direct gets, from this server's replica)
	// before its replication has started: what it holds then must be a
	// whole state, the one before the install or the one installed, or
	// nothing.
	var opened stream.StreamStats
	away.beforeReplication = func(l *streamLayers) {
		for _, st := range l.global().Stats().Streams {
			if st.Name == "SI" {
				opened = st
			}
		}
	}
	c.isolate(away.index, true)
	c.restart(away)
	away.beforeReplication = nil
	var last uint64
	for _, seq := range acked {
		last = max(last, seq)
	}
	t.Logf("%s's stream layer opened the stream with %d messages, %d..%d", away.name, opened.Messages, opened.FirstSeq, opened.LastSeq)
	switch {
	case opened.Messages == 0:
	case opened.Messages == 5 && opened.FirstSeq == 1 && opened.LastSeq == 5:
	case opened.Messages == last && opened.FirstSeq == 1 && opened.LastSeq == last:
	default:
		t.Fatalf("%s serves part of an install cut by a power loss: %d messages, %d..%d (the stream has %d)",
			away.name, opened.Messages, opened.FirstSeq, opened.LastSeq, last)
	}
	checkInstallState(t, away, last)

	c.isolate(away.index, false)
	checkAckedOnReplicas(t, c, "SI", acked)
	for i, seq := range publishAcked(t, js, "si", total, 10) {
		acked[i] = seq
	}
	checkAckedOnReplicas(t, c, "SI", acked)
}

// checkInstallState checks what a replica restarted after a power loss
// during an install holds once its group has opened, while no peer can
// reach it: the state from before the install (its raft log never
// recorded the snapshot), the state installed, or nothing, knowing it
// lost state (recovering: it neither votes nor campaigns).
func checkInstallState(t *testing.T, s *chaosServer, last uint64) {
	t.Helper()
	var gs consensus.GroupStatus
	var st stream.StreamStats
	waitLong(t, s.name+"'s replica to open", func() bool {
		for _, x := range s.layers.global().Stats().Streams {
			if x.Name == "SI" && x.Cluster != nil {
				st = x
			}
		}
		if st.Cluster == nil {
			return false
		}
		group, _ := strconv.ParseUint(strings.TrimPrefix(st.Cluster.RaftGroup, "S-"), 10, 64)
		var ok bool
		gs, ok = s.node.Host().Status(group)
		return ok
	})
	t.Logf("%s after the power loss: %+v; stream %d messages, %d..%d", s.name, gs, st.Messages, st.FirstSeq, st.LastSeq)
	switch {
	case gs.IsLeader:
		t.Fatalf("%s leads the stream alone", s.name)
	case st.Messages == 0 && gs.Recovering:
	case st.Messages == 5 && st.LastSeq == 5 && !gs.Recovering:
	case st.Messages == last && st.LastSeq == last && !gs.Recovering:
	default:
		t.Fatalf("%s holds %d messages (%d..%d) of %d, recovering %v", s.name, st.Messages, st.FirstSeq, st.LastSeq, last, gs.Recovering)
	}
}

// publishAsyncAcked publishes count messages subj.<i> from first, a few
// hundred in flight at a time, retrying each until acknowledged.
func publishAsyncAcked(t *testing.T, js jetstream.JetStream, subj string, first, count int) map[int]uint64 {
	t.Helper()
	acked := map[int]uint64{}
	todo := make([]int, 0, count)
	for i := first; i < first+count; i++ {
		todo = append(todo, i)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for len(todo) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d publishes never acknowledged", len(todo))
		}
		var retry []int
		for start := 0; start < len(todo); start += 256 {
			batch := todo[start:min(start+256, len(todo))]
			futs := make([]jetstream.PubAckFuture, len(batch))
			for k, i := range batch {
				f, err := js.PublishAsync(fmt.Sprintf("%s.%d", subj, i), []byte(fmt.Sprint(i)), jetstream.WithMsgID(fmt.Sprint(i)))
				if err != nil {
					retry = append(retry, i)
					continue
				}
				futs[k] = f
			}
			for k, f := range futs {
				if f == nil {
					continue
				}
				select {
				case ack := <-f.Ok():
					acked[batch[k]] = ack.Sequence
				case <-f.Err():
					retry = append(retry, batch[k])
				case <-time.After(10 * time.Second):
					retry = append(retry, batch[k])
				}
			}
		}
		todo = retry
	}
	return acked
}

package stream

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wisp-mq/wisp/stream/store"
)

var errInjectedApply = errors.New("injected: apply failed")

// failingApply is an Op whose Apply fails before changing anything, as an
// apply that meets an I/O error does; its Done is the wrapped Op's.
type failingApply struct{ store.Op }

func (failingApply) Apply(*store.Batch) error { return errInjectedApply }

// recoveryGate is the file store with two faults armed by the test: the
// next stream operation's apply fails (which faults the stream), and the
// first rebuild submitted afterwards waits at the gate until released.
type recoveryGate struct {
	Store
	failNext atomic.Bool
	hold     atomic.Bool
	entered  chan struct{} // closed when a rebuild reached the gate
	release  chan struct{} // closed to let it through
	closed   chan struct{} // closed once the store underneath is closed
	once     sync.Once
}

func (g *recoveryGate) Submit(op store.Op) {
	switch op.(type) {
	case *streamOp:
		if g.failNext.CompareAndSwap(true, false) {
			op = failingApply{op}
		}
	case *rebuildOp:
		if g.hold.CompareAndSwap(true, false) {
			close(g.entered)
			<-g.release
		}
	}
	g.Store.Submit(op)
}

// Snapshot is the store's: a stream's state is read from one.
func (g *recoveryGate) Snapshot() (store.Reader, func(), error) {
	return g.Store.(snapshotter).Snapshot()
}

func (g *recoveryGate) Close() error {
	err := g.Store.Close()
	g.once.Do(func() { close(g.closed) })
	return err
}

// TestCloseWaitsForFaultRecovery: a stream faulted by a failed apply is
// rebuilt by a recovery of its own (recoverFault), which reads the store
// (the stream's definition, its consumers). Closing the Service while it
// runs waits for it before closing the store: Pebble panics when read
// after its Close. The recovery is held between its start and its first
// use of the store; it is let go when Close has stopped new recoveries
// (and is waiting for this one), or when the store is closed, which is
// what happened before Close waited, and then ended the process with
// "pebble: closed".
func TestCloseWaitsForFaultRecovery(t *testing.T) {
	gate := &recoveryGate{entered: make(chan struct{}), release: make(chan struct{}), closed: make(chan struct{})}
	var opts Options
	dir := Options{StoreDir: t.TempDir()}
	opts.OpenStore = func(kind Storage, onReopen func()) (Store, error) {
		st, err := PebbleStores(dir)(kind, onReopen)
		if err != nil || kind == MemoryStorage {
			return st, err
		}
		gate.Store = st
		return gate, nil
	}
	h := newHarnessWith(t, opts)
	h.create(Config{Name: "R", Subjects: []string{"r.>"}})
	for i := 0; i < 3; i++ {
		if a := h.pub("r.a", "x"); a.Error != nil {
			t.Fatal(a.Error)
		}
	}
	var cr consumerInfoResponse
	if e := h.b.api(t, "CONSUMER.CREATE.R.C", map[string]any{"config": map[string]any{
		"durable_name": "C", "ack_policy": "explicit"}}, &cr); e != nil {
		t.Fatal(e)
	}
	s := h.svc.lookup("R")
	svc := h.svc

	gate.failNext.Store(true)
	gate.hold.Store(true)
	// The max-age timer's operation: nobody waits for it, so the only
	// rebuild is the recovery's.
	s.onExpiryTimer()
	select {
	case <-gate.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the failed apply started no recovery")
	}

	closeReleasing(t, svc, gate.release, gate.closed, svc.recoveries.isStopped)
	h.svc = nil
	s.mu.RLock()
	faulted := s.faulted
	s.mu.RUnlock()
	if faulted {
		t.Fatal("Close returned before the recovery rebuilt the stream")
	}
}

// heldWriter holds its first write until released.
type heldWriter struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	n       int
}

func (w *heldWriter) Write(p []byte) (int, error) {
	w.once.Do(func() {
		close(w.entered)
		<-w.release
	})
	w.n += len(p)
	return len(p), nil
}

// TestCloseWaitsForReplicaStateWrite: a replica's state written for a
// peer (WriteState, on replication's transport goroutine) reads the
// store from a snapshot while it writes. Closing the Service meanwhile
// stops it at its next write and waits for it before closing the store;
// before, the store was closed under it, and its next read ended the
// process with "pebble: closed".
func TestCloseWaitsForReplicaStateWrite(t *testing.T) {
	gate := &recoveryGate{closed: make(chan struct{})}
	var opts Options
	dir := Options{StoreDir: t.TempDir()}
	opts.OpenStore = func(kind Storage, onReopen func()) (Store, error) {
		st, err := PebbleStores(dir)(kind, onReopen)
		if err != nil || kind == MemoryStorage {
			return st, err
		}
		gate.Store = st
		return gate, nil
	}
	h := newHarnessWith(t, opts)
	h.create(Config{Name: "W", Subjects: []string{"w"}})
	// Incompressible and past two of the archive's 1 MiB blocks, so that
	// the stream is still being read after its first write.
	rng := rand.New(rand.NewPCG(1, 2))
	payload := make([]byte, 8<<10)
	for i := 0; i < 300; i++ {
		for j := range payload {
			payload[j] = byte(rng.Uint32())
		}
		if a := h.pub("w", string(payload)); a.Error != nil {
			t.Fatal(a.Error)
		}
	}
	svc := h.svc
	r := newReplica(svc.lookup("W"), svc.file, 1)
	defer r.Close()
	w := &heldWriter{entered: make(chan struct{}), release: make(chan struct{})}
	written := make(chan error, 1)
	go func() {
		_, err := r.WriteState(w)
		written <- err
	}()
	select {
	case <-w.entered:
	case err := <-written:
		t.Fatalf("the state was written whole before its first write returned: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the state was never written")
	}
	closeReleasing(t, svc, w.release, gate.closed, svc.stateWrites.isStopped)
	h.svc = nil
	select {
	case err := <-written:
		if !errors.Is(err, errLayerClosing) {
			t.Fatalf("state written while the layer closed: %v, want it cut short", err)
		}
	default:
		t.Fatal("Close returned while the state was still being written from its store")
	}
}

// closeReleasing closes svc while the background work it must wait for
// is held; the work is let go (release closed) once Close has stopped
// new work (stopped), or once the store is closed, whichever is first,
// so that a Close that does not wait lets it read a closed store.
func closeReleasing(t *testing.T, svc *Service, release chan struct{}, storeClosed <-chan struct{}, stopped func() bool) {
	t.Helper()
	go func() {
		defer close(release)
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) && !stopped() {
			select {
			case <-storeClosed:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	closed := make(chan error, 1)
	go func() { closed <- svc.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("close: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return")
	}
}

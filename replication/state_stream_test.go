package replication

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/wisp-mq/wisp/consensus"
)

// seedSM is a consensus.StateStreamer whose state is large but whose
// memory is small: each applied entry holds an 8-byte seed that stands
// for a block of blockSize pseudo-random bytes. WriteState writes every
// block out in full and RestoreState reads them back, checking each byte,
// so the state crossing the network is blocks × blockSize bytes.
type seedSM struct {
	mu      sync.Mutex
	applied uint64
	seeds   []uint64
	// restores counts states installed through RestoreState.
	restores atomic.Int64
}

const blockSize = 1 << 20

// fillBlock writes seed's block into p (len blockSize): 4 KiB of
// xorshift output, different per seed, repeated with its position (cheap
// enough under the race detector).
func fillBlock(p []byte, seed uint64) {
	x := seed | 1
	for i := 0; i < 4096; i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(p[i:], x)
	}
	for i := 4096; i < len(p); i += 4096 {
		copy(p[i:i+4096], p[:4096])
		binary.LittleEndian.PutUint64(p[i:], uint64(i))
	}
}

func (m *seedSM) Applied() uint64 { m.mu.Lock(); defer m.mu.Unlock(); return m.applied }
func (m *seedSM) Apply(ents []consensus.Entry) ([]any, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range ents {
		m.applied = e.Index
		if len(e.Data) == 8 {
			m.seeds = append(m.seeds, binary.BigEndian.Uint64(e.Data))
		}
	}
	return nil, nil
}
func (m *seedSM) Snapshot() ([]byte, error) { return []byte("seeds"), nil }
func (m *seedSM) Restore(data []byte, index uint64) error {
	if len(data) != 0 {
		return errors.New("a streamed state machine's snapshot holds no state")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applied, m.seeds = index, nil
	return nil
}

// WriteState writes a count, then each block in full.
func (m *seedSM) WriteState(w io.Writer) (uint64, error) {
	m.mu.Lock()
	index, seeds := m.applied, append([]uint64(nil), m.seeds...)
	m.mu.Unlock()
	var head [16]byte
	binary.BigEndian.PutUint64(head[:], uint64(len(seeds)))
	if _, err := w.Write(head[:8]); err != nil {
		return 0, err
	}
	block := make([]byte, blockSize)
	for _, s := range seeds {
		binary.BigEndian.PutUint64(head[:], s)
		fillBlock(block, s)
		if _, err := w.Write(head[:8]); err != nil {
			return 0, err
		}
		// In pieces, as a state machine writing records would.
		for off := 0; off < len(block); off += 100_000 {
			if _, err := w.Write(block[off:min(off+100_000, len(block))]); err != nil {
				return 0, err
			}
		}
	}
	return index, nil
}

func (m *seedSM) RestoreState(r io.Reader, index uint64) error {
	var head [8]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint64(head[:])
	var seeds []uint64
	want, got := make([]byte, blockSize), make([]byte, blockSize)
	for range n {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return err
		}
		s := binary.BigEndian.Uint64(head[:])
		fillBlock(want, s)
		if _, err := io.ReadFull(r, got); err != nil {
			return err
		}
		if !bytes.Equal(want, got) {
			return fmt.Errorf("block of seed %d differs", s)
		}
		seeds = append(seeds, s)
	}
	if _, err := r.Read(head[:1]); err != io.EOF {
		return errors.New("bytes after the last block")
	}
	m.mu.Lock()
	m.applied, m.seeds = index, seeds
	m.mu.Unlock()
	m.restores.Add(1)
	return nil
}

func (m *seedSM) count() int { m.mu.Lock(); defer m.mu.Unlock(); return len(m.seeds) }

// streamCluster is three hosts a, b, c running group 9 on seedSMs over a
// routeNet with the server's frame limit and a bounded queue per route.
type streamCluster struct {
	net   *routeNet
	hosts []*consensus.Host
	trs   []*Transport
	sms   []*seedSM
	spool string // c's
}

func newStreamCluster(t *testing.T) *streamCluster {
	const maxFrame = 4 << 20
	sc := &streamCluster{net: newRouteNet(maxFrame, 6<<20), spool: t.TempDir()}
	names := []string{"a", "b", "c"}
	var peers []uint64
	for _, n := range names {
		peers = append(peers, NodeID(n))
	}
	for _, name := range names {
		db, err := pebble.Open("db", &pebble.Options{FS: vfs.NewMem(), Logger: consensus.NewFatalGuard(nil)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		tr := NewTransport(sc.net.end(t, name), name, maxFrame, nil)
		tr.Learn(names...)
		if name == "c" {
			if err := tr.SetSpoolDir(sc.spool); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(tr.Close)
		cfg := consensus.DefaultConfig()
		cfg.ID, cfg.Store, cfg.Transport = NodeID(name), consensus.NewStore(db, nil), tr
		cfg.TickInterval = 20 * time.Millisecond
		cfg.SnapshotEntries, cfg.KeepEntries = 8, 2
		cfg.MaxSizePerMsg = maxFrame / 4
		h, err := consensus.NewHost(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(h.Stop)
		tr.Attach(h)
		sm := &seedSM{}
		if err := h.AddGroup(context.Background(), consensus.GroupConfig{ID: 9, Peers: peers, Bootstrap: true, StateMachine: sm}); err != nil {
			t.Fatal(err)
		}
		sc.hosts, sc.trs, sc.sms = append(sc.hosts, h), append(sc.trs, tr), append(sc.sms, sm)
	}
	return sc
}

// cut partitions c from a and b, or heals it.
func (sc *streamCluster) cut(on bool) {
	sc.trs[0].SetBlocked("c", on)
	sc.trs[1].SetBlocked("c", on)
	sc.trs[2].SetBlocked("a", on)
	sc.trs[2].SetBlocked("b", on)
}

// grow commits n blocks while c is cut off, so that c can only catch up
// through a snapshot.
func (sc *streamCluster) grow(t *testing.T, n int) {
	sc.cut(true)
	for i := range n {
		var seed [8]byte
		binary.BigEndian.PutUint64(seed[:], uint64(1000+i))
		proposeOn(t, sc.hosts[:2], 9, seed[:])
	}
}

// waitCaughtUp waits until c holds what a holds.
func (sc *streamCluster) waitCaughtUp(t *testing.T, blocks int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for n := sc.sms[2].count(); n < blocks || n != sc.sms[0].count(); n = sc.sms[2].count() {
		if time.Now().After(deadline) {
			t.Fatalf("c holds %d of %d blocks; state received %d bytes", n, blocks, sc.trs[2].state.received.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// spoolFiles lists what is left in c's spool directory.
func (sc *streamCluster) spoolFiles(t *testing.T) []string {
	ents, err := os.ReadDir(sc.spool)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestStreamedStateFarLargerThanAChunkStaysBounded: a follower cut off
// while the group's state grew to 50 MB catches up through a snapshot
// whose state is streamed beside raft's message: it arrives whole and
// verified, while no sender ever had more than a window of it
// unacknowledged and no chunk was larger than the chunk bound. The
// receiver's file is gone once installed.
func TestStreamedStateFarLargerThanAChunkStaysBounded(t *testing.T) {
	sc := newStreamCluster(t)
	const blocks = 50
	sc.grow(t, blocks)
	sc.cut(false)
	sc.waitCaughtUp(t, blocks)

	rx := &sc.trs[2].state
	if rx.received.Load() < blocks*blockSize {
		t.Fatalf("c received %d bytes of state: want the whole %d", rx.received.Load(), blocks*blockSize)
	}
	if rx.peakChunk.Load() > stateChunkMax {
		t.Fatalf("c wrote a chunk of %d bytes: over the bound %d", rx.peakChunk.Load(), stateChunkMax)
	}
	var sent int64
	for _, tr := range sc.trs[:2] {
		sent += tr.state.sent.Load()
		if p := tr.state.peakInFlight.Load(); p > stateWindow+stateChunkMax {
			t.Fatalf("a sender had %d bytes unacknowledged: over the window %d", p, stateWindow+stateChunkMax)
		}
	}
	if sent < blocks*blockSize || sc.sms[2].restores.Load() == 0 {
		t.Fatalf("sent %d bytes of state, %d installed", sent, sc.sms[2].restores.Load())
	}
	waitFor(t, "c's received states removed", func() bool { return len(sc.spoolFiles(t)) == 0 })
}

// TestStreamedStateRestartsAfterTheReceiverRestarts: the receiving
// server's transport restarts part way through a transfer (what a
// server restart does to it): the chunks after the restart do not follow
// anything it holds, it refuses them, the sender reports the snapshot
// failed and raft sends it again, from the first byte, and the follower
// catches up. No partial file is left behind.
func TestStreamedStateRestartsAfterTheReceiverRestarts(t *testing.T) {
	sc := newStreamCluster(t)
	const blocks = 30
	sc.grow(t, blocks)
	// c's transport restarts once 8 MiB of the first transfer arrived.
	old := sc.trs[2]
	restarted := make(chan *Transport, 1)
	go func() {
		deadline := time.Now().Add(3 * time.Minute)
		for old.state.received.Load() < 8<<20 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		old.Close()
		tr := NewTransport(sc.net.ends["c"], "c", 4<<20, nil)
		tr.Learn("a", "b", "c")
		if err := tr.SetSpoolDir(sc.spool); err != nil {
			t.Error(err)
		}
		tr.Attach(sc.hosts[2])
		restarted <- tr
	}()
	sc.cut(false)
	var tr *Transport
	select {
	case tr = <-restarted:
	case <-time.After(3 * time.Minute):
		t.Fatal("the transfer never got under way")
	}
	t.Cleanup(tr.Close)
	sc.waitCaughtUp(t, blocks)
	var failed int64
	for _, s := range sc.trs[:2] {
		failed += s.state.failed.Load()
	}
	if failed == 0 {
		t.Fatal("no transfer failed: the restart came too late to test anything")
	}
	if tr.state.received.Load() < blocks*blockSize {
		t.Fatalf("the restarted transport received %d bytes: want a whole transfer of %d", tr.state.received.Load(), blocks*blockSize)
	}
	waitFor(t, "c's received states removed", func() bool { return len(sc.spoolFiles(t)) == 0 })
}

func FuzzDecodeStateChunk(f *testing.F) {
	f.Add(appendStateChunk(nil, &stateChunk{group: 9, id: 1, offset: 0, data: []byte("abc")}))
	f.Add(appendStateChunk(nil, &stateChunk{group: 9, id: 1, offset: 3, final: true, index: 12, total: 5, crc: 7, data: []byte("de")}))
	f.Add([]byte{stateChunkVersion, 9, 1, 0, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeStateChunk(b)
		if err != nil {
			return
		}
		end := c.offset + uint64(len(c.data))
		if c.group == 0 || end > maxState || (c.final && c.total != end) || (!c.final && len(c.data) == 0) {
			t.Fatalf("accepted %+v", c)
		}
		if again, err := decodeStateChunk(appendStateChunk(nil, &c)); err != nil || again.offset != c.offset || !bytes.Equal(again.data, c.data) {
			t.Fatalf("re-encoded chunk decodes to %+v, %v", again, err)
		}
	})
}

func FuzzDecodeStateAck(f *testing.F) {
	f.Add(appendStateAck(nil, stateAck{group: 9, id: 1, received: 1 << 20, status: ackProgress}))
	f.Add(appendStateAck(nil, stateAck{group: 9, id: 2, received: 5, status: ackVerified}))
	f.Add([]byte{stateAckVersion, 9, 1, 0, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeStateAck(b)
		if err != nil {
			return
		}
		if a.status > ackRefused || a.received > maxState {
			t.Fatalf("accepted %+v", a)
		}
		if again, err := decodeStateAck(appendStateAck(nil, a)); err != nil || again != a {
			t.Fatalf("re-encoded ack decodes to %+v, %v", again, err)
		}
	})
}

// TestStateReceiverRefusesWhatDoesNotVerify: a chunk that does not follow
// the one before, and a state whose checksum does not match, are refused
// (the sender hears so) and leave no file; a part-received state whose
// sender went quiet is dropped when another transfer starts.
func TestStateReceiverRefusesWhatDoesNotVerify(t *testing.T) {
	net := newFakeNet()
	rx := NewTransport(net, "b", 1<<20, nil)
	dir := t.TempDir()
	if err := rx.SetSpoolDir(dir); err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	files := func() int {
		ents, _ := os.ReadDir(dir)
		return len(ents)
	}
	lastAck := func(peer string) stateAck {
		t.Helper()
		net.mu.Lock()
		defer net.mu.Unlock()
		fs := net.frames[peer]
		a, err := decodeStateAck(fs[len(fs)-1])
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	chunk := func(peer string, c stateChunk) error {
		return rx.receiveStateChunk(peer, NodeID(peer), appendStateChunk(nil, &c))
	}

	// A gap: refused, the file gone.
	if err := chunk("a", stateChunk{group: 9, id: 1, data: []byte("abc")}); err != nil || lastAck("a").status != ackProgress || files() != 1 {
		t.Fatalf("first chunk: %v, ack %+v, %d files", err, lastAck("a"), files())
	}
	if err := chunk("a", stateChunk{group: 9, id: 1, offset: 5, data: []byte("x")}); err == nil || lastAck("a").status != ackRefused || files() != 0 {
		t.Fatalf("a chunk after a gap: %v, ack %+v, %d files", err, lastAck("a"), files())
	}

	// A wrong checksum: refused, nothing kept for the snapshot message.
	if err := chunk("a", stateChunk{group: 9, id: 2, data: []byte("abc")}); err != nil {
		t.Fatal(err)
	}
	if err := chunk("a", stateChunk{group: 9, id: 2, offset: 3, final: true, index: 4, total: 5, crc: 1, data: []byte("de")}); err == nil || lastAck("a").status != ackRefused || files() != 0 {
		t.Fatalf("a bad checksum: %v, ack %+v, %d files", err, lastAck("a"), files())
	}

	// The right one: verified, kept for the snapshot message.
	sum := crc32.Checksum([]byte("abcde"), castagnoli)
	if err := chunk("a", stateChunk{group: 9, id: 3, data: []byte("abc")}); err != nil {
		t.Fatal(err)
	}
	if err := chunk("a", stateChunk{group: 9, id: 3, offset: 3, final: true, index: 4, total: 5, crc: sum, data: []byte("de")}); err != nil || lastAck("a") != (stateAck{9, 3, 5, ackVerified}) || files() != 1 {
		t.Fatalf("a good state: %v, ack %+v, %d files", err, lastAck("a"), files())
	}
	b := consensus.Batch{From: NodeID("a"), Messages: []consensus.Message{{Group: 9}}}
	if err := rx.takeState(&b); err != nil || b.Messages[0].State == nil || b.Messages[0].State.Index != 4 {
		t.Fatalf("the state for the snapshot message: %v %+v", err, b.Messages[0].State)
	}
	if got, _ := os.ReadFile(b.Messages[0].State.Path); string(got) != "abcde" {
		t.Fatalf("the received state holds %q", got)
	}
	os.Remove(b.Messages[0].State.Path)

	// A sender gone quiet part way: its part is dropped once stale.
	if err := chunk("a", stateChunk{group: 9, id: 4, data: []byte("abc")}); err != nil || files() != 1 {
		t.Fatal(err)
	}
	rx.rxMu.Lock()
	rx.rx[NodeID("a")].last = time.Now().Add(-2 * stateStale)
	rx.rxMu.Unlock()
	if err := chunk("c", stateChunk{group: 8, id: 1, data: []byte("xyz")}); err != nil || files() != 1 {
		t.Fatalf("another transfer: %v, %d files (want only its own)", err, files())
	}
}

package replication

import (
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/wisp-mq/wisp/consensus"
)

// Streaming a group's state to a peer (state_frame.go has the frames).
//
// The sender runs on the peer's snapshot goroutine (snapshot.go), off the
// host's loop: before raft's snapshot message it asks the host for the
// group's state (Host.WriteState), which the state machine writes into a
// stateWriter a piece at a time. The writer cuts it into chunks of at
// most stateChunkMax bytes and sends each once fewer than stateWindow bytes
// are unacknowledged; the last chunk carries the checksum and the index
// the state was written at. Only once the receiver acknowledged the whole
// state as verified does raft's message follow. Any failure (the route
// refuses a chunk for snapWait, no acknowledgement comes for snapWait,
// the receiver refuses) ends the transfer, raft is told the snapshot
// failed and sends it again, and the next transfer starts over from the
// first byte: a peer that restarted part way needs nothing of the old one.
//
// The receiver writes each chunk to a file in its spool directory as it
// arrives (one transfer per sending peer), and keeps the verified file
// for the sender's snapshot message, which it hands to the host with the
// file attached (consensus.Message.State); the host then owns the file.
// A chunk that does not follow the one before ends the transfer and
// removes its file; so does a new transfer from the same peer.
const (
	stateChunkMax = 256 << 10 // at most, and at most a frame
	stateWindow   = 4 * stateChunkMax
)

// StateChunkMax and StateWindow are the bounds a state transfer keeps to:
// the largest chunk, and the most bytes unacknowledged at once.
const (
	StateChunkMax = stateChunkMax
	StateWindow   = stateWindow
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errStateRefused: the receiver ended the transfer.
var errStateRefused = errors.New("the peer refused the state")

// StateStats are the counters of streamed state (StateStats).
type StateStats struct {
	// Sent and Received are state bytes.
	Sent, Received int64
	// PeakInFlight is the most state bytes a transfer this server sent had
	// unacknowledged; PeakChunk the largest chunk it received.
	PeakInFlight, PeakChunk int64
	// Transfers were sent whole; Failed ended early.
	Transfers, Failed int64
}

// StateStats returns the transport's counters of streamed state.
func (t *Transport) StateStats() StateStats {
	s := &t.state
	return StateStats{Sent: s.sent.Load(), Received: s.received.Load(), PeakInFlight: s.peakInFlight.Load(),
		PeakChunk: s.peakChunk.Load(), Transfers: s.transfers.Load(), Failed: s.failed.Load()}
}

// SnapshotStats count the raft snapshots this server's transport sent
// and received, of every group, for monitoring. A snapshot's bytes are
// its streamed state (if any) and its raft message.
type SnapshotStats struct {
	// Sent reached the peer whole (and, for a streamed group, the peer
	// verified its state); SendFailed ended early, and raft sends them
	// again. Sending are being sent now.
	Sent, SendFailed, Sending int64
	// Received arrived whole and were handed to raft; ReceiveFailed were
	// dropped on the way in (a chunk out of order, a state that does not
	// match its checksum or could not be written, a message without its
	// state). Receiving are being received now.
	Received, ReceiveFailed, Receiving int64
	BytesSent, BytesReceived           int64
}

// SnapshotStats returns the transport's counters of snapshots.
func (t *Transport) SnapshotStats() SnapshotStats {
	s := &t.snap
	st := SnapshotStats{Sent: s.sent.Load(), SendFailed: s.sendFailed.Load(), Sending: s.sending.Load(),
		Received: s.received.Load(), ReceiveFailed: s.receiveFailed.Load(),
		BytesSent: s.msgBytesSent.Load() + t.state.sent.Load(), BytesReceived: s.msgBytesReceived.Load() + t.state.received.Load()}
	// A state whose sender went quiet is kept a while (stateStale) but is
	// no longer being received.
	now := time.Now()
	t.rxMu.Lock()
	for _, a := range t.rx {
		if now.Sub(a.last) <= stateStale {
			st.Receiving++
		}
	}
	t.rxMu.Unlock()
	t.mu.Lock()
	st.Receiving += int64(len(t.asm))
	t.mu.Unlock()
	return st
}

// snapStats are the counters behind SnapshotStats.
type snapStats struct {
	sent, sendFailed, sending      atomic.Int64
	received, receiveFailed        atomic.Int64
	msgBytesSent, msgBytesReceived atomic.Int64 // of raft's messages; state bytes are in stateStats
}

// stateStats are counters of streamed state, for tests and monitoring.
type stateStats struct {
	sent, received atomic.Int64 // state bytes
	// peakInFlight is the most state bytes a sender had unacknowledged;
	// peakChunk the largest chunk a receiver wrote.
	peakInFlight, peakChunk atomic.Int64
	transfers, failed       atomic.Int64 // sent whole, and ended early
}

func storeMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// ackWatch is what a sender learns from its receiver's acks.
type ackWatch struct {
	received atomic.Uint64
	status   atomic.Uint32 // ackProgress until the end
	notify   chan struct{}
}

type ackKey struct {
	peer string
	id   uint64
}

// stateWriter is the io.Writer a state machine writes its state into.
type stateWriter struct {
	t          *Transport
	peer       string
	group, id  uint64
	chunk      int
	buf, frame []byte
	offset     uint64 // bytes sent before buf
	crc        hash.Hash32
	watch      *ackWatch
	err        error
}

func (w *stateWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), w.chunk-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == w.chunk {
			if w.err = w.flush(false, 0); w.err != nil {
				return n - len(p), w.err
			}
		}
	}
	return n, nil
}

// flush sends what buf holds as one chunk, once the window has room.
func (w *stateWriter) flush(final bool, index uint64) error {
	if err := w.waitAcked(w.offset + uint64(len(w.buf)) - min(w.offset+uint64(len(w.buf)), stateWindow)); err != nil {
		return err
	}
	w.crc.Write(w.buf)
	c := stateChunk{group: w.group, id: w.id, offset: w.offset, data: w.buf, final: final}
	if final {
		c.index, c.total, c.crc = index, w.offset+uint64(len(w.buf)), w.crc.Sum32()
	}
	w.frame = appendStateChunk(w.frame[:0], &c)
	if !w.t.sendChunk(w.peer, w.frame) {
		return fmt.Errorf("chunk at %d: the route refused it for %v", w.offset, w.t.snapWait)
	}
	w.offset += uint64(len(w.buf))
	w.t.state.sent.Add(int64(len(w.buf)))
	storeMax(&w.t.state.peakInFlight, int64(w.offset-min(w.offset, w.watch.received.Load())))
	w.buf = w.buf[:0]
	return nil
}

// waitAcked waits until the receiver holds at least n bytes, or refused,
// or said nothing for snapWait.
func (w *stateWriter) waitAcked(n uint64) error {
	timer := time.NewTimer(w.t.snapWait)
	defer timer.Stop()
	for {
		if w.watch.status.Load() == uint32(ackRefused) {
			return errStateRefused
		}
		if w.watch.received.Load() >= n {
			return nil
		}
		select {
		case <-w.watch.notify:
			timer.Reset(w.t.snapWait)
		case <-timer.C:
			return fmt.Errorf("no acknowledgement past %d bytes for %v", w.watch.received.Load(), w.t.snapWait)
		}
	}
}

// finish sends the last chunk and waits for the receiver's verdict.
func (w *stateWriter) finish(index uint64) error {
	if w.err != nil {
		return w.err
	}
	if err := w.flush(true, index); err != nil {
		return err
	}
	timer := time.NewTimer(w.t.snapWait)
	defer timer.Stop()
	for {
		switch byte(w.watch.status.Load()) {
		case ackVerified:
			return nil
		case ackRefused:
			return errStateRefused
		}
		select {
		case <-w.watch.notify:
		case <-timer.C:
			return fmt.Errorf("no verdict on the state for %v", w.t.snapWait)
		}
	}
}

// sendState streams group's state to peer ahead of its snapshot message.
func (t *Transport) sendState(peer string, group, id uint64) error {
	h := t.host.Load()
	if h == nil {
		return errors.New("no host attached")
	}
	chunk := min(stateChunkMax, t.maxFrame-stateChunkHead)
	if chunk <= 0 {
		return fmt.Errorf("a frame of %d bytes has no room for state", t.maxFrame)
	}
	key := ackKey{peer, id}
	watch := &ackWatch{notify: make(chan struct{}, 1)}
	t.mu.Lock()
	t.acks[key] = watch
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.acks, key)
		t.mu.Unlock()
	}()
	w := &stateWriter{t: t, peer: peer, group: group, id: id, chunk: chunk,
		buf: make([]byte, 0, chunk), crc: crc32.New(castagnoli), watch: watch}
	index, err := h.WriteState(group, w)
	if err == nil {
		err = w.finish(index)
	}
	if err != nil {
		t.state.failed.Add(1)
		return err
	}
	t.state.transfers.Add(1)
	return nil
}

// receiveStateAck hands an ack to the transfer it answers.
func (t *Transport) receiveStateAck(from string, payload []byte) error {
	a, err := decodeStateAck(payload)
	if err != nil {
		return err
	}
	t.mu.Lock()
	w := t.acks[ackKey{from, a.id}]
	t.mu.Unlock()
	if w == nil {
		return nil // a transfer that ended already
	}
	for {
		cur := w.received.Load()
		if a.received <= cur || w.received.CompareAndSwap(cur, a.received) {
			break
		}
	}
	if a.status != ackProgress {
		w.status.Store(uint32(a.status))
	}
	select {
	case w.notify <- struct{}{}:
	default:
	}
	return nil
}

// stateAssembly is the state being received from one peer.
type stateAssembly struct {
	group, id, received uint64
	f                   *os.File
	crc                 hash.Hash32
	last                time.Time // when a chunk last came
}

// stateStale is how long a received state, whole or part, is kept
// without news from its sender: a sender that restarted, or stopped
// sending to this server, never completes it.
const stateStale = time.Minute

// sweepLocked drops the states no sender has added to for stateStale;
// rxMu is held.
func (t *Transport) sweepLocked(now time.Time) {
	for k, a := range t.rx {
		if now.Sub(a.last) > stateStale {
			a.discard()
			delete(t.rx, k)
		}
	}
	for k, st := range t.rxDone {
		if now.Sub(st.at) > stateStale {
			os.Remove(st.Path)
			delete(t.rxDone, k)
		}
	}
}

// receivedState is a verified state awaiting its snapshot message.
type receivedState struct {
	consensus.SnapshotState
	at time.Time
}

// rxFailedLocked drops a state being received that will not complete,
// counting the transfer failed once; rxMu is held.
func (t *Transport) rxFailedLocked(a *stateAssembly) {
	t.snap.receiveFailed.Add(1)
	a.discard()
}

func (a *stateAssembly) discard() {
	name := a.f.Name()
	a.f.Close()
	os.Remove(name)
}

type rxKey struct{ from, group uint64 }

// receiveStateChunk writes a chunk from the server from (raft id id) to
// its transfer's file and acknowledges it.
func (t *Transport) receiveStateChunk(from string, id uint64, payload []byte) error {
	c, err := decodeStateChunk(payload)
	if err != nil {
		return err
	}
	status, err := t.writeStateChunk(id, &c)
	t.ack(from, stateAck{group: c.group, id: c.id, received: c.offset + uint64(len(c.data)), status: status})
	return err
}

func (t *Transport) writeStateChunk(from uint64, c *stateChunk) (byte, error) {
	t.rxMu.Lock()
	defer t.rxMu.Unlock()
	a := t.rx[from]
	now := time.Now()
	if c.offset == 0 {
		if a != nil { // the sender gave up on it and starts over
			t.rxFailedLocked(a)
			delete(t.rx, from)
		}
		t.sweepLocked(now)
		dir, err := t.spoolDir()
		if err != nil {
			t.snap.receiveFailed.Add(1)
			delete(t.rx, from)
			return ackRefused, err
		}
		f, err := os.CreateTemp(dir, "state-*")
		if err != nil {
			t.snap.receiveFailed.Add(1)
			delete(t.rx, from)
			return ackRefused, fmt.Errorf("receive state: %w", err)
		}
		a = &stateAssembly{group: c.group, id: c.id, f: f, crc: crc32.New(castagnoli)}
		t.rx[from] = a
	} else if a == nil || a.id != c.id || a.group != c.group || a.received != c.offset {
		if a != nil {
			t.rxFailedLocked(a)
			delete(t.rx, from)
		}
		return ackRefused, fmt.Errorf("%w: state chunk at %d does not follow what came before", errFrame, c.offset)
	}
	if _, err := a.f.Write(c.data); err != nil {
		t.rxFailedLocked(a)
		delete(t.rx, from)
		return ackRefused, fmt.Errorf("receive state: %w", err)
	}
	a.crc.Write(c.data)
	a.received += uint64(len(c.data))
	a.last = now
	t.state.received.Add(int64(len(c.data)))
	storeMax(&t.state.peakChunk, int64(len(c.data)))
	if !c.final {
		return ackProgress, nil
	}
	delete(t.rx, from)
	if a.crc.Sum32() != c.crc {
		t.rxFailedLocked(a)
		return ackRefused, fmt.Errorf("%w: state of %d bytes does not match its checksum", errFrame, a.received)
	}
	if err := a.f.Close(); err != nil {
		t.snap.receiveFailed.Add(1)
		os.Remove(a.f.Name())
		return ackRefused, fmt.Errorf("receive state: %w", err)
	}
	k := rxKey{from, c.group}
	if old := t.rxDone[k]; old != nil {
		os.Remove(old.Path)
	}
	t.rxDone[k] = &receivedState{consensus.SnapshotState{Path: a.f.Name(), Index: c.index}, now}
	return ackVerified, nil
}

// takeState attaches to a snapshot message of a streamed group the state
// received beside it; a message without one is dropped.
func (t *Transport) takeState(b *consensus.Batch) error {
	h := t.host.Load()
	for i := range b.Messages {
		m := &b.Messages[i]
		t.rxMu.Lock()
		k := rxKey{b.From, m.Group}
		st := t.rxDone[k]
		delete(t.rxDone, k)
		t.rxMu.Unlock()
		switch {
		case st != nil:
			m.State = &st.SnapshotState
		case h != nil && h.Streamed(m.Group):
			return fmt.Errorf("%w: snapshot of group %d came without its state", errFrame, m.Group)
		}
	}
	return nil
}

// ack answers a state chunk; an ack the route refuses is tried again for
// a while off the route's goroutine (the sender waits for it).
func (t *Transport) ack(to string, a stateAck) {
	frame := appendStateAck(nil, a)
	if t.net.Send(to, chanRaft, frame) == nil {
		return
	}
	go func() {
		deadline := time.Now().Add(t.snapWait)
		for wait := time.Millisecond; time.Now().Before(deadline); wait = min(2*wait, 50*time.Millisecond) {
			time.Sleep(wait)
			if t.net.Send(to, chanRaft, frame) == nil {
				return
			}
		}
	}()
}

// spoolDir is where received states are written: the directory set by
// SetSpoolDir, or one made under the system's temporary directory.
func (t *Transport) spoolDir() (string, error) {
	t.spoolMu.Lock()
	defer t.spoolMu.Unlock()
	if t.spool != "" {
		return t.spool, nil
	}
	dir, err := os.MkdirTemp("", "wisp-raft-state-")
	if err != nil {
		return "", fmt.Errorf("receive state: %w", err)
	}
	t.spool, t.spoolOwned = dir, true
	return dir, nil
}

// SetSpoolDir makes dir the directory received states are written to,
// removing any a previous run left there.
func (t *Transport) SetSpoolDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("replication: state spool: %w", err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "state-*"))
	for _, f := range old {
		_ = os.Remove(f)
	}
	t.spoolMu.Lock()
	t.spool, t.spoolOwned = dir, false
	t.spoolMu.Unlock()
	return nil
}

// Close removes what the transport received and holds still, and the
// spool directory if it made one.
func (t *Transport) Close() {
	t.rxMu.Lock()
	for k, a := range t.rx {
		a.discard()
		delete(t.rx, k)
	}
	for k, st := range t.rxDone {
		os.Remove(st.Path)
		delete(t.rxDone, k)
	}
	t.rxMu.Unlock()
	t.spoolMu.Lock()
	if t.spoolOwned {
		os.RemoveAll(t.spool)
		t.spool, t.spoolOwned = "", false
	}
	t.spoolMu.Unlock()
}

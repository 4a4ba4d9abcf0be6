package replication

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wisp-mq/wisp/consensus"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Transport carries a host's raft batches over the cluster's routes: it
// implements consensus.Transport, and hands what arrives to the host.
//
// The host sends one Batch per peer per loop iteration; Send encodes it
// into one frame (more if it exceeds MaxFrame) and queues each on the
// route to that server, never blocking (snapshots go apart, in chunks:
// snapshot.go): a route that is down or backed
// up refuses it, the frame is dropped and the host told the peer is
// unreachable, so its groups probe that peer instead of streaming to it.
// Raft retransmits what was lost. The route's own queue is the bounded
// per-peer queue: cluster messages may fill it only to half its limit.
type Transport struct {
	net      Network
	self     string
	selfID   uint64
	maxFrame int
	log      *slog.Logger

	host atomic.Pointer[consensus.Host]

	mu    sync.Mutex
	names map[uint64]string    // raft id → server name
	heard map[uint64]time.Time // last frame from each peer
	// block, for tests, names peers whose frames (both ways) are dropped,
	// as a partition would.
	block   map[string]bool
	lastLog time.Time
	snaps   map[string]*snapSender   // by peer (snapshot.go)
	asm     map[uint64]*snapAssembly // by sending peer's raft id
	snapID  uint64
	// snapWait is how long a snapshot chunk may wait for a busy route.
	snapWait time.Duration

	acks map[ackKey]*ackWatch // state transfers being sent (state_stream.go)

	// rxMu guards the states being received (state_stream.go), apart from
	// mu: writing a chunk to its file must not hold up Send.
	rxMu   sync.Mutex
	rx     map[uint64]*stateAssembly // by sending peer's raft id
	rxDone map[rxKey]*receivedState  // verified, awaiting raft's message

	spoolMu    sync.Mutex
	spool      string // where received states are written
	spoolOwned bool   // made by the transport, removed by Close

	state stateStats
	snap  snapStats // snapshots of every group (state_stream.go)

	// onSnapshot, for tests, sees every snapshot report.
	onSnapshot func(group, to uint64, ok bool)

	buf   []byte // Send's frame buffer; Send runs on the host's loop only
	beats []beat // Send's compact heartbeats (heartbeat.go)

	sent, dropped, malformed atomic.Int64
}

// NewTransport returns the transport of the server named self. maxFrame
// bounds the bytes of one frame (the server's limit on a cluster message).
func NewTransport(net Network, self string, maxFrame int, log *slog.Logger) *Transport {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Transport{
		net: net, self: self, selfID: NodeID(self), maxFrame: maxFrame, log: log,
		names: map[uint64]string{NodeID(self): self},
		heard: map[uint64]time.Time{},
		block: map[string]bool{},
		snaps: map[string]*snapSender{},
		asm:   map[uint64]*snapAssembly{},
		acks:  map[ackKey]*ackWatch{},

		rx:     map[uint64]*stateAssembly{},
		rxDone: map[rxKey]*receivedState{},

		snapWait: snapChunkWait,
	}
	net.Handle(chanRaft, t.receive)
	return t
}

// Attach hands inbound batches to h from now on.
func (t *Transport) Attach(h *consensus.Host) { t.host.Store(h) }

// Learn records the raft ids of servers by name, so that batches for them
// can be addressed.
func (t *Transport) Learn(names ...string) {
	t.mu.Lock()
	for _, n := range names {
		t.names[NodeID(n)] = n
	}
	t.mu.Unlock()
}

// Name returns the server name of a raft id, "" if unknown.
func (t *Transport) Name(id uint64) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.names[id]
}

// Heard returns when a frame last came from the server with raft id,
// zero if never.
func (t *Transport) Heard(id uint64) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.heard[id]
}

// SetBlocked drops every frame to and from peer while on (fault tests).
func (t *Transport) SetBlocked(peer string, on bool) {
	t.mu.Lock()
	t.block[peer] = on
	t.mu.Unlock()
}

// Stats returns frames sent, dropped on the way out, and malformed ones
// received.
func (t *Transport) Stats() (sent, dropped, malformed int64) {
	return t.sent.Load(), t.dropped.Load(), t.malformed.Load()
}

// ReportsSnapshots implements consensus.SnapshotReporter: every snapshot
// message's fate is reported to the host (snapshot.go).
func (t *Transport) ReportsSnapshots() {}

var _ consensus.SnapshotReporter = (*Transport)(nil)

// Send implements consensus.Transport.
func (t *Transport) Send(b consensus.Batch) {
	t.mu.Lock()
	peer, blocked := t.names[b.To], false
	if peer != "" {
		blocked = t.block[peer]
	}
	t.mu.Unlock()
	if peer == "" || blocked {
		for _, m := range b.Messages {
			if m.Raft.GetType() == pb.MsgSnap {
				t.reportSnapshot(m.Group, b.To, false)
			}
		}
		t.unreachable(b.To)
		return
	}
	// Plain heartbeats go in the last frame's heartbeat sections
	// (heartbeat.go), the rest as raft messages.
	// At most half a frame of them: any more go as messages.
	t.beats = t.beats[:0]
	maxBeats := t.maxFrame / (2 * beatRoom)
	for _, m := range b.Messages {
		if len(t.beats) == maxBeats {
			break
		}
		if bt, ok := compactBeat(m.Group, m.Raft, b.From, b.To); ok {
			t.beats = append(t.beats, bt)
		}
	}
	skipBeats := len(t.beats)
	// Room kept for the tail, whose queries and replies are few.
	tail := 16 + 20*(len(b.TermQueries)+2*len(b.TermReplies)) + beatRoom*len(t.beats)
	t.buf = appendFrameHead(t.buf[:0])
	countAt := len(t.buf)
	t.buf = append(t.buf, 0, 0, 0, 0, 0) // message count, patched below
	count := 0
	ok := true
	for _, m := range b.Messages {
		if m.Raft.GetType() == pb.MsgSnap {
			t.sendSnapshot(peer, m.Group, m.Raft)
			continue
		}
		if skipBeats > 0 {
			if _, ok := compactBeat(m.Group, m.Raft, b.From, b.To); ok {
				skipBeats--
				continue
			}
		}
		raw, err := proto.Marshal(m.Raft)
		if err != nil {
			t.log.Error("raft message does not encode", "group", m.Group, "err", err)
			continue
		}
		if 1+5+len(raw)+20+tail > t.maxFrame {
			t.log.Warn("raft message larger than a cluster frame: dropped", "group", m.Group, "type", m.Raft.GetType().String(), "bytes", len(raw))
			continue
		}
		if len(t.buf)+len(raw)+20+tail > t.maxFrame {
			patchCount(t.buf[countAt:], count)
			t.buf = appendFrameTail(t.buf, nil, nil)
			ok = t.sendFrame(peer) && ok
			t.buf = appendFrameHead(t.buf[:0])
			t.buf = append(t.buf, 0, 0, 0, 0, 0)
			count = 0
		}
		t.buf = appendMessage(t.buf, m.Group, raw)
		count++
	}
	if count > 0 || len(b.TermQueries) > 0 || len(b.TermReplies) > 0 || len(t.beats) > 0 {
		patchCount(t.buf[countAt:], count)
		t.buf = appendFrameTail(t.buf, b.TermQueries, b.TermReplies)
		if len(t.beats) > 0 {
			t.buf = appendBeats(t.buf, t.beats)
		}
		ok = t.sendFrame(peer) && ok
	}
	if !ok {
		t.unreachable(b.To)
	}
	if cap(t.buf) > 4<<20 {
		t.buf = nil // do not hold a large frame's buffer for ever
	}
}

// patchCount writes n as a 5-byte uvarint (padded with continuation
// bytes, which Uvarint reads as the same number).
func patchCount(dst []byte, n int) {
	v := uint64(n)
	for i := 0; i < 4; i++ {
		dst[i] = byte(v&0x7f) | 0x80
		v >>= 7
	}
	dst[4] = byte(v)
}

func (t *Transport) sendFrame(peer string) bool {
	if err := t.net.Send(peer, chanRaft, t.buf); err != nil {
		t.dropped.Add(1)
		return false
	}
	t.sent.Add(1)
	return true
}

func (t *Transport) unreachable(id uint64) {
	if h := t.host.Load(); h != nil {
		h.ReportUnreachable(id)
	}
}

// receive is the handler of raft frames.
func (t *Transport) receive(from string, payload []byte) {
	id := NodeID(from)
	t.mu.Lock()
	if t.block[from] {
		t.mu.Unlock()
		return
	}
	t.names[id] = from
	t.heard[id] = time.Now()
	t.mu.Unlock()
	var b consensus.Batch
	var err error
	switch {
	case len(payload) == 0:
		err = fmt.Errorf("%w: empty", errFrame)
	case payload[0] == stateChunkVersion:
		if err = t.receiveStateChunk(from, id, payload); err == nil {
			return
		}
	case payload[0] == stateAckVersion:
		if err = t.receiveStateAck(from, payload); err == nil {
			return
		}
	case payload[0] == chunkVersion:
		var whole bool
		if b, whole, err = t.receiveChunk(id, payload); err == nil && !whole {
			return
		}
		if err == nil {
			err = t.takeState(&b)
		}
		if err != nil {
			t.snap.receiveFailed.Add(1)
		} else {
			t.snap.received.Add(1)
		}
	default:
		b, err = decodeFrame(payload, id, t.selfID)
	}
	if err != nil {
		t.malformed.Add(1)
		t.mu.Lock()
		quiet := time.Since(t.lastLog) < time.Second
		if !quiet {
			t.lastLog = time.Now()
		}
		t.mu.Unlock()
		if !quiet {
			t.log.Warn("dropped a malformed raft frame", "from", from, "bytes", len(payload), "err", err)
		}
		return
	}
	b.To = t.selfID
	if h := t.host.Load(); h != nil {
		h.Receive(b)
	}
}

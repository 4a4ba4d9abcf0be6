package replication

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/wisp-mq/wisp/consensus"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Snapshots travel apart from the other raft messages, in chunks: a
// snapshot is a state machine's whole state and may be many times a
// frame. Each raft MsgSnap is encoded once and sent as a run of chunk
// frames on the raft channel:
//
//	version                 1 byte (chunkVersion)
//	group, id, total, offset  unsigned varints
//	the chunk's bytes       the rest of the frame
//
// id numbers the sender's snapshots; offset is where the chunk starts in
// the encoded message of total bytes. A route delivers in order, so the
// receiver appends each chunk to the one snapshot it is assembling from
// that sender, and hands the message to the host once it is whole; a
// chunk that does not follow (one was lost) ends the assembly, and raft
// sends the snapshot again.
//
// A group whose state is streamed (a replicated stream) has a small
// MsgSnap: its state goes first, to a file on the receiver, in chunks of
// their own with flow control (state_stream.go), and the MsgSnap follows
// only once the receiver verified it.
//
// Memory stays bounded: each peer has one sender goroutine, which sends
// one snapshot at a time and holds at most snapQueue more; each peer's
// receiver assembles one snapshot at a time, of at most maxSnapshot
// bytes. The sender paces itself to the route: a chunk refused because
// the route is busy is tried again for up to snapChunkWait, and only then
// is the snapshot reported failed. Every snapshot's fate goes to the host
// (Host.ReportSnapshot), so raft sends a failed one again at once instead
// of waiting on a follower that will never answer.
const (
	chunkVersion  = 2
	snapQueue     = 2
	snapChunkWait = 10 * time.Second // Transport.snapWait's default
	// maxSnapshot bounds a snapshot a receiver assembles.
	maxSnapshot = 1 << 30
)

// snapJob is one snapshot message to send.
type snapJob struct {
	group, to uint64
	raw       []byte
}

// snapSender sends one peer's snapshots; mu is the transport's.
type snapSender struct {
	queue   []snapJob
	running bool
}

// snapAssembly is the snapshot being received from one peer.
type snapAssembly struct {
	group, id, total uint64
	buf              []byte
}

// sendSnapshot queues a snapshot message for peer; called from Send.
func (t *Transport) sendSnapshot(peer string, group uint64, m *pb.Message) {
	raw, err := proto.Marshal(m)
	if err != nil {
		t.log.Error("raft snapshot does not encode", "group", group, "err", err)
		t.reportSnapshot(group, m.GetTo(), false)
		return
	}
	t.mu.Lock()
	s := t.snaps[peer]
	if s == nil {
		s = &snapSender{}
		t.snaps[peer] = s
	}
	if len(s.queue) >= snapQueue {
		t.mu.Unlock()
		t.dropped.Add(1)
		t.reportSnapshot(group, m.GetTo(), false)
		return
	}
	s.queue = append(s.queue, snapJob{group, m.GetTo(), raw})
	start := !s.running
	s.running = true
	t.mu.Unlock()
	if start {
		go t.runSnapshots(peer, s)
	}
}

// runSnapshots sends peer's queued snapshots, then ends.
func (t *Transport) runSnapshots(peer string, s *snapSender) {
	var buf []byte
	for {
		t.mu.Lock()
		if len(s.queue) == 0 {
			s.running = false
			t.mu.Unlock()
			return
		}
		job := s.queue[0]
		s.queue = s.queue[1:]
		t.snapID++
		id := t.snapID
		t.mu.Unlock()
		t.snap.sending.Add(1)
		ok := true
		if h := t.host.Load(); h != nil && h.Streamed(job.group) {
			if err := t.sendState(peer, job.group, id); err != nil {
				t.log.Warn("raft snapshot's state not sent: raft will send it again", "peer", peer, "group", job.group, "err", err)
				ok = false
			}
		}
		ok = ok && t.sendChunks(peer, job, id, &buf)
		t.snap.sending.Add(-1)
		if ok {
			t.snap.sent.Add(1)
		} else {
			t.snap.sendFailed.Add(1)
			t.log.Warn("raft snapshot not sent: raft will send it again", "peer", peer, "group", job.group, "bytes", len(job.raw))
		}
		t.reportSnapshot(job.group, job.to, ok)
	}
}

// chunkHead is room for a chunk frame's version and four varints.
const chunkHead = 1 + 4*binary.MaxVarintLen64

func (t *Transport) sendChunks(peer string, job snapJob, id uint64, buf *[]byte) bool {
	room := t.maxFrame - chunkHead
	if room <= 0 {
		return false
	}
	total := uint64(len(job.raw))
	for off := 0; off == 0 || off < len(job.raw); {
		n := min(room, len(job.raw)-off)
		b := append((*buf)[:0], chunkVersion)
		b = binary.AppendUvarint(b, job.group)
		b = binary.AppendUvarint(b, id)
		b = binary.AppendUvarint(b, total)
		b = binary.AppendUvarint(b, uint64(off))
		b = append(b, job.raw[off:off+n]...)
		*buf = b
		if !t.sendChunk(peer, b) {
			return false
		}
		t.snap.msgBytesSent.Add(int64(n))
		off += n
		if n == 0 {
			break
		}
	}
	return true
}

// sendChunk queues one chunk, waiting (briefly, repeatedly) while the
// route is busy, up to snapChunkWait.
func (t *Transport) sendChunk(peer string, b []byte) bool {
	deadline := time.Now().Add(t.snapWait)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		t.mu.Lock()
		blocked := t.block[peer]
		t.mu.Unlock()
		if blocked {
			t.dropped.Add(1)
			return false
		}
		if t.net.Send(peer, chanRaft, b) == nil {
			t.sent.Add(1)
			return true
		}
		if time.Now().After(deadline) {
			t.dropped.Add(1)
			return false
		}
		time.Sleep(wait)
	}
}

func (t *Transport) reportSnapshot(group, to uint64, ok bool) {
	if t.onSnapshot != nil {
		t.onSnapshot(group, to, ok)
	}
	if h := t.host.Load(); h != nil {
		h.ReportSnapshot(group, to, ok)
	}
}

// chunk is a decoded chunk frame.
type chunk struct {
	group, id, total, offset uint64
	data                     []byte // points into the frame
}

func decodeChunk(b []byte) (chunk, error) {
	var c chunk
	if len(b) == 0 || b[0] != chunkVersion {
		return c, fmt.Errorf("%w: not a snapshot chunk", errFrame)
	}
	r := &frameReader{b: b[1:]}
	c.group, c.id, c.total, c.offset = r.uvarint(), r.uvarint(), r.uvarint(), r.uvarint()
	switch {
	case r.err != nil:
		return c, r.err
	case c.group == 0:
		return c, fmt.Errorf("%w: snapshot chunk for group 0", errFrame)
	case c.total > maxSnapshot:
		return c, fmt.Errorf("%w: snapshot of %d bytes exceeds %d", errFrame, c.total, maxSnapshot)
	case c.offset > c.total || uint64(len(r.b)) > c.total-c.offset:
		return c, fmt.Errorf("%w: chunk at %d of %d bytes past the snapshot's %d", errFrame, c.offset, len(r.b), c.total)
	case len(r.b) == 0 && c.total != 0:
		return c, fmt.Errorf("%w: empty snapshot chunk", errFrame)
	}
	c.data = r.b
	return c, nil
}

// receiveChunk adds a chunk from peer id to its assembly; once whole, the
// snapshot message is returned as a batch for the host.
func (t *Transport) receiveChunk(from uint64, payload []byte) (consensus.Batch, bool, error) {
	c, err := decodeChunk(payload)
	if err != nil {
		return consensus.Batch{}, false, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.asm[from]
	if c.offset == 0 {
		a = &snapAssembly{group: c.group, id: c.id, total: c.total}
		t.asm[from] = a
	} else if a == nil || a.id != c.id || a.group != c.group || a.total != c.total || uint64(len(a.buf)) != c.offset {
		delete(t.asm, from)
		return consensus.Batch{}, false, fmt.Errorf("%w: snapshot chunk at %d does not follow what came before", errFrame, c.offset)
	}
	a.buf = append(a.buf, c.data...)
	t.snap.msgBytesReceived.Add(int64(len(c.data)))
	if uint64(len(a.buf)) < a.total {
		return consensus.Batch{}, false, nil
	}
	delete(t.asm, from)
	m := &pb.Message{}
	if err := proto.Unmarshal(a.buf, m); err != nil {
		return consensus.Batch{}, false, fmt.Errorf("%w: snapshot message: %v", errFrame, err)
	}
	if m.GetType() != pb.MsgSnap || m.GetFrom() != from {
		return consensus.Batch{}, false, fmt.Errorf("%w: chunks hold a %v from %d", errFrame, m.GetType(), m.GetFrom())
	}
	return consensus.Batch{From: from, To: t.selfID, Messages: []consensus.Message{{Group: a.group, Raft: m}}}, true, nil
}

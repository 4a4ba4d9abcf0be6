package replication

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/wisp-mq/wisp/consensus"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// A frame carries one consensus.Batch, or part of one, from one host to
// another as the payload of one cluster-internal message:
//
//	version                        1 byte (frameVersion)
//	n, then n × (group, size, raft message as protobuf)
//	n, then n × group              term queries
//	n, then n × (group, term)      term replies
//
// every number an unsigned varint. Sender and receiver are not in the
// frame: the route it arrived on names the sender, and it is for the host
// of the server it reached.
//
// A frame of version frameVersionBeats (a frame that carries heartbeats)
// goes on after the term replies with the heartbeats of idle groups, in
// a few bytes each instead of a raft message each (heartbeat.go):
//
//	n, then n × (group, term, commit)   heartbeats
//	n, then n × (group, term)           heartbeat responses
const (
	frameVersion      = 1
	frameVersionBeats = 5
)

var errFrame = errors.New("replication: malformed frame")

// appendFrameHead starts a frame in dst.
func appendFrameHead(dst []byte) []byte { return append(dst, frameVersion) }

// appendMessage appends one raft message as encoded elsewhere (raw).
func appendMessage(dst []byte, group uint64, raw []byte) []byte {
	dst = binary.AppendUvarint(dst, group)
	dst = binary.AppendUvarint(dst, uint64(len(raw)))
	return append(dst, raw...)
}

// appendFrameTail ends a frame: the term queries and replies.
func appendFrameTail(dst []byte, queries []uint64, replies []consensus.TermReply) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(queries)))
	for _, g := range queries {
		dst = binary.AppendUvarint(dst, g)
	}
	dst = binary.AppendUvarint(dst, uint64(len(replies)))
	for _, r := range replies {
		dst = binary.AppendUvarint(dst, r.Group)
		dst = binary.AppendUvarint(dst, r.Term)
	}
	return dst
}

// frameReader walks a frame's bytes; every read checks what is left, so
// no count or size in a hostile frame can make it allocate more than the
// frame's own length or read past it.
type frameReader struct {
	b   []byte
	err error
}

func (r *frameReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errFrame
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *frameReader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 1 {
		r.err = errFrame
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *frameReader) uint32() uint32 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 4 {
		r.err = errFrame
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

// count reads a count of items of at least min bytes each.
func (r *frameReader) count(min int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)/min) {
		r.err = errFrame
		return 0
	}
	return int(n)
}

func (r *frameReader) bytes() []byte {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) {
		r.err = errFrame
	}
	if r.err != nil {
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

// decodeFrame parses a frame into a Batch from host from to host to. Raft messages
// that claim another sender, and types that must never come over the
// network (local ones, and proposals, which Wisp's followers never
// forward), are left out. The batch owns its memory (nothing points into
// b).
func decodeFrame(b []byte, from, to uint64) (consensus.Batch, error) {
	batch := consensus.Batch{From: from}
	if len(b) == 0 || (b[0] != frameVersion && b[0] != frameVersionBeats) {
		return batch, fmt.Errorf("%w: unknown version", errFrame)
	}
	r := &frameReader{b: b[1:]}
	n := r.count(2)
	for i := 0; i < n && r.err == nil; i++ {
		group := r.uvarint()
		raw := r.bytes()
		if r.err != nil {
			break
		}
		m := &pb.Message{}
		if err := proto.Unmarshal(raw, m); err != nil {
			return batch, fmt.Errorf("%w: raft message: %v", errFrame, err)
		}
		if m.GetFrom() != from || group == 0 || raft.IsLocalMsg(m.GetType()) || m.GetType() == pb.MsgProp {
			continue
		}
		batch.Messages = append(batch.Messages, consensus.Message{Group: group, Raft: m})
	}
	n = r.count(1)
	for i := 0; i < n && r.err == nil; i++ {
		batch.TermQueries = append(batch.TermQueries, r.uvarint())
	}
	n = r.count(2)
	for i := 0; i < n && r.err == nil; i++ {
		g := r.uvarint()
		batch.TermReplies = append(batch.TermReplies, consensus.TermReply{Group: g, Term: r.uvarint()})
	}
	if b[0] == frameVersionBeats {
		decodeBeats(r, &batch, from, to)
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d bytes after the end", errFrame, len(r.b))
	}
	return batch, r.err
}

package replication

import (
	"encoding/binary"

	"github.com/wisp-mq/wisp/consensus"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Heartbeats of many groups between two hosts share a frame already (the
// host sends one batch per peer per loop iteration). What is left to save
// is their size: as raft messages, a heartbeat and its response cost
// about thirty bytes each, most of them the two 64-bit host ids that the
// route already names. An idle group's heartbeat needs only its group,
// term and commit index, and the response its group and term, so the
// transport sends those as varints in a section of the frame
// (frameVersionBeats, frame.go) and the receiver rebuilds the raft
// messages. Only plain heartbeats go this way: one carrying a read
// request's context, or anything raft might add, travels as a message.

// beat is one compact heartbeat (resp: its response, commit unused).
type beat struct {
	group, term, commit uint64
	resp                bool
}

// compactBeat reports whether m is a heartbeat (or response) from the
// batch's sender to its receiver holding nothing but a term and a commit
// index, and returns it as a beat.
func compactBeat(group uint64, m *pb.Message, from, to uint64) (beat, bool) {
	t := m.GetType()
	if (t != pb.MsgHeartbeat && t != pb.MsgHeartbeatResp) || m.GetFrom() != from || m.GetTo() != to || m.GetTerm() == 0 {
		return beat{}, false
	}
	if m.GetLogTerm() != 0 || m.GetIndex() != 0 || len(m.GetEntries()) != 0 || m.GetVote() != 0 ||
		m.GetSnapshot() != nil || m.GetReject() || m.GetRejectHint() != 0 || len(m.GetContext()) != 0 ||
		len(m.GetResponses()) != 0 || len(m.ProtoReflect().GetUnknown()) != 0 {
		return beat{}, false
	}
	if t == pb.MsgHeartbeatResp {
		if m.GetCommit() != 0 {
			return beat{}, false
		}
		return beat{group: group, term: m.GetTerm(), resp: true}, true
	}
	return beat{group: group, term: m.GetTerm(), commit: m.GetCommit()}, true
}

// beatRoom is the most bytes one beat takes in a frame.
const beatRoom = 3 * binary.MaxVarintLen64

// appendBeats appends the heartbeat sections and marks the frame (which
// starts at frame[0]) as one that has them.
func appendBeats(frame []byte, beats []beat) []byte {
	frame[0] = frameVersionBeats
	n := 0
	for _, b := range beats {
		if !b.resp {
			n++
		}
	}
	frame = binary.AppendUvarint(frame, uint64(n))
	for _, b := range beats {
		if !b.resp {
			frame = binary.AppendUvarint(frame, b.group)
			frame = binary.AppendUvarint(frame, b.term)
			frame = binary.AppendUvarint(frame, b.commit)
		}
	}
	frame = binary.AppendUvarint(frame, uint64(len(beats)-n))
	for _, b := range beats {
		if b.resp {
			frame = binary.AppendUvarint(frame, b.group)
			frame = binary.AppendUvarint(frame, b.term)
		}
	}
	return frame
}

// decodeBeats reads the heartbeat sections into batch as raft messages
// from host from to host to; beats of group 0 or term 0 (never sent) are
// left out.
func decodeBeats(r *frameReader, batch *consensus.Batch, from, to uint64) {
	n := r.count(3)
	for i := 0; i < n && r.err == nil; i++ {
		group, term, commit := r.uvarint(), r.uvarint(), r.uvarint()
		if r.err == nil && group != 0 && term != 0 {
			batch.Messages = append(batch.Messages, consensus.Message{Group: group, Raft: &pb.Message{
				Type: pb.MsgHeartbeat.Enum(), From: proto.Uint64(from), To: proto.Uint64(to),
				Term: proto.Uint64(term), Commit: proto.Uint64(commit)}})
		}
	}
	n = r.count(2)
	for i := 0; i < n && r.err == nil; i++ {
		group, term := r.uvarint(), r.uvarint()
		if r.err == nil && group != 0 && term != 0 {
			batch.Messages = append(batch.Messages, consensus.Message{Group: group, Raft: &pb.Message{
				Type: pb.MsgHeartbeatResp.Enum(), From: proto.Uint64(from), To: proto.Uint64(to),
				Term: proto.Uint64(term)}})
		}
	}
}

package consensus

import (
	"fmt"

	pb "go.etcd.io/raft/v3/raftpb"
)

// A leader steps the proposals one iteration took for a group into raft
// as one MsgProp holding all their entries, not one Propose each. Raft
// sends a follower new entries as soon as they are proposed, so 256
// proposals stepped one by one became 256 appends per follower, each
// marshalled, routed, stepped and answered on its own; under an
// asynchronous publisher that work delayed the leader's early send of
// the appends by milliseconds, so the followers' fsyncs no longer ran
// beside the leader's (docs/benchmarks.md). One MsgProp makes one append
// per follower and one answer. Nothing about durability changes: the
// entries are the same, written and acknowledged by the same rules.
type proposalBatch struct {
	entries []*pb.Entry
	seqs    []uint64
	bytes   uint64
}

// add queues a wrapped proposal and returns the bytes queued.
func (b *proposalBatch) add(seq uint64, data []byte) uint64 {
	b.entries = append(b.entries, &pb.Entry{Data: data})
	b.seqs = append(b.seqs, seq)
	b.bytes += uint64(len(data))
	return b.bytes
}

// reset empties the batch; raft keeps the entries' slice it was given,
// so the next batch starts a new one.
func (b *proposalBatch) reset() {
	b.entries, b.seqs, b.bytes = nil, b.seqs[:0], 0
}

// flushProposals steps every group's queued proposals. Called on the
// loop once the iteration's requests ran, before any Ready is taken.
func (h *Host) flushProposals() {
	for _, g := range h.groups {
		h.flushGroupProposals(g)
	}
}

// flushGroupProposals steps the group's queued proposals as one MsgProp;
// if raft drops them (a leadership transfer under way, the uncommitted
// limit) each fails with ErrDropped, as a single Propose's error would.
// A raft panic halts the group (halt.go), which fails them too.
func (h *Host) flushGroupProposals(g *group) {
	b := &g.batch
	if len(b.entries) == 0 {
		return
	}
	err := ErrLeadershipLost
	if g.rn != nil {
		m := &pb.Message{Type: pb.MsgProp.Enum(), From: new(h.cfg.ID), Entries: b.entries}
		h.guard(g, "propose", nil, func() { err = g.rn.Step(m) })
	}
	if err != nil {
		for _, seq := range b.seqs {
			if p := g.pending[seq]; p != nil {
				delete(g.pending, seq)
				p.finish(Result{}, fmt.Errorf("%w: %v", ErrDropped, err))
			}
		}
	}
	b.reset()
}

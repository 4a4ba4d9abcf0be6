package consensus

import pb "go.etcd.io/raft/v3/raftpb"

// outbox gathers one loop iteration's outbound traffic by peer, so that
// each peer gets one Batch however many groups spoke to it.
type outbox struct {
	from    uint64
	batches map[uint64]*Batch
	order   []uint64
}

func newOutbox(from uint64) *outbox {
	return &outbox{from: from, batches: make(map[uint64]*Batch)}
}

func (o *outbox) to(peer uint64) *Batch {
	b := o.batches[peer]
	if b == nil {
		b = &Batch{From: o.from, To: peer}
		o.batches[peer] = b
		o.order = append(o.order, peer)
	}
	return b
}

func (o *outbox) add(group uint64, m *pb.Message) {
	b := o.to(m.GetTo())
	b.Messages = append(b.Messages, Message{Group: group, Raft: m})
}

func (o *outbox) query(peer, group uint64) {
	b := o.to(peer)
	b.TermQueries = append(b.TermQueries, group)
}

func (o *outbox) reply(peer uint64, r TermReply) {
	b := o.to(peer)
	b.TermReplies = append(b.TermReplies, r)
}

// flush sends every batch, in the order peers were first addressed.
func (o *outbox) flush(t Transport) {
	for _, peer := range o.order {
		t.Send(*o.batches[peer])
	}
	o.batches = make(map[uint64]*Batch)
	o.order = o.order[:0]
}

package consensus

import (
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// recorder is a network endpoint that keeps what reaches it.
type recorder struct {
	id  uint64
	mu  sync.Mutex
	got []Batch
}

func (r *recorder) ID() uint64 { return r.id }
func (r *recorder) Receive(b Batch) {
	r.mu.Lock()
	r.got = append(r.got, b)
	r.mu.Unlock()
}
func (r *recorder) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.got) }

func testNet(t *testing.T, n int) (*MemNetwork, []*recorder) {
	net := NewMemNetwork(3)
	t.Cleanup(net.Close)
	var rs []*recorder
	for i := range n {
		r := &recorder{id: uint64(i + 1)}
		net.Attach(r)
		rs = append(rs, r)
	}
	return net, rs
}

func ping(net *MemNetwork, from, to uint64) {
	m := &pb.Message{Type: pb.MsgHeartbeat.Enum(), From: new(from), To: new(to), Term: new(uint64(1))}
	net.Transport(from).Send(Batch{From: from, To: to, Messages: []Message{{Group: 1, Raft: m}}})
}

func TestMemNetworkPartitions(t *testing.T) {
	net, rs := testNet(t, 5)
	reach := func(from, to uint64) bool {
		before := rs[to-1].count()
		ping(net, from, to)
		return rs[to-1].count() == before+1
	}
	net.Partition([]uint64{1, 2}, []uint64{3, 4, 5})
	if reach(1, 3) || reach(3, 1) || !reach(1, 2) || !reach(4, 5) {
		t.Fatal("majority/minority partition")
	}
	net.Partition([]uint64{1, 2, 3}, []uint64{3, 4, 5}) // 3 bridges
	if !reach(1, 3) || !reach(3, 5) || reach(1, 5) || reach(5, 2) {
		t.Fatal("bridge partition")
	}
	net.Heal()
	net.Cut(1, 2)
	if reach(1, 2) || !reach(2, 1) {
		t.Fatal("one-way cut")
	}
	net.Heal()
	if !reach(1, 2) || !reach(5, 1) {
		t.Fatal("heal")
	}
	net.Detach(2)
	if reach(1, 2) {
		t.Fatal("detached host reached")
	}
	// Delivered copies are decoded afresh: nothing is shared with the sender.
	got := rs[0].got[len(rs[0].got)-1].Messages[0].Raft
	if got.GetType() != pb.MsgHeartbeat || got.GetFrom() != 5 {
		t.Fatalf("decoded message %v", got)
	}
}

func TestMemNetworkRandomFaults(t *testing.T) {
	net, rs := testNet(t, 2)
	net.SetFaults(Faults{Drop: 0.3, Duplicate: 0.3})
	for range 1000 {
		ping(net, 1, 2)
	}
	st := net.Stats()
	if st.Dropped < 200 || st.Dropped > 400 || st.Duplicated < 150 {
		t.Fatalf("stats %+v", st)
	}
	if got := rs[1].count(); got != 1000-st.Dropped+st.Duplicated {
		t.Fatalf("delivered %d, stats %+v", got, st)
	}
	// Delay: batches arrive later, in some other order.
	net.SetFaults(Faults{MaxDelay: 20 * time.Millisecond})
	before := rs[1].count()
	for i := range 50 {
		m := &pb.Message{Type: pb.MsgHeartbeat.Enum(), From: new(uint64(1)), To: new(uint64(2)), Index: new(uint64(i))}
		net.Transport(1).Send(Batch{From: 1, To: 2, Messages: []Message{{Group: 1, Raft: m}}})
	}
	waitFor(t, "delayed batches", func() bool { return rs[1].count() == before+50 })
	rs[1].mu.Lock()
	defer rs[1].mu.Unlock()
	inOrder := true
	for i, b := range rs[1].got[before:] {
		inOrder = inOrder && b.Messages[0].Raft.GetIndex() == uint64(i)
	}
	if inOrder {
		t.Fatal("50 randomly delayed batches arrived in order")
	}
}

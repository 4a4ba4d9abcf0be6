package consensus

import (
	"math/rand/v2"
	"sync"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// MemNetwork is an in-memory network of hosts for tests, with faults the
// test controls: loss, duplication, delay (and so reordering), partitions
// of any shape (majority/minority, a bridge node, one-way links), healing.
// Every batch is encoded and decoded on the way, so hosts share no
// memory. Random choices come from the seed given to NewMemNetwork.
type MemNetwork struct {
	mu      sync.Mutex
	rng     *rand.Rand
	hosts   map[uint64]Receiver
	faults  Faults
	sides   [][]uint64         // partition: peers talk if they share a side
	blocked map[[2]uint64]bool // one-way cuts, from → to
	closed  bool
	stats   NetStats
}

// Faults are the random faults applied to every batch.
type Faults struct {
	Drop, Duplicate float64       // probabilities per batch
	MaxDelay        time.Duration // each batch is delayed by up to this; 0 delivers at once
}

// NetStats counts what the network did.
type NetStats struct {
	Sent, Delivered, Dropped, Duplicated, Cut int
}

// NewMemNetwork returns a network with no faults.
func NewMemNetwork(seed uint64) *MemNetwork {
	return &MemNetwork{
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		hosts:   make(map[uint64]Receiver),
		blocked: make(map[[2]uint64]bool),
	}
}

// memTransport is one host's end of the network.
type memTransport struct {
	n  *MemNetwork
	id uint64
}

// Transport returns the Transport for host id.
func (n *MemNetwork) Transport(id uint64) Transport { return memTransport{n, id} }

func (t memTransport) Send(b Batch) { t.n.send(b) }

// Receiver is a network endpoint: a *Host, or a test's recorder.
type Receiver interface {
	ID() uint64
	Receive(Batch)
}

// Attach connects a host: batches addressed to its id reach it.
func (n *MemNetwork) Attach(h Receiver) {
	n.mu.Lock()
	n.hosts[h.ID()] = h
	n.mu.Unlock()
}

// Detach disconnects a host (crashed): batches to it are lost.
func (n *MemNetwork) Detach(id uint64) {
	n.mu.Lock()
	delete(n.hosts, id)
	n.mu.Unlock()
}

// SetFaults replaces the random faults.
func (n *MemNetwork) SetFaults(f Faults) {
	n.mu.Lock()
	n.faults = f
	n.mu.Unlock()
}

// Partition splits the network into sides; two hosts talk only if some
// side holds both (a host on two sides is a bridge). Hosts on no side
// talk to nobody.
func (n *MemNetwork) Partition(sides ...[]uint64) {
	n.mu.Lock()
	n.sides = sides
	n.mu.Unlock()
}

// Cut blocks one direction of one link.
func (n *MemNetwork) Cut(from, to uint64) {
	n.mu.Lock()
	n.blocked[[2]uint64{from, to}] = true
	n.mu.Unlock()
}

// Heal removes partitions and cuts (random faults stay).
func (n *MemNetwork) Heal() {
	n.mu.Lock()
	n.sides = nil
	clear(n.blocked)
	n.mu.Unlock()
}

// Close stops all delivery, including delayed batches.
func (n *MemNetwork) Close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
}

// Stats returns the counters so far.
func (n *MemNetwork) Stats() NetStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

func (n *MemNetwork) connected(from, to uint64) bool {
	if n.blocked[[2]uint64{from, to}] {
		return false
	}
	if n.sides == nil {
		return true
	}
	for _, side := range n.sides {
		var f, t bool
		for _, id := range side {
			f = f || id == from
			t = t || id == to
		}
		if f && t {
			return true
		}
	}
	return false
}

func (n *MemNetwork) send(b Batch) {
	wire := encodeBatch(b)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stats.Sent++
	switch {
	case n.closed:
		return
	case !n.connected(b.From, b.To):
		n.stats.Cut++
		return
	case n.rng.Float64() < n.faults.Drop:
		n.stats.Dropped++
		return
	}
	copies := 1
	if n.rng.Float64() < n.faults.Duplicate {
		copies = 2
		n.stats.Duplicated++
	}
	for range copies {
		var d time.Duration
		if n.faults.MaxDelay > 0 {
			d = time.Duration(n.rng.Int64N(int64(n.faults.MaxDelay)))
		}
		if d == 0 {
			n.deliverLocked(wire)
			continue
		}
		time.AfterFunc(d, func() {
			n.mu.Lock()
			defer n.mu.Unlock()
			n.deliverLocked(wire)
		})
	}
}

// deliverLocked hands a decoded copy to the destination, if it is still
// attached and still reachable (a partition made meanwhile applies).
func (n *MemNetwork) deliverLocked(w wireBatch) {
	h := n.hosts[w.to]
	if n.closed || h == nil || !n.connected(w.from, w.to) {
		return
	}
	n.stats.Delivered++
	h.Receive(decodeBatch(w))
}

// wireBatch is a Batch with its raft messages encoded.
type wireBatch struct {
	from, to uint64
	groups   []uint64
	msgs     [][]byte
	queries  []uint64
	replies  []TermReply
}

func encodeBatch(b Batch) wireBatch {
	w := wireBatch{from: b.From, to: b.To, queries: b.TermQueries, replies: b.TermReplies}
	for _, m := range b.Messages {
		raw, err := proto.Marshal(m.Raft)
		if err != nil {
			continue
		}
		w.groups = append(w.groups, m.Group)
		w.msgs = append(w.msgs, raw)
	}
	return w
}

func decodeBatch(w wireBatch) Batch {
	b := Batch{From: w.from, To: w.to, TermQueries: append([]uint64(nil), w.queries...), TermReplies: append([]TermReply(nil), w.replies...)}
	for i, raw := range w.msgs {
		m := &pb.Message{}
		if proto.Unmarshal(raw, m) != nil {
			continue
		}
		b.Messages = append(b.Messages, Message{Group: w.groups[i], Raft: m})
	}
	return b
}

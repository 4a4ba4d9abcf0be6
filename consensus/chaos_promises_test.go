package consensus

import (
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	pb "go.etcd.io/raft/v3/raftpb"
)

// promises records, per host and group, what the host told its peers that
// raft assumes it will never forget: the votes it granted and the log
// positions it acknowledged. After a power loss, whatever survived on disk
// must still cover them; a host that sends before it persists, or that
// does not persist its vote, fails this check at the first power loss
// that falls in the gap (the crash points inside Ready handling put one
// there on purpose).
type promises struct {
	mu    sync.Mutex
	votes map[[2]uint64][2]uint64 // (host, group) → highest (term, vote) granted
	acks  map[[2]uint64][2]uint64 // (host, group) → highest (term, index) acknowledged
}

func newPromises() *promises {
	return &promises{votes: map[[2]uint64][2]uint64{}, acks: map[[2]uint64][2]uint64{}}
}

// record notes the promises in a batch a host sends.
func (p *promises) record(b Batch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range b.Messages {
		r := m.Raft
		k := [2]uint64{b.From, m.Group}
		switch {
		case r.GetReject():
		case r.GetType() == pb.MsgVoteResp:
			if v := p.votes[k]; r.GetTerm() > v[0] {
				p.votes[k] = [2]uint64{r.GetTerm(), r.GetTo()}
			}
		case r.GetType() == pb.MsgAppResp:
			if a := p.acks[k]; r.GetTerm() > a[0] || (r.GetTerm() == a[0] && r.GetIndex() > a[1]) {
				p.acks[k] = [2]uint64{r.GetTerm(), r.GetIndex()}
			}
		}
	}
}

// forget drops a host's promises: its disk was damaged or replaced on
// purpose, which the recovery rule (recovery.go) covers instead.
func (p *promises) forget(host uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := range p.votes {
		if k[0] == host {
			delete(p.votes, k)
		}
	}
	for k := range p.acks {
		if k[0] == host {
			delete(p.acks, k)
		}
	}
}

// check opens a stopped host's database read-only and returns what it
// forgot of its promises.
func (p *promises) check(host uint64, fs vfs.FS, groups []uint64) []string {
	db, err := pebble.Open("db", &pebble.Options{FS: fs, Logger: quietPebble{}, ReadOnly: true})
	if err != nil {
		return []string{fmt.Sprintf("node %d: open after power loss: %v", host, err)}
	}
	defer db.Close()
	store := NewStore(db, nil)
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, g := range groups {
		k := [2]uint64{host, g}
		v, hasVote := p.votes[k]
		a, hasAck := p.acks[k]
		if !hasVote && !hasAck {
			continue
		}
		st, rep, err := store.load(g)
		if err != nil || rep.Damaged {
			out = append(out, fmt.Sprintf("node %d group %d: log after power loss: %v %v", host, g, err, rep.Problems))
			continue
		}
		term, vote, last := st.hard.term, st.hard.vote, st.hard.lastIndex
		if hasVote && (term < v[0] || (term == v[0] && vote != v[1])) {
			out = append(out, fmt.Sprintf("node %d group %d: granted its vote to %d in term %d, but its disk says term %d vote %d", host, g, v[1], v[0], term, vote))
		}
		if hasAck && (term < a[0] || (term == a[0] && last < a[1])) {
			out = append(out, fmt.Sprintf("node %d group %d: acknowledged index %d in term %d, but its disk holds term %d through %d", host, g, a[1], a[0], term, last))
		}
	}
	return out
}

// promiseTransport records the promises in what a host sends, then sends.
type promiseTransport struct {
	Transport
	p *promises
}

func (t promiseTransport) Send(b Batch) {
	t.p.record(b)
	t.Transport.Send(b)
}

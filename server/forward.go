package server

import (
	"sync"

	"github.com/wisp-mq/wisp/protocol"
)

// forwards collects, while one message is fanned out, the routes it must
// cross and, per route, the queue groups whose member was picked on that
// server. Each route then gets one RMSG. A publishing connection keeps its
// forwards for reuse, so forwarding allocates nothing per message.
type forwards struct {
	peers []forwardTo
	owner *conn // nil for one taken from forwardsPool
	// busy is set while a fan-out fills the owner's forwards: a fan-out
	// nested in it (an account import routing the message on) takes its
	// own from the pool.
	busy bool
}

type forwardTo struct {
	r      *route
	acc    *account
	queues []string
}

var forwardsPool = sync.Pool{New: func() any { return new(forwards) }}

// add records that sub's route wants the message (for group queue, or as
// a plain subscriber when queue is ""), and returns the forwards in use,
// taking them from the publisher (or the pool) on first use.
func (fw *forwards) add(from *conn, sub *subscription, queue string) *forwards {
	if fw == nil {
		if from != nil && (from.fwd == nil || !from.fwd.busy) {
			if from.fwd == nil {
				from.fwd = &forwards{owner: from}
			}
			fw = from.fwd
			fw.busy = true
		} else {
			fw = forwardsPool.Get().(*forwards)
		}
	}
	for i := range fw.peers {
		if p := &fw.peers[i]; p.r == sub.peer {
			if queue != "" {
				p.queues = append(p.queues, queue)
			}
			return fw
		}
	}
	if n := len(fw.peers); n < cap(fw.peers) {
		fw.peers = fw.peers[:n+1]
	} else {
		fw.peers = append(fw.peers, forwardTo{})
	}
	p := &fw.peers[len(fw.peers)-1]
	p.r, p.acc, p.queues = sub.peer, sub.acc, p.queues[:0]
	if queue != "" {
		p.queues = append(p.queues, queue)
	}
	return fw
}

// send queues one RMSG per collected route and resets the forwards. It
// reports whether any route took the message.
func (fw *forwards) send(from *conn, m *message) bool {
	sent := false
	for i := range fw.peers {
		p := &fw.peers[i]
		if p.r.registered.Load() && p.r.enqueue(from, p.acc, m, p.queues) {
			sent = true
		}
		p.r, p.acc = nil, nil
	}
	fw.peers = fw.peers[:0]
	fw.busy = false
	if fw.owner == nil {
		forwardsPool.Put(fw)
	}
	return sent
}

// enqueue queues m as an RMSG for this route: staged in the producer's read
// like any delivery, or directly under the route's lock. A route past three
// quarters of its limit holds the producer back as a slow subscriber does
// (at most 5 ms per read), so that a burst faster than the link slows the
// publisher instead of cutting the route; one that stays stuck is cut at
// its limit.
func (r *route) enqueue(from *conn, acc *account, m *message, queues []string) bool {
	d := r.c
	size := len(m.data)
	if from != nil {
		if st := from.stageFor(d); st != nil {
			st.buf = protocol.AppendRMsg(st.buf, acc.nameBytes, m.subject, m.reply, queues, m.hdrLen, m.data)
			st.loose++
			st.bytes += int64(size)
			from.reads.outMsgs++
			from.reads.outBytes += int64(size)
			return true
		}
	}
	o := &d.out
	o.mu.Lock()
	if o.closing {
		o.mu.Unlock()
		return false
	}
	ch := o.reserve(msgOverhead + 16 + len(acc.nameBytes) + len(m.subject) + len(m.reply) + len(m.data) + queuesLen(queues))
	before := len(ch.b)
	ch.b = protocol.AppendRMsg(ch.b, acc.nameBytes, m.subject, m.reply, queues, m.hdrLen, m.data)
	ok, stalled := o.queued(int64(len(ch.b)-before), 1, int64(size))
	if !ok {
		return false
	}
	if from != nil {
		if stalled && from != d {
			from.stallOn = d
		}
		from.flushSet[d] = struct{}{}
		from.reads.outMsgs++
		from.reads.outBytes += int64(size)
	} else {
		d.srv.stats.outMsgs.Add(1)
		d.srv.stats.outBytes.Add(int64(size))
		o.kickWriter()
	}
	return true
}

func queuesLen(queues []string) int {
	n := 0
	for _, q := range queues {
		n += len(q) + 1
	}
	return n
}

// hasField reports whether the blank-separated list holds name, without
// allocating.
func hasField(list []byte, name string) bool {
	for len(list) > 0 {
		var f []byte
		f, list = protocol.NextField(list)
		if string(f) == name {
			return true
		}
	}
	return false
}

package server

import (
	"math/rand/v2"
	"sync/atomic"

	"github.com/wisp-mq/wisp/sublist"
)

// message is one published message on its way to subscribers. Its slices
// point into the publisher's read buffer and live only during routing.
type message struct {
	subject, reply []byte
	data           []byte // header block followed by payload
	hdrLen         int
	hops           int // imports crossed so far (at most one)
}

// subscription is one SUB of a client, or an internal subscription of an
// in-process user such as the stream layer (conn nil, fn set).
type subscription struct {
	conn    *conn
	fn      func(subject, reply, hdr, data []byte)
	acc     *account // whose sublist holds it
	subject string
	queue   string
	sid     []byte

	// Set on the internal subscriptions that imports make (see account.go).
	stream  *streamImport
	service *serviceImport

	// deny, when set, lists denied subjects that this wildcard
	// subscription overlaps: matching messages are not delivered.
	deny atomic.Pointer[[]pattern]

	// max is the total number of messages the subscription receives
	// before it ends, those delivered before it was set included; 0 means
	// no limit. Written under conn.out.mu, read by producers without it.
	max atomic.Int64
	// delivered counts the messages queued for the client, guarded by
	// conn.out.mu: a direct enqueue counts its message there, and a
	// producer's staged read adds its count per subscription once, at the
	// hand-over (stage.go). Internal subscriptions (conn nil) count nothing.
	delivered int64
	closed    atomic.Bool
}

// setMax gives sub a total of max deliveries, those already made included,
// and reports whether it stays (false when it has had max already). Runs
// on sub's connection, under the lock its count is kept under.
func (sub *subscription) setMax(max int64) bool {
	o := &sub.conn.out
	o.mu.Lock()
	defer o.mu.Unlock()
	sub.max.Store(max)
	return sub.delivered < max
}

// route delivers m to every plain subscriber and to one member of each queue
// group, and reports whether anyone got it. from is the publishing
// connection, or nil for an in-process publish.
func (s *Server) route(from *conn, r *sublist.Result[*subscription], m *message) bool {
	delivered := false
	for _, sub := range r.Plain {
		if from != nil && sub.conn == from && !from.opts.echo() {
			continue
		}
		if sub.deliver(from, m) {
			delivered = true
		}
	}
	for i := range r.Groups {
		if deliverToGroup(from, r.Groups[i].Members, m) {
			delivered = true
		}
	}
	return delivered
}

// deliverToGroup gives m to one member of a queue group, starting at a
// random member and moving on past any that is closing.
func deliverToGroup(from *conn, members []*subscription, m *message) bool {
	n := len(members)
	if n == 0 {
		return false
	}
	start := rand.IntN(n)
	for i := 0; i < n; i++ {
		sub := members[(start+i)%n]
		if from != nil && sub.conn == from && !from.opts.echo() {
			continue
		}
		if sub.deliver(from, m) {
			return true
		}
	}
	return false
}

// deliver hands m to one subscription and reports whether it was taken.
func (sub *subscription) deliver(from *conn, m *message) bool {
	if sub.closed.Load() {
		return false
	}
	if sub.stream != nil || sub.service != nil {
		return sub.acc.srv.deliverImport(from, sub, m)
	}
	if deny := sub.deny.Load(); deny != nil && anyMatch(*deny, m.subject) {
		return false
	}
	if sub.fn != nil {
		var hdr []byte
		if m.hdrLen > 0 {
			hdr = m.data[:m.hdrLen]
		}
		sub.fn(m.subject, m.reply, hdr, m.data[m.hdrLen:])
		return true
	}
	d := sub.conn
	size, ok := sub.enqueue(from, m)
	if !ok {
		return false
	}
	if len(m.reply) > 0 {
		if ps := d.perms.Load(); ps != nil && ps.resp != nil {
			d.replies.grant(m.reply, ps.resp) // allow_responses
		}
	}
	if from != nil {
		from.reads.outMsgs++
		from.reads.outBytes += int64(size)
	} else {
		d.srv.stats.outMsgs.Add(1)
		d.srv.stats.outBytes.Add(int64(size))
		d.out.kickWriter()
	}
	return true
}

func (sub *subscription) unsubscribe() {
	if sub.conn != nil {
		sub.conn.removeSub(sub)
	}
}

// enqueue queues m for sub's client: staged in the producer's read when it
// can be, or else directly under the subscriber's lock. A subscription with
// a max always goes directly, so that its count is checked and taken in
// one step (exact with any number of producers); whatever the producer has
// staged for the same client is handed over first, to keep its order.
func (sub *subscription) enqueue(from *conn, m *message) (size int, ok bool) {
	d := sub.conn
	if from != nil {
		if sub.max.Load() == 0 {
			if st := from.stageFor(d); st != nil {
				return st.add(sub, m), true
			}
		} else if st := from.staged(d); st != nil {
			from.handOver(st)
		}
	}
	size, ok, stalled := d.out.enqueueMsg(sub, m)
	if ok && from != nil {
		if stalled && from != d {
			from.stallOn = d
		}
		from.flushSet[d] = struct{}{}
	}
	return size, ok
}

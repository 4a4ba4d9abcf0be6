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

	// routed is set for a message that came over a route: it goes to
	// local client subscriptions only, and to the queue groups in queues
	// (an RMSG's blank-separated list), which the sending server picked.
	routed bool
	queues []byte
	// local keeps the message on this server: set for a stream consumer's
	// delivery (Deliver), which is matched on the deliver subject but shows
	// the stored subject, a pair a routed message cannot carry.
	local bool
}

// subscription is one SUB of a client, or an internal subscription of an
// in-process user such as the stream layer (conn nil, fn set).
type subscription struct {
	conn *conn
	// peer is set on the subscriptions that stand for another server's
	// interest (interest.go); conn is then that route's connection.
	peer    *route
	fn      func(subject, reply, hdr, data []byte)
	acc     *account // whose sublist holds it
	subject string
	queue   string
	sid     []byte

	// Set on the internal subscriptions that imports make (see account.go).
	stream  *streamImport
	service *serviceImport

	// sys serves an internal subscription of the system plane (system.go)
	// in place of fn; routable ones take messages from other servers, and
	// their interest is sent to them.
	sys      sysHandler
	routable bool

	// withFrom serves an in-process subscription in place of fn and is
	// also given the publishing connection (SubscribeClient,
	// internal_client.go).
	withFrom func(from *conn, subject, reply, hdr, data []byte)

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

// fanOut delivers m to every plain subscriber and to one member of each queue
// group, and reports whether anyone got it. from is the publishing
// connection, or nil for an in-process publish.
//
// Subscriptions that stand for another server's interest are not delivered
// to here: the routes they name are collected, with the queue groups whose
// member was picked on that server, and each such route gets the message
// once, at the end (forward.go). A message that came over a route goes to
// local client subscriptions only, so it never crosses a second route.
func (s *Server) fanOut(from *conn, r *sublist.Result[*subscription], m *message) bool {
	delivered := false
	var fw *forwards
	for _, sub := range r.Plain {
		if sub.peer != nil {
			if !m.routed && !m.local {
				fw = fw.add(from, sub, "")
			}
			continue
		}
		if from != nil && sub.conn == from && !from.opts.echo() {
			continue
		}
		if m.routed && sub.conn == nil && !sub.routable {
			continue // in-process and import subscriptions serve local clients
		}
		if sub.deliver(from, m) {
			delivered = true
		}
	}
	for i := range r.Groups {
		g := &r.Groups[i]
		if m.routed && !hasField(m.queues, g.Name) {
			continue
		}
		if deliverToGroup(from, g, m, &fw) {
			delivered = true
		}
	}
	if fw != nil && fw.send(from, m) {
		delivered = true
	}
	return delivered
}

// deliverToGroup gives m to one member of a queue group, starting at a
// random member and moving on past any that is closing. A member that
// stands for another server takes it by adding the group to that server's
// forward.
func deliverToGroup(from *conn, g *sublist.Group[*subscription], m *message, fw **forwards) bool {
	members := g.Members
	n := len(members)
	if n == 0 {
		return false
	}
	start := rand.IntN(n)
	for i := 0; i < n; i++ {
		sub := members[(start+i)%n]
		if sub.peer != nil {
			if m.routed || m.local || !sub.peer.registered.Load() || sub.closed.Load() {
				continue
			}
			*fw = (*fw).add(from, sub, g.Name)
			return true
		}
		if from != nil && sub.conn == from && !from.opts.echo() {
			continue
		}
		if m.routed && sub.conn == nil {
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
	if sub.conn == nil {
		if sub.sys != nil {
			sub.sys(from, m.subject, m.reply, m.data[m.hdrLen:])
			return true
		}
		var hdr []byte
		if m.hdrLen > 0 {
			hdr = m.data[:m.hdrLen]
		}
		if sub.withFrom != nil {
			sub.withFrom(from, m.subject, m.reply, hdr, m.data[m.hdrLen:])
			return true
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

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

	max       atomic.Int64 // auto-unsubscribe after this many; 0 = never
	delivered atomic.Int64
	closed    atomic.Bool
}

// setMax arms auto-unsubscribe and reports whether the subscription stays
// (false when it has already delivered max messages).
func (s *subscription) setMax(max int64) bool {
	s.max.Store(max)
	return s.delivered.Load() < max
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
	if max := sub.max.Load(); max > 0 {
		n := sub.delivered.Add(1)
		if n > max {
			return false
		}
		if n == max {
			defer sub.unsubscribe()
		}
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
	var size int
	if st := stageFor(from, d); st != nil {
		size = st.add(sub.sid, m)
	} else {
		var ok, stalled bool
		if size, ok, stalled = d.out.enqueueMsg(sub.sid, m); !ok {
			return false
		}
		if from != nil {
			if stalled && from != d {
				from.stallOn = d
			}
			from.flushSet[d] = struct{}{}
		}
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

// stageFor returns the producer's staging slot for d, or nil for an
// in-process publish or when d is not staged in this read.
func stageFor(from, d *conn) *stagedOut {
	if from == nil {
		return nil
	}
	return from.stageFor(d)
}

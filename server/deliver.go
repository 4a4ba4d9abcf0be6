package server

import (
	"fmt"

	"github.com/wisp-mq/wisp/sublist"
)

// Deliver routes a message to the subscribers of deliver (a pull request's
// inbox, a push consumer's deliver subject) while they see it under
// subject, the subject it was published on: how JetStream consumers hand
// out stored messages. hdr is a complete NATS header block or nil. Safe
// for concurrent use.
func (s *Server) Deliver(deliver, subject, reply string, hdr, data []byte) error {
	return s.deliverIn(s.global, deliver, subject, reply, hdr, data)
}

func (s *Server) deliverIn(acc *account, deliver, subject, reply string, hdr, data []byte) error {
	d := []byte(deliver)
	if !sublist.ValidPublishSubject(d) {
		return fmt.Errorf("%w: %q", ErrInvalidSubject, deliver)
	}
	m := internalMessage([]byte(subject), reply, hdr, data)
	m.local = true // shown under subject, matched on deliver: not for routes
	if acc.isResponse(d) {
		// A pull request that came through a service import (another
		// account's view of this account's JetStream API): its messages
		// go back to the requester's inbox, as any response does.
		if r := acc.takeResponse(d); r != nil {
			m.hops = 1
			s.fanOut(nil, r.to.sl.Match([]byte(r.reply)), &m)
		}
		return nil
	}
	r := acc.sl.Match(d)
	s.fanOut(nil, r, &m)
	if s.cl != nil && s.hasPeerSub(r) {
		s.deliverRemote(acc, r, deliver, subject, reply, hdr, data) // deliver_remote.go
	}
	return nil
}

// hasPeerSub reports whether r holds another server's plain interest.
func (s *Server) hasPeerSub(r *sublist.Result[*subscription]) bool {
	for _, sub := range r.Plain {
		if sub.peer != nil {
			return true
		}
	}
	return false
}

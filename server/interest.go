package server

import (
	"cmp"
	"slices"

	"github.com/wisp-mq/wisp/protocol"
)

// Interest propagation. Each server tells every route which subjects its
// clients subscribe to, per account: RS+ when a subject gains its first
// plain subscription, RS- when it loses its last; for a queue group, RS+
// with the group's member count (its weight) whenever that changes, and
// RS- when the group is gone. A route that (re)connects gets the whole set
// at once (sendAllInterest), under the same lock as the deltas, so it never
// misses one or sees one twice.
//
// Only client subscriptions travel. In-process subscriptions (the stream
// layer) and those that account imports make stay local: each server
// applies its own imports to its own clients' messages, and the stream
// layer of one server serves that server's clients.

// accountList lists every account, the global one first.
func (s *Server) accountList() []*account {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []*account{s.global}
	for _, a := range s.accounts {
		if a != s.global {
			out = append(out, a)
		}
	}
	return out
}

// interestKey is one subject (and queue group) of an account.
type interestKey struct{ subject, queue string }

// propagates reports whether sub's interest goes to other servers.
func (sub *subscription) propagates() bool {
	return sub.conn != nil && sub.conn.peer == nil && sub.stream == nil && sub.service == nil
}

// subAdded counts a new client subscription and tells the routes.
func (cl *cluster) subAdded(sub *subscription) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	m := cl.interest[sub.acc]
	if m == nil {
		m = make(map[interestKey]int32)
		cl.interest[sub.acc] = m
	}
	k := interestKey{sub.subject, sub.queue}
	n := m[k] + 1
	m[k] = n
	if sub.queue == "" && n > 1 {
		return // the routes know already
	}
	cl.broadcast(func(b []byte) []byte {
		return protocol.AppendRSub(b, []byte(sub.acc.name), []byte(sub.subject), []byte(sub.queue), int64(n))
	})
}

// subRemoved uncounts a client subscription and tells the routes.
func (cl *cluster) subRemoved(sub *subscription) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	m := cl.interest[sub.acc]
	k := interestKey{sub.subject, sub.queue}
	n, ok := m[k]
	if !ok {
		return
	}
	n--
	if n > 0 {
		m[k] = n
		if sub.queue != "" {
			cl.broadcast(func(b []byte) []byte {
				return protocol.AppendRSub(b, []byte(sub.acc.name), []byte(sub.subject), []byte(sub.queue), int64(n))
			})
		}
		return
	}
	delete(m, k)
	if len(m) == 0 {
		delete(cl.interest, sub.acc)
	}
	cl.broadcast(func(b []byte) []byte {
		return protocol.AppendRUnsub(b, []byte(sub.acc.name), []byte(sub.subject), []byte(sub.queue))
	})
}

// broadcast queues one encoded line for every registered route. Called
// with mu held, which keeps deltas in order with sendAllInterest.
func (cl *cluster) broadcast(enc func([]byte) []byte) {
	if len(cl.routes) == 0 {
		return
	}
	line := enc(make([]byte, 0, 128))
	for _, r := range cl.routes {
		r.c.out.enqueue(line)
		r.c.out.kickWriter()
	}
}

// sendAllInterest queues the whole local interest for a route that has
// just registered, and, in each account, this server's interest in the
// responses to service requests it routed elsewhere ("_R_.<tag>.>").
// Called with mu held; accounts were listed before it was taken.
func (cl *cluster) sendAllInterest(r *route, accounts []*account) {
	var b []byte
	resp := []byte(cl.s.respSubjectPrefix() + ">")
	for _, acc := range accounts {
		b = protocol.AppendRSub(b, acc.nameBytes, resp, nil, 0)
	}
	for acc, m := range cl.interest {
		for k, n := range m {
			b = protocol.AppendRSub(b, []byte(acc.name), []byte(k.subject), []byte(k.queue), int64(n))
			if len(b) > 32<<10 {
				r.c.out.enqueue(b)
				b = b[:0]
			}
		}
	}
	if len(b) > 0 {
		r.c.out.enqueue(b)
	}
	r.c.out.kickWriter()
}

// addInterest records an RS+ of the peer: a subscription in the account's
// sublist that stands for the peer, one per member for a queue group so
// that picking a member at random spreads messages over the members of
// every server alike.
func (r *route) addInterest(op *protocol.Op) {
	r.interestMu.Lock()
	defer r.interestMu.Unlock()
	acc := r.account(op.Account)
	if acc == nil {
		r.hold(string(op.Account), interestKey{string(op.Subject), string(op.Queue)}, op.Weight)
		return
	}
	r.setInterest(acc, string(op.Subject), string(op.Queue), op.Weight)
}

// setInterest makes the peer's subscriptions for one subject (and queue
// group, weight members) of acc. Called with interestMu held.
func (r *route) setInterest(acc *account, subject, queue string, weight int64) {
	k := routeSubKey{acc.name, subject, queue}
	want := 1
	if queue != "" {
		want = int(min(weight, 1<<16))
	}
	subs := r.interest[k]
	for len(subs) < want {
		sub := &subscription{conn: r.c, peer: r, acc: acc, subject: k.subject, queue: k.queue}
		if err := acc.sl.Insert(k.subject, k.queue, sub); err != nil {
			r.cl.s.log.Warn("route sent an invalid subject", "server", r.remoteName(), "subject", k.subject)
			return
		}
		subs = append(subs, sub)
	}
	for len(subs) > want {
		sub := subs[len(subs)-1]
		subs = subs[:len(subs)-1]
		sub.closed.Store(true)
		_ = acc.sl.Remove(sub.subject, sub.queue, sub)
	}
	r.interest[k] = subs
	r.numSubs.Store(int32(len(r.interest)))
}

// removeInterest records an RS- of the peer.
func (r *route) removeInterest(op *protocol.Op) {
	r.interestMu.Lock()
	defer r.interestMu.Unlock()
	acc := r.account(op.Account)
	if acc == nil {
		r.unhold(string(op.Account), interestKey{string(op.Subject), string(op.Queue)})
		return
	}
	k := routeSubKey{acc.name, string(op.Subject), string(op.Queue)}
	for _, sub := range r.interest[k] {
		sub.closed.Store(true)
		_ = acc.sl.Remove(sub.subject, sub.queue, sub)
	}
	delete(r.interest, k)
	r.numSubs.Store(int32(len(r.interest)))
}

// dropInterest removes everything the peer subscribed to, when its route
// ends.
func (r *route) dropInterest() {
	r.interestMu.Lock()
	defer r.interestMu.Unlock()
	for k, subs := range r.interest {
		for _, sub := range subs {
			sub.closed.Store(true)
			_ = sub.acc.sl.Remove(sub.subject, sub.queue, sub)
		}
		delete(r.interest, k)
	}
	r.numSubs.Store(0)
	r.held, r.heldSubs = nil, 0
}

// interestList returns the peer's interest for /routez?subs, ordered by
// account, subject and queue. Sid names the interest as nats-server does
// for a route ("R <account> <subject>[ <queue>]").
func (r *route) interestList() []SubSnapshot {
	r.interestMu.Lock()
	keys := make([]routeSubKey, 0, len(r.interest))
	for k := range r.interest {
		keys = append(keys, k)
	}
	r.interestMu.Unlock()
	slices.SortFunc(keys, func(a, b routeSubKey) int {
		return cmp.Or(cmp.Compare(a.account, b.account), cmp.Compare(a.subject, b.subject), cmp.Compare(a.queue, b.queue))
	})
	list := make([]SubSnapshot, len(keys))
	for i, k := range keys {
		sid := "R " + k.account + " " + k.subject
		if k.queue != "" {
			sid += " " + k.queue
		}
		list[i] = SubSnapshot{Subject: k.subject, Queue: k.queue, Sid: sid}
	}
	return list
}

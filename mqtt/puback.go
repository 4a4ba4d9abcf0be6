package mqtt

import (
	"sync"
)

// maxStoresInFlight bounds the QoS 1 publishes of one client waiting for
// the stream layer; past it the client's reader waits.
const maxStoresInFlight = 1024

// pubackQueue sends a client's PUBACKs in the order its QoS 1 PUBLISH
// packets arrived, as MQTT requires, while their stores complete in any
// order. A failed store gets no PUBACK: the client publishes it again.
type pubackQueue struct {
	c *conn

	mu      sync.Mutex
	room    *sync.Cond // signalled when entries leave
	entries []pubackEntry
	base    uint64 // sequence number of entries[0]
}

type pubackEntry struct {
	id   uint16
	done bool
	ok   bool
}

func (q *pubackQueue) init(c *conn) {
	q.c = c
	q.room = sync.NewCond(&q.mu)
}

// add queues the PUBACK of packet id and returns the function its store
// reports to. It waits while maxStoresInFlight stores are pending.
func (q *pubackQueue) add(id uint16) func(error) {
	q.mu.Lock()
	for len(q.entries) >= maxStoresInFlight {
		q.room.Wait()
	}
	seq := q.base + uint64(len(q.entries))
	q.entries = append(q.entries, pubackEntry{id: id})
	q.mu.Unlock()
	return func(err error) { q.complete(seq, err) }
}

// complete records a store's outcome and sends every PUBACK now due.
// The PUBACKs are queued while mu is held, so that two completing stores
// cannot put them out of order.
func (q *pubackQueue) complete(seq uint64, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := &q.entries[seq-q.base]
	e.done, e.ok = true, err == nil
	if err != nil {
		q.c.svc.log.Warn("mqtt publish not stored", "client", q.c.clientID, "err", err)
	}
	n := 0
	for n < len(q.entries) && q.entries[n].done {
		if q.entries[n].ok {
			id := q.entries[n].id
			q.c.out.write(func(b []byte) []byte { return appendAck(b, pktPuback, id) })
		}
		n++
	}
	if n == 0 {
		return
	}
	q.entries = append(q.entries[:0], q.entries[n:]...)
	q.base += uint64(n)
	q.room.Broadcast()
}

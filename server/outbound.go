package server

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wisp-mq/wisp/protocol"
)

// chunkSize is the size of a pooled outbound chunk: large enough that a
// burst of small messages fills few of them, small enough that an idle
// connection holding one costs little.
const chunkSize = 32 << 10

// chunk is a pooled piece of a connection's outbound queue.
type chunk struct{ b []byte }

var chunkPool = sync.Pool{New: func() any { return &chunk{b: make([]byte, 0, chunkSize)} }}

// msgOverhead bounds the bytes of a MSG/HMSG line besides subject, sid and
// reply: verb, spaces, two sizes and three CRLFs.
const msgOverhead = len("HMSG ") + 4 + 2*20 + 3*2

// outbound is a connection's queue of bytes to send. Producers on any
// goroutine append encoded messages under mu; the writer goroutine takes
// every full chunk at once and sends them with one vectored write.
type outbound struct {
	c *conn

	mu      sync.Mutex
	full    []*chunk // filled chunks in send order
	cur     *chunk   // chunk being filled
	pending int64    // bytes queued and not yet written
	closing bool     // no more enqueues; writer flushes then closes
	msgs    int64    // messages queued in total (for monitoring)
	// written is msgs as the writer last took the queue: when msgs has
	// moved on, the write carries messages and counts as activity.
	written int64
	bytes   int64 // payload bytes queued in total (for monitoring)

	kick chan struct{} // capacity 1: a pending wake-up for the writer

	// limit, when above 0, replaces max_pending: a route has its own.
	limit int64

	// Read without the lock by producers that stage messages.
	headers atomic.Bool // subscriber said headers:true in CONNECT
	gone    atomic.Bool // closing: set together with closing

	// stall is closed by the writer once pending falls back under the stall
	// mark; producers that pushed pending over it wait on it briefly.
	stall chan struct{}
	// stallSince is when stall was made: a route above its stall mark for
	// longer than routeStallMax is taken as stuck and no longer waited for.
	stallSince time.Time

	// Writer-owned scratch, reused across flushes.
	taken []*chunk
	bufs  net.Buffers
	iov   [][]byte
}

func (o *outbound) init(c *conn) {
	o.c = c
	o.kick = make(chan struct{}, 1)
}

// kickWriter wakes the writer goroutine; wake-ups coalesce.
func (o *outbound) kickWriter() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// reserve returns the chunk to append n bytes to, starting a new one when
// the current one lacks room, so append never reallocates. Called with mu held.
func (o *outbound) reserve(n int) *chunk {
	if o.cur != nil && cap(o.cur.b)-len(o.cur.b) >= n {
		return o.cur
	}
	if o.cur != nil && len(o.cur.b) > 0 {
		o.full = append(o.full, o.cur)
	}
	if n > chunkSize {
		// A large message gets a chunk of its own, not returned to the pool.
		o.cur = &chunk{b: make([]byte, 0, n)}
	} else {
		o.cur = chunkPool.Get().(*chunk)
	}
	return o.cur
}

// enqueueMsg encodes m for subscription sub and queues it, counting it in
// sub's delivered count. It returns the payload size counted as delivered;
// ok is false when the connection is closing or has just become a slow
// consumer, or when sub has had its max, and stalled is true when the queue
// is past its stall mark (three quarters of max_pending), so the producer
// should give the writer a moment.
func (o *outbound) enqueueMsg(sub *subscription, m *message) (size int, ok, stalled bool) {
	o.mu.Lock()
	if o.closing {
		o.mu.Unlock()
		return 0, false, false
	}
	limit := sub.max.Load()
	if limit > 0 && sub.delivered >= limit {
		o.mu.Unlock()
		return 0, false, false
	}
	n := msgOverhead + len(m.subject) + len(sub.sid) + len(m.reply) + len(m.data)
	ch := o.reserve(n)
	before := len(ch.b)
	size = len(m.data)
	if m.hdrLen > 0 && o.headers.Load() {
		ch.b = protocol.AppendHMsg(ch.b, m.subject, sub.sid, m.reply, m.hdrLen, m.data)
	} else {
		// A subscriber without header support gets the payload alone.
		size -= m.hdrLen
		ch.b = protocol.AppendMsg(ch.b, m.subject, sub.sid, m.reply, m.data[m.hdrLen:])
	}
	sub.delivered++
	done := sub.delivered == limit
	ok, stalled = o.queued(int64(len(ch.b)-before), 1, int64(size))
	if done {
		sub.unsubscribe()
	}
	return size, ok, stalled
}

// enqueueStaged queues a producer's staged buffer for this subscriber,
// filling the current chunk before starting new ones, and adds its runs to
// their subscriptions' delivered counts. cutMsgs and cutBytes are what was
// left out for subscriptions that reached their max meanwhile (see
// stagedOut.countRuns).
func (o *outbound) enqueueStaged(st *stagedOut) (ok, stalled bool, cutMsgs, cutBytes int64) {
	o.mu.Lock()
	if o.closing {
		o.mu.Unlock()
		return false, false, 0, 0
	}
	n := len(st.buf)
	msgs, all := st.countRuns()
	if all {
		o.appendBytes(st.buf)
	} else {
		n, cutMsgs, cutBytes = st.keptBytes(o.appendBytes)
	}
	ok, stalled = o.queued(int64(n), msgs+st.loose-cutMsgs, st.bytes-cutBytes)
	for i := range st.runs {
		if st.runs[i].done {
			st.runs[i].sub.unsubscribe()
		}
	}
	return ok, stalled, cutMsgs, cutBytes
}

// appendBytes copies already encoded messages into the queue; the caller
// accounts for them with queued. Called with mu held.
func (o *outbound) appendBytes(b []byte) {
	for len(b) > 0 {
		ch := o.reserve(1)
		n := copy(ch.b[len(ch.b):cap(ch.b)], b)
		ch.b = ch.b[:len(ch.b)+n]
		b = b[n:]
	}
}

// queued accounts for n bytes just appended (msgs messages of bytes payload
// bytes), unlocks, and cuts off a subscriber past max_pending. stalled is
// true when the queue is past its stall mark (three quarters of
// max_pending), so the producer should give the writer a moment. Called
// with mu held; returns with it released.
func (o *outbound) queued(n, msgs, bytes int64) (ok, stalled bool) {
	o.pending += n
	o.msgs += msgs
	o.bytes += bytes
	max := o.maxPending()
	slow := o.pending > max
	var stall chan struct{}
	if !slow && o.pending > max/4*3 {
		if o.stall == nil {
			o.stall = make(chan struct{})
			o.stallSince = time.Now()
		}
		stall = o.stall
	}
	o.mu.Unlock()
	if slow {
		o.c.slowConsumer("max pending exceeded")
		return false, false
	}
	return true, stall != nil
}

// maxPending is the most bytes this queue may hold.
func (o *outbound) maxPending() int64 {
	if o.limit > 0 {
		return o.limit
	}
	return o.c.srv.o().MaxPending
}

// Producer stalls: how long one read of a producer may wait for a
// consumer's writer to drain below the stall mark. Bounded, so a stuck
// consumer costs a publisher milliseconds, not throughput, before it is cut off.
const maxStall = 5 * time.Millisecond

// stallChan returns the channel a producer may wait on while this queue is
// above its stall mark, or nil.
func (o *outbound) stallChan() chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.limit > 0 && o.stall != nil && time.Since(o.stallSince) > routeStallMax {
		return nil // a stuck route: publishers go on until it is cut
	}
	return o.stall
}

// routeStallMax is how long publishers are held back for a route that
// stays above its stall mark. A route that drains (a burst faster than the
// link) dips below the mark within it; one that does not is stuck, and
// local delivery must not wait for it while it fills up to its limit and
// is cut (or its write deadline passes).
const routeStallMax = time.Second

// enqueue queues a protocol line produced by an encoder (PONG, +OK, -ERR,
// INFO, PING). These count toward max_pending too: a client that sends
// PINGs and never reads is a slow consumer like any other.
func (o *outbound) enqueue(b []byte) {
	o.mu.Lock()
	slow := false
	if !o.closing {
		ch := o.reserve(len(b))
		ch.b = append(ch.b, b...)
		o.pending += int64(len(b))
		slow = o.pending > o.maxPending()
	}
	o.mu.Unlock()
	if slow {
		o.c.slowConsumer("max pending exceeded")
	}
}

// take moves every queued chunk to the writer's scratch list; msgs says
// whether messages were queued since the last take.
func (o *outbound) take() (taken []*chunk, closing, msgs bool) {
	o.mu.Lock()
	msgs = o.msgs != o.written
	o.written = o.msgs
	taken = append(o.taken[:0], o.full...)
	clear(o.full)
	o.full = o.full[:0]
	if o.cur != nil && len(o.cur.b) > 0 {
		taken = append(taken, o.cur)
		o.cur = nil
	}
	closing = o.closing
	o.mu.Unlock()
	return taken, closing, msgs
}

// writeLoop is the connection's writer goroutine: it sleeps until kicked,
// then sends everything queued in one vectored write.
func (c *conn) writeLoop() {
	defer c.srv.wg.Done()
	o := &c.out
	for range o.kick {
		taken, closing, msgs := o.take()
		if len(taken) > 0 {
			if err := c.flush(taken, msgs); err != nil {
				c.writeFailed(err)
				closing = true
			}
		}
		if closing {
			// A close may race with a last enqueue; whatever is still
			// queued is dropped with the connection.
			c.nc.Close()
			o.release()
			return
		}
	}
}

// flush writes the taken chunks and returns them to the pool. msgs says
// they hold messages: the connection's last activity is then this write's
// time, read once for the write deadline and the activity both.
func (c *conn) flush(taken []*chunk, msgs bool) error {
	o := &c.out
	o.iov = o.iov[:0]
	var n int64
	for _, ch := range taken {
		o.iov = append(o.iov, ch.b)
		n += int64(len(ch.b))
	}
	o.bufs = o.iov
	var now time.Time
	wd := c.srv.o().WriteDeadline
	if wd > 0 || msgs {
		now = time.Now()
	}
	if wd > 0 {
		c.nc.SetWriteDeadline(now.Add(wd))
	}
	if msgs {
		c.last.Store(now.UnixNano())
	}
	_, err := o.bufs.WriteTo(c.nc)
	for i, ch := range taken {
		if cap(ch.b) == chunkSize {
			ch.b = ch.b[:0]
			chunkPool.Put(ch)
		}
		taken[i] = nil
	}
	o.taken = taken[:0]
	o.mu.Lock()
	o.pending -= n
	if o.stall != nil && o.pending <= o.maxPending()/4*3 {
		close(o.stall)
		o.stall = nil
	}
	o.mu.Unlock()
	return err
}

// release drops whatever is still queued once the connection is closed.
func (o *outbound) release() {
	o.mu.Lock()
	o.closing = true
	o.gone.Store(true)
	o.full, o.cur, o.pending = nil, nil, 0
	if o.stall != nil {
		close(o.stall)
		o.stall = nil
	}
	o.mu.Unlock()
}

// startClosing marks the queue closed to producers and wakes the writer so
// it flushes what is queued and closes the socket.
func (o *outbound) startClosing() {
	o.mu.Lock()
	o.closing = true
	o.gone.Store(true)
	o.mu.Unlock()
	o.kickWriter()
}

// pendingBytes is the number of bytes queued and not yet written.
func (o *outbound) pendingBytes() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pending
}

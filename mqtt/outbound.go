package mqtt

import (
	"sync"
	"time"
)

// outbound is a connection's queue of encoded packets. Producers (the
// reader, and publishers' goroutines through subscriptions) append under
// mu; the writer swaps the buffer out and writes it in one call.
type outbound struct {
	mu      sync.Mutex
	buf     []byte
	spare   []byte
	max     int64
	closed  bool // nothing more is queued
	ending  bool // write what is queued, then stop
	msgs    int64
	bytes   int64
	wake    chan struct{}
	flushed chan struct{} // closed when the writer has stopped
	slow    bool          // over max: the client is dropped
}

func (o *outbound) init(max int64) {
	o.max = max
	o.wake = make(chan struct{}, 1)
	o.flushed = make(chan struct{})
}

// write queues what fn appends. It reports false when the queue is
// closed or the client is too slow (the writer then closes it).
func (o *outbound) write(fn func([]byte) []byte) bool {
	o.mu.Lock()
	if o.closed || o.ending {
		o.mu.Unlock()
		return false
	}
	o.buf = fn(o.buf)
	if int64(len(o.buf)) > o.max {
		o.slow, o.closed = true, true
		o.buf = o.buf[:0]
	}
	o.mu.Unlock()
	o.signal()
	return true
}

// countMsg records one message queued for the client.
func (o *outbound) countMsg(n int) {
	o.mu.Lock()
	o.msgs++
	o.bytes += int64(n)
	o.mu.Unlock()
}

func (o *outbound) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// closeAfterFlush lets the writer send what is queued, then stop.
func (o *outbound) closeAfterFlush() {
	o.mu.Lock()
	o.ending = true
	o.mu.Unlock()
	o.signal()
}

// close drops what is queued and stops the writer.
func (o *outbound) close() {
	o.mu.Lock()
	o.closed = true
	o.buf = o.buf[:0]
	o.mu.Unlock()
	o.signal()
}

func (o *outbound) stats() (msgs, bytes, pending int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.msgs, o.bytes, int64(len(o.buf))
}

// writeLoop is the connection's writer.
func (c *conn) writeLoop() {
	o := &c.out
	defer close(o.flushed)
	for {
		select {
		case <-o.wake:
		case <-c.quit:
			return
		}
		o.mu.Lock()
		buf := o.buf
		o.buf, o.spare = o.spare[:0], nil
		closed, ending, slow := o.closed, o.ending, o.slow
		o.mu.Unlock()
		if slow {
			c.svc.log.Warn("mqtt slow consumer: dropping client", "client", c.clientID, "addr", c.ip)
			c.shutdown()
			return
		}
		if len(buf) > 0 && !closed {
			_ = c.nc.SetWriteDeadline(time.Now().Add(c.svc.opts.WriteDeadline))
			if _, err := c.nc.Write(buf); err != nil {
				c.shutdown()
				return
			}
		}
		o.mu.Lock()
		o.spare = buf[:0]
		more := len(o.buf) > 0
		o.mu.Unlock()
		if closed || ending && !more {
			if ending && !closed {
				c.shutdown()
			}
			return
		}
		if more {
			o.signal()
		}
	}
}

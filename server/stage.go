package server

import (
	"github.com/wisp-mq/wisp/protocol"
)

// Staging: during one read, a producer encodes its deliveries for each
// subscriber into a private buffer, with no lock, and hands each buffer over
// under the subscriber's mutex once, at the end of the read. A subscriber's
// mutex is then taken once per producer read instead of once per message,
// which was a third of the cost of fan-out.
//
// At most maxStaged subscribers are staged in a read (one per slot of a
// small table); the rest are enqueued directly, so a fan-out to thousands of
// subscribers does not hold thousands of buffers. A subscriber's messages
// from one producer stay in order either way, since a subscriber is staged
// for the whole read or not at all.
const (
	maxStaged = 64
	// maxStageBuf is the largest staging buffer kept for the next read;
	// one read is at most maxReadBuf bytes, so ordinary reads stay under it.
	maxStageBuf = 4 * maxReadBuf
)

// stagedOut is one subscriber's share of the current read.
type stagedOut struct {
	d     *conn
	buf   []byte
	msgs  int64
	bytes int64 // payload bytes, for the subscriber's monitoring counters
}

// stageFor returns the staging slot for subscriber d, or nil when d is
// closing or has no slot in this read. Slots are found through a table
// indexed by the subscriber's connection id, one probe per delivery; two
// subscribers whose ids collide in it share nothing: the second is simply
// enqueued directly.
func (c *conn) stageFor(d *conn) *stagedOut {
	slot := &c.stageSlot[d.id%maxStaged]
	if i := *slot; i > 0 {
		if st := &c.stage[i-1]; st.d == d {
			return st
		}
		return nil
	}
	if d.out.gone.Load() {
		return nil
	}
	var buf []byte
	if n := len(c.spareBufs); n > 0 {
		buf, c.spareBufs = c.spareBufs[n-1], c.spareBufs[:n-1]
	}
	c.stage = append(c.stage, stagedOut{d: d, buf: buf})
	*slot = uint8(len(c.stage))
	return &c.stage[len(c.stage)-1]
}

// add encodes m for subscription sid and returns the payload size counted.
func (st *stagedOut) add(sid []byte, m *message) int {
	size := len(m.data)
	if m.hdrLen > 0 && st.d.out.headers.Load() {
		st.buf = protocol.AppendHMsg(st.buf, m.subject, sid, m.reply, m.hdrLen, m.data)
	} else {
		size -= m.hdrLen // a subscriber without header support gets the payload alone
		st.buf = protocol.AppendMsg(st.buf, m.subject, sid, m.reply, m.data[m.hdrLen:])
	}
	st.msgs++
	st.bytes += int64(size)
	return size
}

// handOver moves one staged buffer into its subscriber's queue and wakes
// its writer. The slot stays usable for more messages in this read.
func (c *conn) handOver(st *stagedOut) {
	if len(st.buf) == 0 {
		return
	}
	ok, stalled := st.d.out.enqueueBytes(st.buf, st.msgs, st.bytes)
	if ok && stalled && st.d != c {
		c.stallOn = st.d
	}
	st.buf, st.msgs, st.bytes = st.buf[:0], 0, 0
	st.d.out.kickWriter()
}

// flushStaged hands every staged buffer over and resets staging, keeping
// buffers of ordinary size for reuse. It runs at the end of each read and
// before a control line (enqueueControl), which must follow them.
func (c *conn) flushStaged() {
	for i := range c.stage {
		st := &c.stage[i]
		c.handOver(st)
		if cap(st.buf) <= maxStageBuf && len(c.spareBufs) < maxStaged {
			c.spareBufs = append(c.spareBufs, st.buf[:0])
		}
		c.stageSlot[st.d.id%maxStaged] = 0
		c.stage[i] = stagedOut{}
	}
	c.stage = c.stage[:0]
}

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
//
// Per-subscription delivered counts ride along: the buffer records runs of
// consecutive messages for one subscription, and the hand-over adds each
// run to its subscription's count under the subscriber's mutex, where every
// other count of it is made (see countRuns). So counting costs a compare
// per message and no shared write.
const (
	maxStaged = 64
	// maxStageBuf is the largest staging buffer kept for the next read;
	// one read is at most maxReadBuf bytes, so ordinary reads stay under it.
	maxStageBuf = 4 * maxReadBuf
	// maxStageRuns is the most run records kept for the next read.
	maxStageRuns = 256
)

// stagedOut is one subscriber's share of the current read.
type stagedOut struct {
	d   *conn
	buf []byte
	// The messages at the end of buf, since the last run closed, are
	// curN for subscription cur; closeRun records them in runs.
	cur   *subscription
	curN  int64
	runs  []stagedRun // closed runs, in buf order
	bytes int64       // payload bytes, for the subscriber's monitoring counters
}

// stagedRun is a stretch of buf holding n consecutive messages for one
// subscription, ending at offset end.
type stagedRun struct {
	sub  *subscription
	n    int64
	end  int
	keep int64 // set by countRuns: how many of the n are delivered
	done bool  // set by countRuns: the run took sub to its max
}

// staged returns the staging slot this read already has for subscriber d,
// or nil.
func (c *conn) staged(d *conn) *stagedOut {
	if i := c.stageSlot[d.id%maxStaged]; i > 0 {
		if st := &c.stage[i-1]; st.d == d {
			return st
		}
	}
	return nil
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
	// An entry left from an earlier read comes with its buffers.
	if n := len(c.stage); n < cap(c.stage) {
		c.stage = c.stage[:n+1]
	} else {
		c.stage = append(c.stage, stagedOut{})
	}
	st := &c.stage[len(c.stage)-1]
	st.d = d
	*slot = uint8(len(c.stage))
	return st
}

// add encodes m for subscription sub and returns the payload size counted.
func (st *stagedOut) add(sub *subscription, m *message) int {
	if sub != st.cur {
		st.closeRun()
		st.cur = sub
	}
	st.curN++
	size := len(m.data)
	if m.hdrLen > 0 && st.d.out.headers.Load() {
		st.buf = protocol.AppendHMsg(st.buf, m.subject, sub.sid, m.reply, m.hdrLen, m.data)
	} else {
		size -= m.hdrLen // a subscriber without header support gets the payload alone
		st.buf = protocol.AppendMsg(st.buf, m.subject, sub.sid, m.reply, m.data[m.hdrLen:])
	}
	st.bytes += int64(size)
	return size
}

// closeRun records the messages at the end of buf as a run of cur's.
func (st *stagedOut) closeRun() {
	if st.curN > 0 {
		st.runs = append(st.runs, stagedRun{sub: st.cur, n: st.curN, end: len(st.buf)})
		st.curN = 0
	}
}

// countRuns adds each run to its subscription's delivered count and
// returns the messages staged. The caller has closed the last run. It runs
// under the subscriber's out.mu, the lock every count of its subscriptions
// is made under, which is what keeps a max exact with many producers.
//
// A subscription given a max after its messages were staged (UNSUB <sid>
// <max> racing with this read) may not have room for all of them: the run
// then keeps only what fits, and all reports false so that the caller copies
// the kept messages alone (see keptBytes). That drops messages the producer
// had decided to deliver before the max was seen, which is what a late
// enough UNSUB would have done anyway.
func (st *stagedOut) countRuns() (msgs int64, all bool) {
	all = true
	for i := range st.runs {
		r := &st.runs[i]
		msgs += r.n
		r.keep, r.done = r.n, false
		if limit := r.sub.max.Load(); limit > 0 {
			r.keep = min(r.n, max(limit-r.sub.delivered, 0))
			r.done = r.keep > 0 && r.sub.delivered+r.keep == limit
			all = all && r.keep == r.n
		}
		r.sub.delivered += r.keep
	}
	return msgs, all
}

// keptBytes calls fn with the stretches of buf that countRuns kept, in
// order, and returns their total length and the messages and payload bytes
// it left out.
func (st *stagedOut) keptBytes(fn func([]byte)) (kept int, cutMsgs, cutBytes int64) {
	start := 0
	for i := range st.runs {
		r := &st.runs[i]
		run := st.buf[start:r.end]
		start = r.end
		if r.keep == r.n {
			fn(run)
			kept += len(run)
			continue
		}
		off := 0
		for k := int64(0); k < r.keep; k++ {
			n, _ := encodedMsgLen(run[off:])
			off += n
		}
		fn(run[:off])
		kept += off
		for rest := run[off:]; len(rest) > 0; {
			n, size := encodedMsgLen(rest)
			rest = rest[n:]
			cutMsgs++
			cutBytes += int64(size)
		}
	}
	return kept, cutMsgs, cutBytes
}

// encodedMsgLen returns the length of the MSG or HMSG that b starts with, as
// AppendMsg and AppendHMsg wrote it, and the size its control line ends with
// (the bytes counted as delivered).
func encodedMsgLen(b []byte) (n, size int) {
	eol := 0
	for b[eol] != '\n' {
		eol++
	}
	sp := eol - 1 // at the '\r'
	for b[sp-1] != ' ' {
		sp--
	}
	for _, ch := range b[sp : eol-1] {
		size = size*10 + int(ch-'0')
	}
	return eol + 1 + size + 2, size
}

// handOver moves one staged buffer into its subscriber's queue and wakes
// its writer. The slot stays usable for more messages in this read.
func (c *conn) handOver(st *stagedOut) {
	if len(st.buf) == 0 {
		return
	}
	st.closeRun()
	st.cur = nil
	ok, stalled, cutMsgs, cutBytes := st.d.out.enqueueStaged(st)
	if ok && stalled && st.d != c {
		c.stallOn = st.d
	}
	c.reads.outMsgs -= cutMsgs
	c.reads.outBytes -= cutBytes
	clear(st.runs) // let go of the subscriptions
	st.buf, st.runs, st.bytes = st.buf[:0], st.runs[:0], 0
	st.d.out.kickWriter()
}

// flushStaged hands every staged buffer over and resets staging, keeping
// entries with buffers of ordinary size for reuse. It runs at the end of
// each read and before a control line (enqueueControl), which must follow
// them.
func (c *conn) flushStaged() {
	for i := range c.stage {
		st := &c.stage[i]
		c.handOver(st)
		c.stageSlot[st.d.id%maxStaged] = 0
		st.d = nil
		if cap(st.buf) > maxStageBuf {
			st.buf = nil
		}
		if cap(st.runs) > maxStageRuns {
			st.runs = nil
		}
	}
	c.stage = c.stage[:0]
}

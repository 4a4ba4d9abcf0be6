package stream

import (
	"encoding/json"
	"math"
	"strconv"
	"sync"

	"github.com/wisp-mq/wisp/stream/store"
)

// Fast batch publish (allow_batched), nats-server 2.14's flow-controlled
// ingest. Unlike an atomic batch, each message is stored as soon as it
// arrives, as a publish is; what the batch adds is flow control and one
// PubAck for the lot. Everything the server needs rides in the reply
// subject, so the messages carry no batch headers:
//
//	<inbox>.<id>.<flow>.<gap>.<batch seq>.<op>.$FI
//
// id names the batch (the client's inbox token), flow is how often the
// publisher wants a flow ack (every N messages, at most 65535), gap is
// "fail" or "ok", op is 0 start (seq 1), 1 append, 2 commit (this message
// is the last), 3 commit end-of-batch (the message itself is not stored)
// and 4 ping (resend the last flow ack; the message is not stored).
//
// The server answers on the message's reply subject: the first message
// with a flow ack {"type":"ack","seq":0,"msgs":N} naming how often it will
// ack; then every N stored messages {"type":"ack","seq":<batch seq>,
// "msgs":N}, N growing (doubling up to the publisher's flow and the
// server's 500 shared among the stream's open batches) or shrinking as
// other batches come and go; a skipped batch sequence with
// {"type":"gap","last_seq":<expected>,"seq":<got>}, which in "gap: fail"
// mode ends the batch; a refused message with {"type":"err","seq":N,
// "error":{...}} (in "gap: fail" mode the batch ends there, and nothing
// after it is stored); and the end with a PubAck {"stream":"S","seq":
// <stream seq of the last stored message>,"batch":"<id>","count":<batch
// messages>}, once every message before it is stored. A refused first
// message in "gap: fail" mode is answered as a lone publish would be, and
// ends the batch; a duplicate (Nats-Msg-Id) is passed over.
//
// The flow bookkeeping below is the proposer's, outside the state
// machine, as atomic staging is: each message becomes an opFastPublish
// (fast_batch_op.go), whose apply decides, the same on every replica,
// whether it is stored. A batch not continued within the batch timeout is
// forgotten; a restart forgets every open batch (the next message of one
// is "batch publish ID unknown").

const (
	fastSuffix      = ".$FI"
	fastOpStart     = 0
	fastOpAppend    = 1
	fastOpCommit    = 2
	fastOpCommitEOB = 3
	fastOpPing      = 4
	// fastMaxAckMsgs is the most messages between flow acks, shared
	// among a stream's open fast batches (nats-server's figure).
	fastMaxAckMsgs = 500
)

// isFastReply reports whether a publish's reply subject marks a fast
// batch message. It allocates nothing: it runs for every publish.
func isFastReply(reply []byte) bool {
	return len(reply) > len(fastSuffix) && string(reply[len(reply)-len(fastSuffix):]) == fastSuffix
}

// fastReq is what a fast batch message's reply subject says.
type fastReq struct {
	id          string
	seq         uint64
	flow        uint16
	op          int
	gapOK       bool
	commit, eob bool
}

// parseFastReply reads a fast batch reply subject; false when it does not
// follow the pattern (answered "batch publish pattern is invalid").
func parseFastReply(reply string) (fastReq, bool) {
	var q fastReq
	rest := reply[:len(reply)-len(fastSuffix)]
	tok := func() (string, bool) {
		i := lastDot(rest)
		if i < 0 {
			return "", false
		}
		t := rest[i+1:]
		rest = rest[:i]
		return t, true
	}
	ops, ok1 := tok()
	seqs, ok2 := tok()
	gap, ok3 := tok()
	flows, ok4 := tok()
	id, ok5 := tok()
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || id == "" {
		return q, false
	}
	op, err := strconv.Atoi(ops)
	if err != nil || op < fastOpStart || op > fastOpPing {
		return q, false
	}
	seq, err := strconv.ParseUint(seqs, 10, 64)
	switch {
	case err != nil, seq == 0, seq == math.MaxUint64:
		return q, false
	case seq == 1 && op == fastOpCommitEOB, op == fastOpStart && seq != 1, op == fastOpAppend && seq <= 1:
		return q, false
	case gap != "fail" && gap != "ok":
		return q, false
	}
	// A flow that is not a positive number means the default, 10; a
	// larger one than a uint16 holds is capped, as nats-server does.
	flow, err := strconv.ParseInt(flows, 10, 64)
	switch {
	case err != nil || flow <= 0:
		flow = 10
	case flow > math.MaxUint16:
		flow = math.MaxUint16
	}
	q = fastReq{id: id, seq: seq, flow: uint16(flow), op: op, gapOK: gap == "ok",
		commit: op == fastOpCommit || op == fastOpCommitEOB, eob: op == fastOpCommitEOB}
	return q, true
}

func lastDot(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

// fastStage is one stream's open fast batches.
type fastStage struct {
	mu   sync.Mutex
	open map[string]*fastBatch
}

// fastBatch is the flow state of one open fast batch, under fastStage.mu.
type fastBatch struct {
	id      string
	gapOK   bool
	maxAck  uint16 // the publisher's flow: the most ackMsgs may grow to
	ackMsgs uint16 // a flow ack every ackMsgs stored messages
	lseq    uint64 // highest batch sequence taken
	pseq    uint64 // highest batch sequence whose fate is known (stored or not)
	fseq    uint64 // batch sequence of the last flow ack
	sseq    uint64 // stream sequence of the last message stored
	pending int    // messages proposed and not yet applied
	commit  bool   // the batch ends: no message is taken any more
	timer   Timer
}

// fastPublish takes one message whose reply subject marks a fast batch.
// It runs in the broker callback.
func (s *stream) fastPublish(subject, reply, hdr, data []byte) {
	s.mu.RLock()
	c := &s.cfg
	deleted, sealed, noAck, allow, maxSize := s.deleted, c.Sealed, c.NoAck, c.AllowBatched, int(c.MaxMsgSize)
	s.mu.RUnlock()
	if deleted {
		return
	}
	rs := string(reply)
	answer := !noAck
	refuse := func(e *APIError) {
		if answer {
			_ = s.svc.broker.Publish(rs, "", nil, s.appendErrAck(nil, e))
		}
	}
	q, ok := parseFastReply(rs)
	switch {
	case sealed:
		refuse(apiErr(errStreamSealed))
	case maxSize >= 0 && len(hdr)+len(data) > maxSize:
		refuse(apiErr(errMsgTooBig))
	case !allow:
		refuse(apiErr(errFastDisabled))
	case !ok:
		refuse(apiErr(errFastInvalidPattern))
	case len(q.id) > maxBatchIDLen:
		refuse(apiErr(errFastInvalidID))
	default:
		if e := s.fastTake(&q, subject, rs, hdr, data, answer); e != nil {
			refuse(e)
		}
	}
}

// fastTake runs one valid fast batch message through its batch's flow
// state, and proposes it when it is to be stored. It returns a refusal
// to answer as a lone publish's.
func (s *stream) fastTake(q *fastReq, subject []byte, reply string, hdr, data []byte, answer bool) *APIError {
	lim := &s.svc.batches.limits
	st := &s.fast
	st.mu.Lock()
	defer st.mu.Unlock()
	b := st.open[q.id]
	if b == nil {
		if q.seq != 1 {
			return apiErr(errFastUnknownID)
		}
		if len(st.open)+1 > lim.FastMaxInflightPerStream {
			return apiErr(errFastTooManyInflight)
		}
		if s.svc.batches.fastInflight.Add(1) > int64(lim.FastMaxInflight) {
			s.svc.batches.fastInflight.Add(-1)
			return apiErr(errFastTooManyInflight)
		}
		b = &fastBatch{id: q.id, gapOK: q.gapOK, maxAck: q.flow}
		b.timer = s.svc.clock.AfterFunc(lim.Timeout, func() { s.fastExpire(b) })
		if st.open == nil {
			st.open = map[string]*fastBatch{}
		}
		st.open[q.id] = b
		b.ackMsgs = min(fastMaxAckMsgs, b.maxAck)
		if len(st.open) > 1 {
			b.ackMsgs = 1 // others share the stream: start slow
		}
	}
	if len(hdr) > 0 && headerValue(hdr, hdrRequiredAPILevel) != nil {
		if requiresHigherLevel(hdr) {
			s.fastDropLocked(b)
			return apiErr(errRequiredAPILevel)
		}
		hdr = stripHeaders(hdr, hdrRequiredAPILevel)
	}
	if !b.commit {
		b.timer.Reset(lim.Timeout)
	}
	if q.op == fastOpPing {
		s.fastPing(b, q, reply)
		return nil
	}
	if b.commit {
		return nil // the batch is ending; its PubAck is on the way
	}
	b.lseq++
	if b.lseq != q.seq {
		s.fastSend(reply, fastGap(b.lseq, q.seq)) // backwards too, as nats-server 2.15 does
		if !b.gapOK || q.seq < b.lseq {
			b.lseq--
			s.fastEndLocked(b, reply)
			return nil
		}
		b.lseq = q.seq
	}
	if q.eob {
		b.lseq-- // the marker is not a message of the batch
		if b.pending == 0 {
			b.pseq = b.lseq
		}
		s.fastEndLocked(b, reply)
		return nil
	}
	if q.commit {
		b.commit = true
		b.timer.Stop()
	}
	if q.seq == 1 && answer && !q.commit {
		s.fastSend(reply, fastAck(0, b.ackMsgs))
	}
	b.pending++
	o := opFastPublish{Now: s.svc.clock.Now().UnixNano(), ID: q.id, Seq: q.seq, GapOK: q.gapOK, Commit: q.commit,
		Subject: s.transformIn(subject), Header: hdr, Data: data}
	op := fastPool.Get().(*fastOp)
	*op = fastOp{s: s, b: b, enc: op.enc[:0], reply: reply, seq: q.seq, commit: q.commit, answer: answer}
	w := opWriter(append(op.enc, opVersion, byte(kindFastPublish)))
	o.encodeFields(&w)
	op.enc = w
	s.st.Submit(op)
	return nil
}

// fastPool recycles fast batch operations and their encoding buffers, as
// pubPool does publishes'.
var fastPool = sync.Pool{New: func() any { return new(fastOp) }}

// fastPing answers a ping: the last flow ack again, after reporting a gap
// when the publisher sent more than the server took.
func (s *stream) fastPing(b *fastBatch, q *fastReq, reply string) {
	if q.seq > b.lseq && !b.commit {
		s.fastSend(reply, fastGap(b.lseq+1, q.seq+1))
		if !b.gapOK {
			if s.fastEndLocked(b, reply) {
				return
			}
		} else {
			b.lseq = q.seq
			if b.pending == 0 {
				b.pseq = b.lseq
			}
			if s.fastFlowLocked(b, reply) {
				return
			}
		}
	}
	s.fastSend(reply, fastAck(b.fseq, b.ackMsgs))
}

// fastEndLocked ends a batch: no more messages are taken, and the PubAck
// goes out now if every message taken is settled (true), or when the last
// one is.
func (s *stream) fastEndLocked(b *fastBatch, reply string) bool {
	b.commit = true
	b.timer.Stop()
	if b.pending > 0 || b.lseq != b.pseq {
		return false
	}
	s.fastDropLocked(b)
	s.fastSend(reply, s.fastPubAck(b, b.sseq, false))
	return true
}

// fastFlowLocked sends a flow ack when enough messages were settled since
// the last one, adjusting how often the next ones come to the number of
// batches sharing the stream. It reports whether it sent one.
func (s *stream) fastFlowLocked(b *fastBatch, reply string) bool {
	am := uint64(b.ackMsgs)
	if b.pseq < b.fseq+am {
		return false
	}
	b.fseq += (b.pseq - b.fseq) / am * am
	share := uint16(max(1, fastMaxAckMsgs/len(s.fast.open)))
	share = min(share, b.maxAck)
	switch {
	case b.ackMsgs < share:
		b.ackMsgs = min(b.ackMsgs*2, share)
	case b.ackMsgs > share:
		b.ackMsgs = max(b.ackMsgs/2, share)
	}
	s.fastSend(reply, fastAck(b.fseq, b.ackMsgs))
	return true
}

// fastDropLocked closes a batch.
func (s *stream) fastDropLocked(b *fastBatch) {
	if s.fast.open[b.id] != b {
		return
	}
	delete(s.fast.open, b.id)
	b.timer.Stop()
	s.svc.batches.fastInflight.Add(-1)
}

// fastExpire forgets a batch its timeout ran out on (nats-server sends no
// advisory for fast batches).
func (s *stream) fastExpire(b *fastBatch) {
	s.fast.mu.Lock()
	defer s.fast.mu.Unlock()
	if !b.commit {
		s.fastDropLocked(b)
	}
}

func (s *stream) fastSend(reply string, msg []byte) {
	if reply != "" {
		_ = s.svc.broker.Publish(reply, "", nil, msg)
	}
}

// fastOp carries one fast batch message through the store's writer.
type fastOp struct {
	s      *stream
	b      *fastBatch
	enc    []byte
	reply  string
	seq    uint64
	commit bool
	answer bool
	res    opResult
}

func (o *fastOp) Apply(b *store.Batch) error { return o.s.apply(b, o.enc, nil, &o.res) }

// Done settles the message in its batch's flow state: a flow ack when
// one is due, the error of a refused message, the PubAck when the batch
// has ended and nothing of it is pending.
func (o *fastOp) Done(err error) {
	defer o.recycle()
	s := o.s
	s.settle(err)
	if e := commitErr(err); e != nil && o.res.err == nil {
		o.res.err = e
	}
	stored := o.res.err == nil && !o.res.dup
	if err == nil && stored {
		s.wakeConsumers(o.res.msg.Subject)
		s.republish(&o.res.msg, o.res.prevSubjSeq)
	}
	st := &s.fast
	st.mu.Lock()
	defer st.mu.Unlock()
	b := o.b
	if st.open[b.id] != b {
		return // timed out, or ended by its first message
	}
	b.pending--
	if b.commit && o.seq > b.lseq {
		// Queued behind the message that ended a "gap: fail" batch, and
		// refused by apply for it.
		if b.pending == 0 {
			b.pseq = b.lseq
			s.fastEndLocked(b, o.reply)
		}
		return
	}
	if o.res.err != nil && !b.gapOK && o.seq == 1 || o.res.dup && o.seq == 1 && o.commit {
		// A refused first message is answered as a lone publish, and the
		// batch is over; so is a duplicate that is the whole batch. (A
		// duplicate is otherwise passed over, as nats-server does.)
		s.fastDropLocked(b)
		if o.answer && !o.res.noAck {
			if o.res.dup {
				s.fastSend(o.reply, s.fastPubAck(b, o.res.seq, true))
			} else {
				s.fastSend(o.reply, s.appendErrAck(nil, o.res.err))
			}
		}
		return
	}
	if o.res.err != nil {
		s.fastSend(o.reply, fastErr(o.seq, o.res.err))
		if !b.gapOK || o.commit {
			// The batch ends before this message.
			b.commit = true
			b.timer.Stop()
			if b.lseq >= o.seq {
				b.lseq = o.seq - 1
			}
		}
	} else if stored {
		b.sseq = o.res.seq
	}
	if b.pending == 0 {
		b.pseq = b.lseq
	} else {
		b.pseq = min(o.seq, b.lseq)
	}
	if b.commit && b.lseq == b.pseq {
		s.fastEndLocked(b, o.reply)
		return
	}
	s.fastFlowLocked(b, o.reply)
}

func (o *fastOp) recycle() {
	enc := o.enc
	*o = fastOp{}
	if cap(enc) <= 64*1024 {
		o.enc = enc[:0]
		fastPool.Put(o)
	}
}

// fastPubAck is a fast batch's closing PubAck; count is its messages (1
// for a duplicate first message, which nats-server answers so).
func (s *stream) fastPubAck(b *fastBatch, seq uint64, dup bool) []byte {
	id, _ := json.Marshal(b.id)
	count := b.lseq
	if dup {
		count = 1
	}
	ack := append([]byte(`{"stream":`), s.nameJSON...)
	ack = append(ack, `,"seq":`...)
	ack = strconv.AppendUint(ack, seq, 10)
	if dup {
		ack = append(ack, `,"duplicate":true`...)
	}
	ack = append(ack, `,"batch":`...)
	ack = append(ack, id...)
	ack = append(ack, `,"count":`...)
	ack = strconv.AppendUint(ack, count, 10)
	return append(ack, '}')
}

func fastAck(seq uint64, msgs uint16) []byte {
	b := strconv.AppendUint([]byte(`{"type":"ack","seq":`), seq, 10)
	b = append(b, `,"msgs":`...)
	b = strconv.AppendUint(b, uint64(msgs), 10)
	return append(b, '}')
}

func fastGap(expected, got uint64) []byte {
	b := strconv.AppendUint([]byte(`{"type":"gap","last_seq":`), expected, 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, got, 10)
	return append(b, '}')
}

func fastErr(seq uint64, e *APIError) []byte {
	j, _ := json.Marshal(e)
	b := strconv.AppendUint([]byte(`{"type":"err","seq":`), seq, 10)
	b = append(b, `,"error":`...)
	b = append(b, j...)
	return append(b, '}')
}

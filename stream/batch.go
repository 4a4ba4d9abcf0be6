package stream

import (
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nuid"

	"github.com/wisp-mq/wisp/stream/store"
)

// Atomic batch publish (allow_atomic). A publisher sends messages that
// carry Nats-Batch-Id and Nats-Batch-Sequence (1, 2, ...), the last one
// also Nats-Batch-Commit: 1 (store it and commit) or eob (commit what came
// before; the marker itself is not stored, and the last stored message
// gets Nats-Batch-Commit: 1 in its place). Either every message of the
// batch is stored, in order and with consecutive sequences, or none is.
//
// Staging is the proposer's business, outside the state machine: the
// messages of an open batch wait here, in memory, bounded by the limits
// below. A batch not continued within the timeout is abandoned, and one
// whose sequence skips is refused and dropped. The commit turns the whole
// batch into one operation (opBatch, batch_op.go), which apply checks
// whole and stores in one store batch (batch_apply.go): a replica applies
// all of it or none. A restart forgets open batches: nothing of them was
// ever stored.
//
// The replies are nats-server's: a staged message with a reply subject
// gets an empty message once staged; the commit gets a PubAck whose seq is
// the last message's, with "batch" (the id) and "count"; a refusal gets a
// PubAck with an error, and drops the batch.

const (
	hdrBatchID     = "Nats-Batch-Id"
	hdrBatchSeq    = "Nats-Batch-Sequence"
	hdrBatchCommit = "Nats-Batch-Commit"
	maxBatchIDLen  = 64
)

// BatchLimits bounds atomic batches. The defaults are nats-server's, plus
// a bound on the bytes staged, which nats-server does not have (it stages
// a file stream's batches on disk).
type BatchLimits struct {
	// MaxInflightPerStream is how many batches one stream may have open
	// (default 50); MaxInflight how many the layer may (default 1000).
	MaxInflightPerStream int
	MaxInflight          int
	// MaxSize is the most messages a batch may hold (default 1000).
	MaxSize int
	// Timeout abandons a batch that many seconds after its last message
	// (default 10s).
	Timeout time.Duration
	// MaxStagedBytes bounds what all open batches hold together
	// (default 256 MiB); a message that would pass it drops its batch
	// with "too many inflight".
	MaxStagedBytes int64
	// FastMaxInflightPerStream is how many fast batches (fast_batch.go)
	// one stream may have open (default 1000); FastMaxInflight how many
	// the layer may (default 50000). Timeout applies to them too.
	FastMaxInflightPerStream int
	FastMaxInflight          int
}

func (l BatchLimits) withDefaults() BatchLimits {
	if l.MaxInflightPerStream <= 0 {
		l.MaxInflightPerStream = 50
	}
	if l.MaxInflight <= 0 {
		l.MaxInflight = 1000
	}
	if l.MaxSize <= 0 {
		l.MaxSize = 1000
	}
	if l.Timeout <= 0 {
		l.Timeout = 10 * time.Second
	}
	if l.MaxStagedBytes <= 0 {
		l.MaxStagedBytes = 256 << 20
	}
	if l.FastMaxInflightPerStream <= 0 {
		l.FastMaxInflightPerStream = 1000
	}
	if l.FastMaxInflight <= 0 {
		l.FastMaxInflight = 50000
	}
	return l
}

// batchBudget is the Service's share of the limits: open batches and the
// bytes they hold (until their commit is applied).
type batchBudget struct {
	limits       BatchLimits
	inflight     atomic.Int64
	bytes        atomic.Int64
	fastInflight atomic.Int64 // open fast batches (fast_batch.go)
}

// batchStage is one stream's open batches.
type batchStage struct {
	mu   sync.Mutex
	open map[string]*stagedBatch
}

// stagedBatch is one open batch.
type stagedBatch struct {
	id    string
	msgs  []batchMsg
	bytes int64
	timer Timer
}

// stageBatch takes a published message that belongs to an atomic batch,
// and reports whether it did (false: no Nats-Batch-Id, an ordinary
// publish). It runs in the broker callback.
func (s *stream) stageBatch(subject, reply, hdr, data []byte) bool {
	id := headerValue(hdr, hdrBatchID)
	if len(id) == 0 {
		return false
	}
	s.mu.RLock()
	c := &s.cfg
	deleted, sealed, noAck, allow, maxSize := s.deleted, c.Sealed, c.NoAck, c.AllowAtomic, int(c.MaxMsgSize)
	s.mu.RUnlock()
	answer := len(reply) > 0 && !noAck
	var e *APIError
	switch {
	case deleted:
		return true
	case sealed:
		e = apiErr(errStreamSealed)
	case maxSize >= 0 && len(hdr)+len(data) > maxSize:
		e = apiErr(errMsgTooBig)
	case !allow:
		e = apiErr(errAtomicDisabled)
	case len(id) > maxBatchIDLen:
		e = apiErr(errAtomicInvalidID)
	default:
		var abandoned string
		e, abandoned = s.stageMsg(string(id), subject, reply, hdr, data, answer)
		if abandoned != "" {
			s.batchAbandoned(string(id), abandoned)
		}
	}
	if e != nil && answer {
		_ = s.svc.broker.Publish(string(reply), "", nil, s.appendErrAck(nil, e))
	}
	return true
}

// stageMsg adds one message to its batch, and commits the batch when the
// message says so. It returns the refusal to answer, if any, and the
// reason for the abandoned-batch advisory when it dropped an open batch
// for one of the reasons nats-server sends one.
func (s *stream) stageMsg(id string, subject, reply, hdr, data []byte, answer bool) (*APIError, string) {
	seq, present, ok := headerUint(hdr, hdrBatchSeq)
	if !present || !ok {
		return apiErr(errAtomicMissingSeq), ""
	}
	commitV := headerValue(hdr, hdrBatchCommit)
	commit := commitV != nil
	eob := commit && string(commitV) == "eob"
	invalidCommit := commit && !eob && string(commitV) != "1"
	size := seq // the end-of-batch marker is not a message of the batch
	if eob {
		size--
	}
	budget := &s.svc.batches
	lim := &budget.limits
	st := &s.staged
	st.mu.Lock()
	defer st.mu.Unlock()
	b := st.open[id]
	if b == nil {
		if seq != 1 {
			if size > uint64(lim.MaxSize) {
				return apiErr(errAtomicTooLarge, lim.MaxSize), ""
			}
			return apiErr(errAtomicIncomplete), ""
		}
		if len(st.open)+1 > lim.MaxInflightPerStream {
			return apiErr(errAtomicTooManyInflight), ""
		}
		if budget.inflight.Add(1) > int64(lim.MaxInflight) {
			budget.inflight.Add(-1)
			return apiErr(errAtomicTooManyInflight), ""
		}
		b = &stagedBatch{id: id}
		b.timer = s.svc.clock.AfterFunc(lim.Timeout, func() { s.abandonBatch(b) })
		if st.open == nil {
			st.open = map[string]*stagedBatch{}
		}
		st.open[id] = b
	}
	switch {
	case invalidCommit:
		s.dropBatchLocked(b, true)
		return apiErr(errAtomicInvalidCommit), ""
	case requiresHigherLevel(hdr):
		s.dropBatchLocked(b, true)
		return apiErr(errRequiredAPILevel), abandonUnsupported
	case uint64(len(b.msgs))+1 != seq || seq == 1 && eob:
		s.dropBatchLocked(b, true)
		return apiErr(errAtomicIncomplete), abandonIncomplete
	case size > uint64(lim.MaxSize):
		s.dropBatchLocked(b, true)
		return apiErr(errAtomicTooLarge, lim.MaxSize), abandonLarge
	}
	b.timer.Reset(lim.Timeout)
	if headerValue(hdr, hdrRequiredAPILevel) != nil {
		hdr = stripHeaders(hdr, hdrRequiredAPILevel) // a requirement met, not stored
	}
	if !eob {
		subject = s.transformIn(subject)
		n := int64(len(subject) + len(hdr) + len(data))
		if budget.bytes.Add(n) > lim.MaxStagedBytes {
			budget.bytes.Add(-n)
			s.dropBatchLocked(b, true)
			return apiErr(errAtomicTooManyInflight), abandonLarge
		}
		b.bytes += n
		b.msgs = append(b.msgs, batchMsg{Subject: clone(subject), Header: clone(hdr), Data: clone(data)})
	}
	if !commit {
		if answer {
			_ = s.svc.broker.Publish(string(reply), "", nil, nil)
		}
		return nil, ""
	}
	if eob {
		last := &b.msgs[len(b.msgs)-1]
		last.Header = setHeader(stripHeaders(last.Header, hdrBatchCommit), hdrBatchCommit, "1")
	}
	s.dropBatchLocked(b, false)
	s.commitBatch(b, string(reply), answer)
	return nil, ""
}

// clone copies a slice the broker lends.
func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// dropBatchLocked closes an open batch: its timer stops and it leaves the
// stream's and the Service's count; its bytes are released now when it
// is refused (release), or once its commit is applied. Called with
// s.staged.mu held; false when the batch was closed already.
func (s *stream) dropBatchLocked(b *stagedBatch, release bool) bool {
	if s.staged.open[b.id] != b {
		return false
	}
	delete(s.staged.open, b.id)
	b.timer.Stop()
	s.svc.batches.inflight.Add(-1)
	if release {
		s.svc.batches.bytes.Add(-b.bytes)
	}
	return true
}

// abandonBatch drops a batch its timeout ran out on.
func (s *stream) abandonBatch(b *stagedBatch) {
	s.staged.mu.Lock()
	dropped := s.dropBatchLocked(b, true)
	s.staged.mu.Unlock()
	if dropped {
		s.batchAbandoned(b.id, abandonTimeout)
	}
}

// The reasons of the abandoned-batch advisory.
const (
	abandonTimeout    = "timeout"
	abandonLarge      = "large"
	abandonIncomplete = "incomplete"
	// abandonUnsupported: a message required an API level Wisp lacks.
	abandonUnsupported = "unsupported"
)

const (
	advisoryBatchAbandoned = "$JS.EVENT.ADVISORY.STREAM.BATCH_ABANDONED."
	typeBatchAbandoned     = "io.nats.jetstream.advisory.v1.stream_batch_abandoned"
)

// batchAbandonedAdvisory is io.nats.jetstream.advisory.v1.stream_batch_abandoned.
type batchAbandonedAdvisory struct {
	Type   string    `json:"type"`
	ID     string    `json:"id"`
	Time   time.Time `json:"timestamp"`
	Stream string    `json:"stream"`
	Batch  string    `json:"batch"`
	Reason string    `json:"reason"`
}

// batchAbandoned sends the advisory for a batch dropped before its
// commit, as nats-server does, if anyone listens. No lock is held.
func (s *stream) batchAbandoned(id, reason string) {
	s.svc.advise(advisoryBatchAbandoned+s.name, func() any {
		return &batchAbandonedAdvisory{Type: typeBatchAbandoned, ID: nuid.Next(),
			Time: s.svc.clock.Now().UTC(), Stream: s.name, Batch: id, Reason: reason}
	})
}

// commitBatch proposes a complete batch as one operation; the PubAck is
// sent when it is committed (batchOp.Done).
func (s *stream) commitBatch(b *stagedBatch, reply string, answer bool) {
	o := opBatch{Now: s.svc.clock.Now().UnixNano(), ID: b.id, Msgs: b.msgs}
	op := &batchOp{s: s, enc: encodeOp(nil, "", &o), id: b.id, count: len(b.msgs), staged: b.bytes}
	if answer {
		op.reply = reply
	}
	s.st.Submit(op)
}

// batchOp carries a batch's commit through the store's writer.
type batchOp struct {
	s      *stream
	enc    []byte
	reply  string
	id     string
	count  int
	staged int64
	res    opResult
}

func (o *batchOp) Apply(b *store.Batch) error { return o.s.apply(b, o.enc, nil, &o.res) }

// Done wakes consumers, republishes and answers, as a publish's Done.
func (o *batchOp) Done(err error) {
	s := o.s
	s.settle(err)
	s.svc.batches.bytes.Add(-o.staged)
	if e := commitErr(err); e != nil && o.res.err == nil {
		o.res.err = e
	}
	if err == nil {
		for i := range o.res.stored {
			m := &o.res.stored[i]
			s.wakeConsumers(m.msg.Subject)
			s.republish(&m.msg, m.prevSubjSeq)
		}
	}
	if o.reply == "" || o.res.noAck {
		return
	}
	var ack []byte
	if o.res.err != nil {
		ack = s.appendErrAck(nil, o.res.err)
	} else {
		id, _ := json.Marshal(o.id)
		ack = append(ack, `{"stream":`...)
		ack = append(ack, s.nameJSON...)
		ack = append(ack, `,"seq":`...)
		ack = strconv.AppendUint(ack, o.res.seq, 10)
		ack = append(ack, `,"batch":`...)
		ack = append(ack, id...)
		ack = append(ack, `,"count":`...)
		ack = strconv.AppendInt(ack, int64(o.count), 10)
		ack = append(ack, '}')
	}
	_ = s.svc.broker.Publish(o.reply, "", nil, ack)
}

// commitErr is the PubAck error for a write that did not commit (nil
// when it did or was refused, whose reason is in the result).
func commitErr(err error) *APIError {
	switch {
	case err == nil, errors.Is(err, errRejected):
		return nil
	case errors.Is(err, store.ErrClosed):
		return apiErr(errStreamStoreFailed, "stream store is closed")
	case errors.Is(err, store.ErrNotApplied), errors.Is(err, store.ErrNoSpace), errors.Is(err, store.ErrFailed):
		return storeErr(errStreamStoreFailed, err)
	}
	return apiErr(errStreamStoreFailed, err)
}

// appendErrAck writes a refused publish's PubAck.
func (s *stream) appendErrAck(b []byte, e *APIError) []byte {
	j, _ := json.Marshal(e)
	b = append(b, `{"error":`...)
	b = append(b, j...)
	b = append(b, `,"stream":`...)
	b = append(b, s.nameJSON...)
	return append(b, `,"seq":0}`...)
}

package stream

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/wisp-mq/wisp/stream/store"
)

// opResult is what applying one operation answers its proposer.
type opResult struct {
	err     *APIError // refused: the operation changed nothing
	seq     uint64    // publish: the sequence given (a duplicate's: the original's)
	dup     bool      // publish: a duplicate, not stored again
	noAck   bool      // publish: the stream's no_ack
	subject []byte    // publish: the subject, for waking consumers after the commit
	purged  uint64    // purge: messages removed
	stream  *stream   // stream create: the stream made
	cons    *consumer // consumer create: the consumer made
	// msg is the message a publish stored, and prevSubjSeq its subject's
	// last sequence before it, for the republished copy (transform.go).
	msg         store.Msg
	prevSubjSeq uint64
	// counter is a counter's value after a publish (counter.go), for
	// the PubAck; stored lists a batch's messages (batch.go).
	counter string
	stored  []batchStored
}

// errRejected is an Apply's error for an operation refused before it
// changed anything (the reason is in opResult.err): a deterministic no-op
// that every replica would agree on.
var errRejected = errors.New("stream: operation rejected")

// apply is the stream's one entry point into its state machine: it
// decodes an operation (op.go) and applies it to the batch and to the
// state in memory, reading nothing but the stream's state, its store and
// the operation. It runs on the store's writer goroutine.
//
// For a consumer kind, c is the consumer when the proposer has it (a
// flush); otherwise the consumer is looked up by the name in the record,
// and the proposer holds the consumer set's lock (s.cons.mu) until the
// commit, which serialises changes to the set with the checks made
// before them. The kinds that change a consumer's acknowledgement state
// are applied by the consumer's driver (consumer_apply.go) on a stream
// that is not replicated, and come here only when a log is replayed; a
// replicated stream applies them here, from its log, on every replica.
func (s *stream) apply(b *store.Batch, enc []byte, c *consumer, res *opResult) error {
	k, consumer, r, err := opHeader(enc)
	if err != nil {
		res.err = apiErr(errBadRequest)
		return errRejected
	}
	if k == kindPublish {
		var o opPublish
		if o.decodeFields(&r); r.err != nil {
			res.err = apiErr(errBadRequest)
			return errRejected
		}
		s.record(enc)
		return s.applyPublish(b, &o, res)
	}
	return s.applyOther(b, enc, k, consumer, r, c, res)
}

// applyOther is apply for every kind but publish, apart so that the
// publish path's reader stays on the stack.
func (s *stream) applyOther(b *store.Batch, enc []byte, k opKind, consumer []byte, r opReader, c *consumer, res *opResult) error {
	if k == kindStreamCreate {
		res.err = apiErr(errStreamNameExist)
		return errRejected
	}
	if k.forConsumer() && k != kindConsumerCreate && c == nil {
		if c = s.cons.byName[string(consumer)]; c == nil {
			res.err = apiErr(errConsumerNotFound)
			return errRejected
		}
	}
	switch k {
	case kindAck, kindNak, kindTerm, kindProgress, kindDeliver, kindRedeliverDue, kindForget, kindConsumerReset,
		kindDeadLettered, kindDeadLetterHold, kindDeliverBatch, kindAckBatch:
		if s.repl != nil {
			// A replicated stream's consumers change only here, from the
			// log, on every replica (consumer_replicated.go).
			var out outbox
			c.applyLogged(enc, &out)
			if len(out.msgs) > 0 || len(out.dl) > 0 {
				go out.send(s.svc)
			}
			return nil
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		var out outbox
		c.applyLocked(enc, &out)
		return nil
	}
	o := newOp(k)
	if err := r.finish(o); err != nil {
		res.err = apiErr(errBadRequest)
		return errRejected
	}
	if k == kindConsumerFlush {
		// Recorded under the consumer's lock, where it reads the state
		// its driver's operations leave (applyFlush).
		return c.applyFlush(b, enc)
	}
	s.record(enc)
	switch o := o.(type) {
	case *opDeleteMsg:
		return s.applyDeleteMsg(b, o, res)
	case *opPurge:
		return s.applyPurge(b, o, res)
	case *opExpire:
		return s.applyExpire(b, o)
	case *opExpireTTL:
		return s.applyExpireTTL(b, o)
	case *opFireSchedules:
		return s.applyFireSchedules(b, o)
	case *opStreamUpdate:
		return s.applyUpdate(b, o, res)
	case *opStreamDelete:
		return s.applyDelete(b, res)
	case *opRemoveUnheld:
		return s.removeAcked(b, o.Seqs)
	case *opBatch:
		return s.applyBatch(b, o, res)
	case *opFastPublish:
		return s.applyFastPublish(b, o, res)
	case *opConsumerCreate:
		return s.applyConsumerCreate(b, string(consumer), o, res)
	}
	return s.applyConsumerDef(b, c, o, res)
}

// record hands an applied operation to the Service's recorder (tests).
func (s *stream) record(enc []byte) {
	if rec := s.svc.recordOp; rec != nil {
		rec(s.name, enc)
	}
}

// lockApply takes the stream's lock for applying an operation. A stream
// faulted by a failed commit (fault) is first rebuilt from its store, so
// no operation is ever applied to a state the store does not hold.
func (s *stream) lockApply() {
	s.mu.Lock()
	if s.faulted {
		s.faulted = false
		if err := s.rebuildLocked(); err != nil {
			s.svc.log.Error("rebuilding a faulted stream failed", "stream", s.name, "err", err)
		}
	}
}

// streamOp carries one encoded operation through the store's writer and
// tells its proposer how it went.
type streamOp struct {
	s       *stream
	enc     []byte
	res     opResult
	freeing bool // only removes data: let through on a full disk
	done    chan error
}

func (o *streamOp) Apply(b *store.Batch) error { return o.s.apply(b, o.enc, nil, &o.res) }
func (o *streamOp) FreesSpace() bool           { return o.freeing }

func (o *streamOp) Done(err error) {
	o.s.settle(err)
	if o.s.hasMarkersToWake() {
		o.s.wakeMarkers()
	}
	o.done <- err
}

// propose applies one operation of s through its store and waits for
// the commit. A refused operation returns the refusal in the result and
// a nil error; a failed commit returns the error, after the stream was
// rebuilt from its store (fault).
func (s *stream) propose(o operation, consumer string, freeing bool) (opResult, error) {
	op := &streamOp{s: s, enc: encodeOp(nil, consumer, o), freeing: freeing, done: make(chan error, 1)}
	s.st.Submit(op)
	err := <-op.done
	if errors.Is(err, errRejected) {
		return op.res, nil
	}
	if err != nil {
		// Rebuilt before the caller answers, so that what it reads next
		// is what the store holds. The consumers' definitions are
		// reconciled by the recovery fault started: the caller may hold
		// the consumer set's lock.
		s.rebuild()
	}
	return op.res, err
}

// settle is every applied operation's verdict, on the writer goroutine
// after its batch's commit: an operation applied to the state in memory
// whose batch did not commit faulted the stream.
func (s *stream) settle(err error) {
	if err == nil || errors.Is(err, errRejected) || errors.Is(err, store.ErrNotApplied) ||
		errors.Is(err, store.ErrClosed) {
		return
	}
	s.fault(err)
}

// fault marks the stream's memory as ahead of its store after a commit
// failed (or an apply failed half way). Nothing is undone: a failed
// local write is a fault of this instance of the stream, and the state is
// rebuilt from the store before the next operation is applied
// (lockApply), as a replica that cannot apply a committed entry must
// recover from its durable state rather than roll back. A recovery is
// queued so that a stream no operation reaches is rebuilt too.
func (s *stream) fault(err error) {
	s.mu.Lock()
	was := s.faulted
	s.faulted = true
	s.mu.Unlock()
	if !was {
		s.svc.log.Error("stream faulted; rebuilding it from its store", "stream", s.name, "err", err)
		// Not from the writer goroutine: Submit may block on a full queue.
		// Counted, so that Close waits for it before closing the store it
		// reads; once Close began none starts, and the stream stays
		// faulted: it is rebuilt from its store at the next start.
		s.svc.recoveries.start(s.recoverFault)
	}
}

// recoverFault rebuilds a faulted stream on the writer goroutine, between
// batches, and brings its consumers' definitions back in line with the
// store. It does nothing to a stream that is not faulted.
func (s *stream) recoverFault() {
	s.rebuild()
	s.reconcileConsumers()
}

// rebuild rebuilds the stream from its store if it is faulted, on the
// writer goroutine between batches. A store that refuses every write
// (failed, store/fault.go) applies nothing meanwhile, so then the rebuild
// is done here, from the data it still reads.
func (s *stream) rebuild() {
	op := &rebuildOp{s: s, done: make(chan error, 1)}
	s.st.Submit(op)
	if err := <-op.done; errors.Is(err, store.ErrNotApplied) {
		s.lockApply()
		s.mu.Unlock()
	}
}

// rebuildOp rebuilds a faulted stream on the writer. It writes nothing,
// so a full disk lets it through.
type rebuildOp struct {
	s    *stream
	done chan error
}

func (o *rebuildOp) Apply(*store.Batch) error {
	o.s.lockApply()
	o.s.mu.Unlock()
	return nil
}
func (o *rebuildOp) Done(err error)   { o.done <- err }
func (o *rebuildOp) FreesSpace() bool { return true }

// rebuildLocked re-reads the stream's definition and state from its
// store. Called with mu held, on the writer goroutine or before the
// stream is shared.
func (s *stream) rebuildLocked() error {
	var meta *streamMeta
	err := s.st.Reader().Metas(func(name string, value []byte, err error) error {
		if name != s.name || err != nil {
			return nil
		}
		m, err := decodeMeta(value)
		if err == nil && m.ID == s.id {
			meta = m
		}
		return nil
	})
	if err != nil {
		return err
	}
	if meta == nil {
		// Its deletion reached the store.
		s.deleted = true
		return nil
	}
	meta.Config.Storage = s.cfg.Storage
	s.cfg, s.deleted = meta.Config, false
	s.setShaping(&s.cfg)
	return s.loadLocked(s.svc.clock.Now())
}

// applyCreate defines a stream: stream create is applied by the Service,
// since the stream does not exist before it. group is a replicated
// stream's raft group (0 for a local stream), decided by the meta group.
func (svc *Service) applyCreate(b *store.Batch, st Store, enc []byte, group uint64, res *opResult) error {
	k, _, r, err := opHeader(enc)
	var o opStreamCreate
	if err == nil && k == kindStreamCreate {
		err = r.finish(&o)
	} else if err == nil {
		err = fmt.Errorf("%w: %v is not a stream create", errBadOp, k)
	}
	var meta *streamMeta
	if err == nil {
		meta = &streamMeta{Created: unixTime(o.Created), Group: group}
		err = json.Unmarshal(o.Config, &meta.Config)
	}
	if err != nil {
		res.err = apiErr(errBadRequest)
		return errRejected
	}
	if rec := svc.recordOp; rec != nil {
		rec(meta.Config.Name, enc)
	}
	if meta.ID, err = b.NextStreamID(); err != nil {
		return err
	}
	v, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	if err := b.PutMeta(meta.Config.Name, meta.ID, v); err != nil {
		return err
	}
	s := newStream(svc, st, meta)
	if first := meta.Config.FirstSeq; first > 1 {
		if err := b.SetLastSeq(meta.ID, first-1, 0); err != nil {
			return err
		}
		s.state.last = first - 1
	}
	s.state.first = s.state.last + 1
	res.stream = s
	return nil
}

// createOp carries a stream create through the writer.
type createOp struct {
	svc   *Service
	st    Store
	enc   []byte
	group uint64
	res   opResult
	done  chan error
}

func (o *createOp) Apply(b *store.Batch) error {
	return o.svc.applyCreate(b, o.st, o.enc, o.group, &o.res)
}
func (o *createOp) Done(err error) { o.done <- err }

// proposeCreate applies a stream create through st and waits for its
// commit.
func (svc *Service) proposeCreate(st Store, o *opStreamCreate, group uint64) (opResult, error) {
	op := &createOp{svc: svc, st: st, enc: encodeOp(nil, "", o), group: group, done: make(chan error, 1)}
	st.Submit(op)
	err := <-op.done
	if errors.Is(err, errRejected) {
		return op.res, nil
	}
	return op.res, err
}

package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble"
)

// Op is one unit of work for the writer. Apply runs on the writer
// goroutine, in submission order, against the batch being gathered; it must
// either write everything it means to or, when it returns an error, nothing.
// Done runs on the writer goroutine after the batch is committed (err nil)
// or failed (err is Apply's error, or the commit's error for every Op in a
// batch that failed to commit). Done must not block: it should hand results
// off (publish a reply, signal a channel) and return.
type Op interface {
	Apply(b *Batch) error
	Done(err error)
}

// Replayable is implemented by Ops whose effects another durable record
// rebuilds after a power loss: a replicated stream's committed entries,
// which its raft log holds, fsynced on a majority, and replays above the
// applied index the same batch records. In SyncAlways mode a batch of
// only such Ops is written to the log but not fsynced before they are
// done; the fsync it owes is paid by the next batch holding any other Op
// (before that Op is done: the log is written in order, so the fsync
// covers every earlier batch), by the SyncInterval tick, or at Close. The
// manifest is written only after paying it (writeManifestDurably), so it
// never claims what a power loss can take.
type Replayable interface {
	Replayable() bool
}

func replayable(op Op) bool {
	r, ok := op.(Replayable)
	return ok && r.Replayable()
}

// Submit queues op for the writer. It blocks only while the queue is full,
// which is the back-pressure a publisher should feel. After Close, op is
// done at once with ErrClosed.
func (s *Store) Submit(op Op) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		op.Done(ErrClosed)
		return
	}
	s.ops <- op
	s.mu.RUnlock()
}

// OpFunc adapts two functions to an Op, for rare operations where a
// closure's allocation does not matter.
type OpFunc struct {
	ApplyFn func(b *Batch) error
	DoneFn  func(err error)
}

func (o *OpFunc) Apply(b *Batch) error { return o.ApplyFn(b) }
func (o *OpFunc) Done(err error) {
	if o.DoneFn != nil {
		o.DoneFn(err)
	}
}

// Do runs apply through the writer and waits until its batch is committed,
// returning apply's error or the commit's.
func (s *Store) Do(apply func(b *Batch) error) error {
	ch := make(chan error, 1)
	s.Submit(&OpFunc{ApplyFn: apply, DoneFn: func(err error) { ch <- err }})
	return <-ch
}

// writeLoop is the only writer of the database: it gathers every Op queued
// at the moment, applies them to one batch, commits once, then reports.
func (s *Store) writeLoop() {
	defer close(s.done)
	defer s.clock.stop()
	maint := time.NewTicker(recoverEvery)
	defer maint.Stop()
	var tick <-chan time.Time
	if s.wal != nil || s.man != nil {
		t := time.NewTicker(s.opts.SyncInterval)
		defer t.Stop()
		tick = t.C
	}
	ops := make([]Op, 0, 64)
	errs := make([]error, 0, 64)
	for {
		select {
		case op := <-s.ops:
			ops = append(ops[:0], op)
		gather:
			for len(ops) < s.opts.MaxBatchOps {
				select {
				case op := <-s.ops:
					ops = append(ops, op)
				default:
					break gather
				}
			}
			errs = s.commit(ops, errs[:0])
			clear(ops)
		case <-tick:
			if s.wal != nil {
				s.syncWAL()
			}
			s.manifestTick()
		case now := <-maint.C:
			s.maintain(now)
		case <-s.quit:
			s.drain()
			return
		}
	}
}

// commit applies ops to one batch, commits it, and reports to each op.
// The store's gate (fault.go) may refuse ops before they are applied.
func (s *Store) commit(ops []Op, errs []error) []error {
	gate := s.gate(time.Now())
	if gate != nil && !errors.Is(gate, ErrNoSpace) {
		s.refused.Add(uint64(len(ops)))
		for _, op := range ops {
			op.Done(gate)
		}
		return errs
	}
	n := s.clock.beginBatch()
	b := &Batch{b: s.db.NewIndexedBatch(), st: s}
	defer func() {
		if !b.stuck { // else still in Pebble's hands, on a parked instance
			b.b.Close()
		}
	}()
	freeing, deferrable := true, true
	for _, op := range ops {
		if gate != nil && (!errors.Is(gate, ErrNoSpace) || !freesSpace(op)) {
			s.refused.Add(1)
			errs = append(errs, gate)
			continue
		}
		freeing = freeing && freesSpace(op)
		deferrable = deferrable && replayable(op)
		errs = append(errs, op.Apply(b))
	}
	var err error
	if !b.b.Empty() {
		err = s.commitBatch(b, freeing)
	}
	if err == nil && !deferrable {
		// Even after an empty batch: an Op may wait on purpose for what
		// earlier batches owe (a replicated stream's snapshot barrier).
		err = s.syncAfter()
	}
	if err != nil {
		err = fmt.Errorf("store: commit: %w", err)
		for i := range errs {
			if gate == nil || errs[i] != gate {
				errs[i] = err
			}
		}
	}
	// Before the Ops are told: what they applied is readable now (or the
	// batch failed, and the streams it touched are faulted).
	s.clock.finishBatch(n)
	for i, op := range ops {
		op.Done(errs[i])
	}
	return errs
}

// syncAfter pays, in SyncAlways mode, the log fsync the batch just
// committed owes, and any earlier Replayable batches left owing.
func (s *Store) syncAfter() error {
	if s.wal == nil || s.opts.Sync != SyncAlways {
		return nil
	}
	if err := s.wal.syncWALs(); err != nil {
		// What the log held may not be durable: refuse writes until a
		// reopen has replayed it (fault.go).
		s.markFailed(fmt.Errorf("sync: %w", err))
		return fmt.Errorf("%w: %w", ErrFailed, err)
	}
	return nil
}

// syncWAL pays the log fsyncs owed since the last tick.
func (s *Store) syncWAL() {
	if err := s.wal.syncWALs(); err != nil {
		// What the log held may not be durable: refuse writes until a
		// reopen has replayed it (fault.go).
		s.markFailed(fmt.Errorf("interval sync: %w", err))
	}
}

// drain fails every Op still queued; Close has stopped new ones arriving.
func (s *Store) drain() {
	for {
		select {
		case op := <-s.ops:
			op.Done(ErrClosed)
		default:
			return
		}
	}
}

// Batch is the writer's view of the batch being gathered. Its Reader sees
// committed data plus everything written to the batch so far.
type Batch struct {
	b     *pebble.Batch
	st    *Store
	key   []byte // scratch for keys
	rec   []byte // scratch for records
	stuck bool   // given up inside Pebble (fault.go): do not close
}

// Reader reads through the batch.
func (b *Batch) Reader() Reader { return Reader{r: b.b, st: b.st} }

// PutMsg stores m (m.Seq set) in stream id and indexes it by subject.
func (b *Batch) PutMsg(id uint32, m *Msg) error {
	b.rec = AppendRecord(b.rec[:0], m)
	b.key = msgKey(b.key[:0], id, m.Seq)
	if err := b.b.Set(b.key, b.rec, nil); err != nil {
		return err
	}
	b.st.man.noteSeq(id, m.Seq, m.Time)
	b.key = subjKey(b.key[:0], id, string(m.Subject), m.Seq)
	return b.b.Set(b.key, nil, nil)
}

// DeleteMsg removes message seq, whose subject is subject, and its index
// entry.
func (b *Batch) DeleteMsg(id uint32, seq uint64, subject []byte) error {
	b.key = msgKey(b.key[:0], id, seq)
	if err := b.b.Delete(b.key, nil); err != nil {
		return err
	}
	b.key = subjKey(b.key[:0], id, string(subject), seq)
	return b.b.Delete(b.key, nil)
}

// DeleteAllMsgs removes every message of stream id and the whole subject
// index with two range deletions, whatever the stream's size.
func (b *Batch) DeleteAllMsgs(id uint32) error {
	lo, hi := msgRange(id)
	if err := b.b.DeleteRange(lo, hi, nil); err != nil {
		return err
	}
	lo, hi = subjStreamRange(id)
	return b.b.DeleteRange(lo, hi, nil)
}

// SetLastSeq records stream id's last sequence and its time, so that they
// survive a restart even when the message holding them is gone (sequences
// never go back).
func (b *Batch) SetLastSeq(id uint32, seq uint64, ts int64) error {
	var v [16]byte
	binary.BigEndian.PutUint64(v[:8], seq)
	binary.BigEndian.PutUint64(v[8:], uint64(ts))
	b.st.man.noteSeq(id, seq, ts)
	return b.b.Set(stateKey(id), seal(nil, v[:]), nil)
}

// PutMeta stores the metadata of stream id under its name. The value must
// be a JSON object with the stream's id in a top-level "id" field, which is
// how a store reads ids back without knowing the rest.
func (b *Batch) PutMeta(name string, id uint32, value []byte) error {
	b.st.man.noteMeta(id, name, value)
	return b.b.Set(metaKey(name), seal(nil, value), nil)
}

// DropStream removes stream id and everything under it: metadata, messages,
// index, state and consumers.
func (b *Batch) DropStream(name string, id uint32) error {
	b.st.man.noteDrop(id)
	if err := b.b.Delete(metaKey(name), nil); err != nil {
		return err
	}
	if err := b.DeleteAllMsgs(id); err != nil {
		return err
	}
	if err := b.b.Delete(stateKey(id), nil); err != nil {
		return err
	}
	lo, hi := consumerRange(id)
	if err := b.b.DeleteRange(lo, hi, nil); err != nil {
		return err
	}
	lo, hi = sourceRange(id)
	return b.b.DeleteRange(lo, hi, nil)
}

// NextStreamID hands out a stream id never used before in this database.
func (b *Batch) NextStreamID() (uint32, error) {
	k := []byte{prefixNextID}
	id := uint32(1)
	v, closer, err := b.b.Get(k)
	switch {
	case err == nil:
		p, uerr := unseal(v, legacyNextID)
		if uerr == nil && len(p) == 4 {
			id = binary.BigEndian.Uint32(p)
		}
		closer.Close()
		if uerr != nil || len(p) != 4 {
			// Guessing could hand out an id still in use.
			b.st.corrupt.Add(1)
			return 0, fmt.Errorf("store: next stream id record: %w", errors.Join(uerr, ErrCorrupt))
		}
	case err != pebble.ErrNotFound:
		return 0, err
	}
	var nv [4]byte
	binary.BigEndian.PutUint32(nv[:], id+1)
	return id, b.b.Set(k, seal(nil, nv[:]), nil)
}

// PutRawMsg stores value as message seq of stream id without encoding or
// indexing it. It exists for tests that need a corrupt record on disk.
func (b *Batch) PutRawMsg(id uint32, seq uint64, value []byte) error {
	return b.b.Set(msgKey(nil, id, seq), value, nil)
}

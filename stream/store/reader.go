package store

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble"
)

// Reader reads messages either from committed data (Store.Reader) or from
// committed data plus the writes of a batch in progress (Batch.Reader).
// Every Msg it returns owns its bytes. Corrupt records are logged, counted
// and skipped, as if the message had been deleted.
type Reader struct {
	r  pebble.Reader
	st *Store
}

// Msg returns message seq of stream id, or ErrNotFound.
func (r Reader) Msg(id uint32, seq uint64) (*Msg, error) {
	src, h := r.src()
	defer h.release()
	v, closer, err := src.Get(msgKey(nil, id, seq))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: read stream %d seq %d: %w", id, seq, err)
	}
	defer closer.Close()
	m, err := r.decode(id, seq, v)
	if err != nil {
		return nil, ErrNotFound
	}
	return m, nil
}

// decode copies v and decodes it; a corrupt record is reported here once.
func (r Reader) decode(id uint32, seq uint64, v []byte) (*Msg, error) {
	m := &Msg{Seq: seq}
	if err := DecodeRecord(append([]byte(nil), v...), m); err != nil {
		r.st.corrupt.Add(1)
		r.st.log.Error("skipping corrupt stored message", "stream", r.st.man.streamName(id), "stream_id", id,
			"seq", seq, "dir", r.st.opts.Dir, "err", err)
		return nil, err
	}
	return m, nil
}

// Next returns the first readable message of stream id with a sequence of
// at least from, or ErrNotFound.
func (r Reader) Next(id uint32, from uint64) (*Msg, error) {
	var found *Msg
	err := r.Scan(id, from, func(m *Msg) bool { found = m; return false })
	if err == nil && found == nil {
		err = ErrNotFound
	}
	return found, err
}

// Scan calls fn for each readable message of stream id from sequence from
// upward, in order, until fn returns false.
func (r Reader) Scan(id uint32, from uint64, fn func(*Msg) bool) error {
	lo, hi := msgRange(id)
	return r.scan(id, msgKey(lo[:0], id, from), hi, false, fn)
}

// ScanBack calls fn for each readable message of stream id from sequence
// upto downward, until fn returns false.
func (r Reader) ScanBack(id uint32, upto uint64, fn func(*Msg) bool) error {
	lo, hi := msgRange(id)
	if upto != ^uint64(0) {
		hi = msgKey(nil, id, upto+1) // bounds are exclusive above
	}
	return r.scan(id, lo, hi, true, fn)
}

// scan walks the message keys of stream id in [lo, hi), forward or
// backward, passing over records that do not decode (they are counted when
// the stream is recovered).
func (r Reader) scan(id uint32, lo, hi []byte, backward bool, fn func(*Msg) bool) error {
	src, h := r.src()
	defer h.release()
	it, err := src.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("store: scan stream %d: %w", id, err)
	}
	defer it.Close()
	first, next := it.First, it.Next
	if backward {
		first, next = it.Last, it.Prev
	}
	for ok := first(); ok; ok = next() {
		seq, valid := seqOfMsgKey(it.Key())
		if !valid {
			continue
		}
		m, err := r.decode(id, seq, it.Value())
		if err != nil {
			continue
		}
		if !fn(m) {
			break
		}
	}
	return it.Error()
}

// SubjectSeqs calls fn with the sequences of subject's messages in stream
// id, from sequence from upward, until fn returns false. It reads only the
// subject index.
func (r Reader) SubjectSeqs(id uint32, subject string, from uint64, fn func(seq uint64) bool) error {
	lo, hi := subjRange(id, subject)
	lo = subjKey(lo[:0], id, subject, from)
	src, h := r.src()
	defer h.release()
	it, err := src.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("store: scan subject: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if seq, valid := seqOfSubjKey(it.Key()); valid && !fn(seq) {
			break
		}
	}
	return it.Error()
}

// LastSubjectSeq returns the highest sequence stored for subject in stream
// id, or ErrNotFound.
func (r Reader) LastSubjectSeq(id uint32, subject string) (uint64, error) {
	lo, hi := subjRange(id, subject)
	src, h := r.src()
	defer h.release()
	it, err := src.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, fmt.Errorf("store: scan subject: %w", err)
	}
	defer it.Close()
	for ok := it.Last(); ok; ok = it.Prev() {
		if seq, valid := seqOfSubjKey(it.Key()); valid {
			return seq, nil
		}
	}
	if err := it.Error(); err != nil {
		return 0, err
	}
	return 0, ErrNotFound
}

// LastSeqMark returns the last sequence and time recorded for stream id by
// SetLastSeq, or zeros.
func (r Reader) LastSeqMark(id uint32) (seq uint64, ts int64, err error) {
	src, h := r.src()
	defer h.release()
	v, closer, err := src.Get(stateKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	defer closer.Close()
	v, err = unseal(v, legacyState)
	if err == nil && len(v) != 16 {
		err = fmt.Errorf("%w: %d bytes", ErrCorrupt, len(v))
	}
	if err != nil {
		r.st.corrupt.Add(1)
		return 0, 0, fmt.Errorf("stream %d state record: %w", id, err)
	}
	return beUint64(v[:8]), int64(beUint64(v[8:])), nil
}

// Metas calls fn with every stream metadata record (name, value). The value
// is only valid during the call. A record whose seal fails is passed with
// a nil value and an error wrapping ErrCorrupt, so the caller can name the
// stream it cannot read.
func (r Reader) Metas(fn func(name string, value []byte, err error) error) error {
	src, h := r.src()
	defer h.release()
	it, err := src.NewIter(&pebble.IterOptions{
		LowerBound: []byte{prefixMeta}, UpperBound: []byte{prefixMeta + 1},
	})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		v, err := unseal(it.Value(), legacyMeta)
		if err != nil {
			r.st.corrupt.Add(1)
			err = fmt.Errorf("stream %q definition: %w", it.Key()[1:], err)
		}
		if err := fn(string(it.Key()[1:]), v, err); err != nil {
			return err
		}
	}
	return it.Error()
}

func beUint64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

// src is what r reads from: the batch, or the store's database, held
// against a reopen (fault.go) until h.release.
func (r Reader) src() (src pebble.Reader, h held) {
	if r.r != nil {
		return r.r, held{}
	}
	r.st.dbMu.RLock()
	return r.st.rd, held{&r.st.dbMu}
}

// held is a read hold on a store's database.
type held struct{ mu *sync.RWMutex }

func (h held) release() {
	if h.mu != nil {
		h.mu.RUnlock()
	}
}

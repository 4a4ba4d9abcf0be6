package store

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble"
)

// Consumer state lives in the range keys.go reserves for it, under the
// stream's id, so that DropStream removes a stream's consumers with it:
//
//	consumer | id(4) | name | 0x00 | 'c'            -> consumer definition (opaque)
//	consumer | id(4) | name | 0x00 | 's'            -> consumer state (opaque)
//	consumer | id(4) | name | 0x00 | 'p' | seq(8)   -> one pending (unacked) message
//
// A consumer name never holds 0x00, so "a" and "ab" stay apart. Pending
// messages are one key each so that an ack is one small delete, whatever
// the number of messages pending; the state key holds only fixed-size
// counters.
const (
	consumerMetaKind    byte = 'c'
	consumerStateKind   byte = 's'
	consumerPendingKind byte = 'p'
)

func consumerPrefix(dst []byte, id uint32, name string) []byte {
	dst = append(dst, prefixConsumer)
	dst = binary.BigEndian.AppendUint32(dst, id)
	dst = append(dst, name...)
	return append(dst, 0)
}

func consumerKey(dst []byte, id uint32, name string, kind byte) []byte {
	return append(consumerPrefix(dst, id, name), kind)
}

func pendingKey(dst []byte, id uint32, name string, seq uint64) []byte {
	dst = consumerKey(dst, id, name, consumerPendingKind)
	return binary.BigEndian.AppendUint64(dst, seq)
}

// Pending is one delivered, unacknowledged message of a consumer.
type Pending struct {
	Seq   uint64 // stream sequence (the key)
	DSeq  uint64 // consumer sequence of its first delivery
	Count uint64 // deliveries so far
	TS    int64  // unix nanos of the last delivery
	// Due is what the consumer decided about its redelivery (opaque
	// here: a deadline, or a mark for none). 0 in a record written
	// before it was stored, which held 24 bytes.
	Due int64
}

// pendingLen is a pending value's size; legacyPending's 24 bytes have no
// Due.
const pendingLen = 32

// PutConsumerMeta stores the definition of consumer name of stream id.
func (b *Batch) PutConsumerMeta(id uint32, name string, value []byte) error {
	b.st.man.noteConsumer(id, name, value)
	return b.b.Set(consumerKey(nil, id, name, consumerMetaKind), seal(nil, value), nil)
}

// PutConsumerState stores the fixed-size state record of a consumer.
func (b *Batch) PutConsumerState(id uint32, name string, value []byte) error {
	b.key = consumerKey(b.key[:0], id, name, consumerStateKind)
	b.rec = seal(b.rec[:0], value)
	return b.b.Set(b.key, b.rec, nil)
}

// PutPending records (or replaces) one pending message of a consumer.
func (b *Batch) PutPending(id uint32, name string, p Pending) error {
	var v [pendingLen]byte
	binary.BigEndian.PutUint64(v[0:], p.DSeq)
	binary.BigEndian.PutUint64(v[8:], p.Count)
	binary.BigEndian.PutUint64(v[16:], uint64(p.TS))
	binary.BigEndian.PutUint64(v[24:], uint64(p.Due))
	b.key = pendingKey(b.key[:0], id, name, p.Seq)
	b.rec = seal(b.rec[:0], v[:])
	return b.b.Set(b.key, b.rec, nil)
}

// DeletePending forgets one pending message of a consumer.
func (b *Batch) DeletePending(id uint32, name string, seq uint64) error {
	b.key = pendingKey(b.key[:0], id, name, seq)
	return b.b.Delete(b.key, nil)
}

// DeleteAllPending forgets every pending message of a consumer.
func (b *Batch) DeleteAllPending(id uint32, name string) error {
	lo := consumerKey(nil, id, name, consumerPendingKind)
	hi := consumerKey(nil, id, name, consumerPendingKind+1)
	return b.b.DeleteRange(lo, hi, nil)
}

// DropConsumer removes a consumer's definition, state and pending set.
func (b *Batch) DropConsumer(id uint32, name string) error {
	b.st.man.noteConsumerDrop(id, name)
	lo := consumerPrefix(nil, id, name)
	hi := append([]byte(nil), lo...)
	hi[len(hi)-1] = 1
	return b.b.DeleteRange(lo, hi, nil)
}

// unsealAt unseals one consumer value, logging and counting a bad one with
// its location (stream id, consumer, which record).
func (r Reader) unsealAt(v []byte, legacy legacyRule, id uint32, consumer, what string) ([]byte, error) {
	p, err := unseal(v, legacy)
	if err != nil {
		r.st.corrupt.Add(1)
		r.st.log.Error("skipping corrupt consumer record", "stream_id", id, "consumer", consumer,
			"record", what, "err", err)
	}
	return p, err
}

// StoredConsumer is what Consumers finds of one consumer on disk.
type StoredConsumer struct {
	Name    string
	Meta    []byte
	State   []byte // nil when never written
	Pending []Pending
}

// Consumers returns every consumer stored for stream id. A pending record
// of the wrong size is counted as corrupt and skipped.
func (r Reader) Consumers(id uint32) ([]*StoredConsumer, error) {
	lo, hi := consumerRange(id)
	src, h := r.src()
	defer h.release()
	it, err := src.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, fmt.Errorf("store: scan consumers: %w", err)
	}
	defer it.Close()
	var out []*StoredConsumer
	var cur *StoredConsumer
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()[5:]
		z := indexZero(k)
		if z < 0 || z+1 >= len(k) {
			continue
		}
		name, kind, rest := string(k[:z]), k[z+1], k[z+2:]
		if cur == nil || cur.Name != name {
			cur = &StoredConsumer{Name: name}
			out = append(out, cur)
		}
		v := it.Value()
		switch kind {
		case consumerMetaKind:
			if p, err := r.unsealAt(v, legacyConsumerMeta, id, name, "definition"); err == nil {
				cur.Meta = append([]byte(nil), p...)
			}
		case consumerStateKind:
			if p, err := r.unsealAt(v, legacyConsumerState, id, name, "state"); err == nil {
				cur.State = append([]byte(nil), p...)
			}
		case consumerPendingKind:
			p, err := r.unsealAt(v, legacyPending, id, name, "pending entry")
			if err != nil {
				continue
			}
			v = p
			if len(rest) != 8 || len(v) != 24 && len(v) != pendingLen {
				r.st.corrupt.Add(1)
				r.st.log.Error("skipping corrupt consumer record", "stream_id", id, "consumer", name,
					"record", "pending entry", "size", len(v))
				continue
			}
			pe := Pending{Seq: beUint64(rest), DSeq: beUint64(v[0:]), Count: beUint64(v[8:]), TS: int64(beUint64(v[16:]))}
			if len(v) == pendingLen {
				pe.Due = int64(beUint64(v[24:]))
			}
			cur.Pending = append(cur.Pending, pe)
		}
	}
	return out, it.Error()
}

func indexZero(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// CountMsgs counts the messages of stream id with a sequence of at least
// from, reading keys only.
func (r Reader) CountMsgs(id uint32, from uint64) (uint64, error) {
	lo, hi := msgRange(id)
	lo = msgKey(lo[:0], id, from)
	src, h := r.src()
	defer h.release()
	it, err := src.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	var n uint64
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	return n, it.Error()
}

// CountSubject counts the messages on one subject of stream id with a
// sequence of at least from, reading the subject index only.
func (r Reader) CountSubject(id uint32, subject string, from uint64) (uint64, error) {
	var n uint64
	err := r.SubjectSeqs(id, subject, from, func(uint64) bool { n++; return true })
	return n, err
}

// Msgs calls fn with each readable message of stream id among seqs (in
// ascending order), through one iterator, until fn returns false. Missing
// and corrupt messages are skipped.
func (r Reader) Msgs(id uint32, seqs []uint64, fn func(*Msg) bool) error {
	if len(seqs) == 0 {
		return nil
	}
	lo, hi := msgRange(id)
	src, h := r.src()
	defer h.release()
	it, err := src.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("store: read stream %d: %w", id, err)
	}
	defer it.Close()
	var key []byte
	positioned, last := false, uint64(0)
	for _, seq := range seqs {
		// Runs of consecutive sequences step the iterator instead of
		// seeking: most redeliveries are runs.
		var valid bool
		if positioned && seq == last+1 {
			valid = it.Next()
		} else {
			key = msgKey(key[:0], id, seq)
			valid = it.SeekGE(key)
		}
		if !valid {
			break
		}
		got, ok := seqOfMsgKey(it.Key())
		// When seq is missing the iterator sits on a later message; the
		// next sequence seeks again.
		positioned, last = ok && got == seq, got
		if !positioned {
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

package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Operations are the state machine's input (doc.go): every change to a
// stream or one of its consumers is one of the values below, stamped by
// whoever proposes it (today the local node, later a replication leader)
// with everything that must be decided once for every replica: times,
// deadlines, cut-offs, names, positions. The stream's apply (apply.go)
// and a consumer's (consumer_apply.go) read nothing else.
//
// # Encoding (version 1)
//
//	byte 0     opVersion
//	byte 1     kind
//	consumer   the consumer's name (length-prefixed), for consumer kinds only
//	fields     in the order each kind's encode writes them: unsigned
//	           integers as uvarints, signed ones (unix nanoseconds) as
//	           varints, byte strings length-prefixed by a uvarint; a
//	           publish's payload is the rest of the record.
//
// The stream an operation is for is not in it: each stream will have a
// log of its own. A decoder refuses an unknown version or kind, a
// truncated field and trailing bytes.

// opVersion is the encoding's version; a change to any kind's fields
// takes a new one.
const opVersion = 1

// opKind says which operation a record holds.
type opKind uint8

// Operation kinds. The numbers are part of the encoding: never reuse one.
const (
	kindPublish        opKind = 1
	kindDeleteMsg      opKind = 2
	kindPurge          opKind = 3
	kindExpire         opKind = 4
	kindStreamCreate   opKind = 5
	kindStreamUpdate   opKind = 6
	kindStreamDelete   opKind = 7
	kindConsumerCreate opKind = 8
	kindConsumerUpdate opKind = 9
	kindConsumerRemove opKind = 10
	kindConsumerPause  opKind = 11
	kindConsumerReset  opKind = 12
	kindAck            opKind = 13
	kindNak            opKind = 14
	kindTerm           opKind = 15
	kindProgress       opKind = 16
	kindDeliver        opKind = 17
	kindRedeliverDue   opKind = 18
	kindForget         opKind = 19
	kindConsumerFlush  opKind = 20
	kindRemoveUnheld   opKind = 21
	kindBatch          opKind = 22
	kindDeadLettered   opKind = 23
	kindDeadLetterHold opKind = 24
	kindExpireTTL      opKind = 25
	kindFireSchedules  opKind = 26
	kindFastPublish    opKind = 27
	kindDeliverBatch   opKind = 28
	kindAckBatch       opKind = 29
	kindLast                  = kindAckBatch
)

var kindNames = [...]string{"", "publish", "delete-msg", "purge", "expire", "stream-create", "stream-update",
	"stream-delete", "consumer-create", "consumer-update", "consumer-remove", "consumer-pause", "consumer-reset",
	"ack", "nak", "term", "progress", "deliver", "redeliver-due", "forget", "consumer-flush",
	"remove-unheld", "batch", "dead-lettered", "dead-letter-hold", "expire-ttl", "fire-schedules", "fast-publish",
	"deliver-batch", "ack-batch"}

func (k opKind) String() string {
	if k >= 1 && k <= kindLast {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// forConsumer reports whether records of kind k name a consumer.
func (k opKind) forConsumer() bool {
	return k >= kindConsumerCreate && k <= kindConsumerFlush || k == kindDeadLettered || k == kindDeadLetterHold ||
		k == kindDeliverBatch || k == kindAckBatch
}

// operation is one decoded operation.
type operation interface {
	kind() opKind
	encodeFields(w *opWriter)
	decodeFields(r *opReader)
}

// errBadOp wraps every decoding failure.
var errBadOp = errors.New("stream: malformed operation")

// encodeOp appends o's record to dst; consumer is ignored for stream kinds.
func encodeOp(dst []byte, consumer string, o operation) []byte {
	w := opWriter(append(dst, opVersion, byte(o.kind())))
	if o.kind().forConsumer() {
		w.str(consumer)
	}
	o.encodeFields(&w)
	return w
}

// opHeader reads a record's kind and, for consumer kinds, the consumer's
// name (a slice of b), and returns a reader positioned on the fields.
func opHeader(b []byte) (k opKind, consumer []byte, r opReader, err error) {
	if len(b) < 2 {
		return 0, nil, r, fmt.Errorf("%w: %d bytes", errBadOp, len(b))
	}
	if b[0] != opVersion {
		return 0, nil, r, fmt.Errorf("%w: version %d", errBadOp, b[0])
	}
	k = opKind(b[1])
	if k < 1 || k > kindLast {
		return 0, nil, r, fmt.Errorf("%w: %v", errBadOp, k)
	}
	r = opReader{b: b[2:]}
	if k.forConsumer() {
		consumer = r.bytes()
		if r.err == nil && len(consumer) == 0 {
			r.err = fmt.Errorf("%w: no consumer name", errBadOp)
		}
	}
	return k, consumer, r, r.err
}

// newOp returns an empty operation of kind k.
func newOp(k opKind) operation {
	switch k {
	case kindPublish:
		return &opPublish{}
	case kindDeleteMsg:
		return &opDeleteMsg{}
	case kindPurge:
		return &opPurge{}
	case kindExpire:
		return &opExpire{}
	case kindStreamCreate:
		return &opStreamCreate{}
	case kindStreamUpdate:
		return &opStreamUpdate{}
	case kindStreamDelete:
		return &opStreamDelete{}
	case kindConsumerCreate:
		return &opConsumerCreate{}
	case kindConsumerUpdate:
		return &opConsumerUpdate{}
	case kindConsumerRemove:
		return &opConsumerRemove{}
	case kindConsumerPause:
		return &opConsumerPause{}
	case kindConsumerReset:
		return &opConsumerReset{}
	case kindAck:
		return &opAck{}
	case kindNak:
		return &opNak{}
	case kindTerm:
		return &opTerm{}
	case kindProgress:
		return &opProgress{}
	case kindDeliver:
		return &opDeliver{}
	case kindRedeliverDue:
		return &opRedeliverDue{}
	case kindForget:
		return &opForget{}
	case kindConsumerFlush:
		return &opConsumerFlush{}
	case kindRemoveUnheld:
		return &opRemoveUnheld{}
	case kindBatch:
		return &opBatch{}
	case kindDeadLettered:
		return &opDeadLettered{}
	case kindDeadLetterHold:
		return &opDeadLetterHold{}
	case kindExpireTTL:
		return &opExpireTTL{}
	case kindFireSchedules:
		return &opFireSchedules{}
	case kindFastPublish:
		return &opFastPublish{}
	case kindDeliverBatch:
		return &opDeliverBatch{}
	case kindAckBatch:
		return &opAckBatch{}
	}
	return nil
}

// decodeOp decodes one record. Byte fields of the result alias b.
func decodeOp(b []byte) (consumer []byte, o operation, err error) {
	k, consumer, r, err := opHeader(b)
	if err != nil {
		return nil, nil, err
	}
	o = newOp(k)
	if err := r.finish(o); err != nil {
		return nil, nil, err
	}
	return consumer, o, nil
}

// opWriter appends fields to a record.
type opWriter []byte

func (w *opWriter) u(v uint64)     { *w = binary.AppendUvarint(*w, v) }
func (w *opWriter) i(v int64)      { *w = binary.AppendVarint(*w, v) }
func (w *opWriter) bytes(b []byte) { w.u(uint64(len(b))); *w = append(*w, b...) }
func (w *opWriter) str(s string)   { w.u(uint64(len(s))); *w = append(*w, s...) }
func (w *opWriter) flag(v bool) {
	if v {
		*w = append(*w, 1)
	} else {
		*w = append(*w, 0)
	}
}
func (w *opWriter) seqs(v []uint64) {
	w.u(uint64(len(v)))
	for _, s := range v {
		w.u(s)
	}
}

// opReader reads fields; the first failure sticks in err and every later
// read returns a zero value.
type opReader struct {
	b   []byte
	err error
}

func (r *opReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: bad %s", errBadOp, what)
	}
	r.b = nil
}

func (r *opReader) u() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("unsigned field")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *opReader) i() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("signed field")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *opReader) bytes() []byte {
	n := r.u()
	if r.err != nil || n > uint64(len(r.b)) {
		r.fail("length")
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *opReader) str() string { return string(r.bytes()) }

func (r *opReader) flag() bool {
	if len(r.b) == 0 || r.b[0] > 1 {
		r.fail("flag")
		return false
	}
	v := r.b[0] == 1
	r.b = r.b[1:]
	return v
}

func (r *opReader) seqs() []uint64 {
	n := r.u()
	if r.err != nil || n > uint64(len(r.b)) { // each takes at least a byte
		r.fail("sequence list")
		return nil
	}
	v := make([]uint64, 0, n)
	for range n {
		v = append(v, r.u())
	}
	return v
}

// rest returns what is left, for a publish's payload.
func (r *opReader) rest() []byte {
	v := r.b
	r.b = nil
	return v
}

// finish decodes o's fields and refuses trailing bytes.
func (r *opReader) finish(o operation) error {
	o.decodeFields(r)
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%w: %d trailing bytes after %v", errBadOp, len(r.b), o.kind())
	}
	return r.err
}

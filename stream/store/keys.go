package store

import "encoding/binary"

// Key prefixes. One byte each so that each kind of key is one contiguous
// range; the values are part of the on-disk format and must not change.
const (
	prefixMeta     byte = 0x01 // meta | name
	prefixMsg      byte = 0x02 // msg | id(4) | seq(8)
	prefixSubj     byte = 0x03 // subj | id(4) | subject | 0x00 | seq(8)
	prefixState    byte = 0x04 // state | id(4)
	prefixNextID   byte = 0x05 // the next stream id to hand out
	prefixConsumer byte = 0x06 // reserved for consumer state: consumer | id(4) | ...
	prefixSource   byte = 0x07 // source | id(4) | source key: a source's progress (source_keys.go)
)

// msgKey appends the key of message seq in stream id to dst.
func msgKey(dst []byte, id uint32, seq uint64) []byte {
	dst = append(dst, prefixMsg)
	dst = binary.BigEndian.AppendUint32(dst, id)
	return binary.BigEndian.AppendUint64(dst, seq)
}

// msgRange returns the bounds [lo, hi) of stream id's messages.
func msgRange(id uint32) (lo, hi []byte) {
	lo = msgKey(nil, id, 0)
	hi = append([]byte{prefixMsg}, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(hi[1:], id+1)
	if id == ^uint32(0) {
		hi = []byte{prefixMsg + 1}
	}
	return lo, hi
}

// seqOfMsgKey extracts the sequence from a message key; ok is false for a
// key that is not one.
func seqOfMsgKey(k []byte) (uint64, bool) {
	if len(k) != 13 || k[0] != prefixMsg {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[5:]), true
}

// subjKey appends the index key of (subject, seq) in stream id to dst. The
// 0x00 after the subject keeps "a" and "a.b" apart: subjects never hold it.
func subjKey(dst []byte, id uint32, subject string, seq uint64) []byte {
	dst = subjPrefix(dst, id, subject)
	return binary.BigEndian.AppendUint64(dst, seq)
}

func subjPrefix(dst []byte, id uint32, subject string) []byte {
	dst = append(dst, prefixSubj)
	dst = binary.BigEndian.AppendUint32(dst, id)
	dst = append(dst, subject...)
	return append(dst, 0)
}

// subjRange returns the bounds [lo, hi) of one subject's index entries.
func subjRange(id uint32, subject string) (lo, hi []byte) {
	lo = subjPrefix(nil, id, subject)
	hi = append([]byte(nil), lo...)
	hi[len(hi)-1] = 1
	return lo, hi
}

// subjStreamRange returns the bounds of stream id's whole subject index.
func subjStreamRange(id uint32) (lo, hi []byte) {
	lo = append([]byte{prefixSubj}, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(lo[1:], id)
	hi = append([]byte{prefixSubj}, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(hi[1:], id+1)
	if id == ^uint32(0) {
		hi = []byte{prefixSubj + 1}
	}
	return lo, hi
}

// seqOfSubjKey extracts the sequence from the last 8 bytes of an index key.
func seqOfSubjKey(k []byte) (uint64, bool) {
	if len(k) < 1+4+1+8 || k[0] != prefixSubj || k[len(k)-9] != 0 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[len(k)-8:]), true
}

func stateKey(id uint32) []byte {
	k := []byte{prefixState, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(k[1:], id)
	return k
}

func metaKey(name string) []byte {
	return append([]byte{prefixMeta}, name...)
}

// consumerRange returns the bounds of the key range reserved for the
// consumers of stream id; DropStream clears it with the stream.
func consumerRange(id uint32) (lo, hi []byte) {
	lo = append([]byte{prefixConsumer}, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(lo[1:], id)
	hi = append([]byte{prefixConsumer}, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(hi[1:], id+1)
	if id == ^uint32(0) {
		hi = []byte{prefixConsumer + 1}
	}
	return lo, hi
}

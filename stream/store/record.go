package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// ErrCorrupt marks bytes read from disk that do not decode: a torn write,
// flipped bits, or a record from an unknown format version. Callers test for
// it with errors.Is and skip the record.
var ErrCorrupt = errors.New("store: corrupt record")

// recordVersion is the first byte of every message record; a reader refuses
// versions it does not know rather than guess at their layout.
const recordVersion = 1

// crcTable is Castagnoli, which modern CPUs compute in hardware.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Msg is one stored message. Its slices point into the buffer it was
// decoded from: copy them to keep them past that buffer's lifetime.
type Msg struct {
	Seq     uint64
	Time    int64 // unix nanoseconds, set when stored
	Subject []byte
	Header  []byte // full NATS header block, or nil
	Data    []byte
}

// Size is the accounting size of a message, the same formula for every
// storage type so that max_bytes means the same thing for file and memory
// streams: subject, headers and payload plus a fixed 16-byte overhead.
func (m *Msg) Size() uint64 { return MsgSize(len(m.Subject), len(m.Header), len(m.Data)) }

// MsgSize is Msg.Size for a message not yet built.
func MsgSize(subj, hdr, data int) uint64 { return uint64(subj + hdr + data + 16) }

// The record layout:
//
//	version(1) | time(8, big endian) | uvarint len(subject) | subject |
//	uvarint len(header) | header | data | crc32c(4) of everything before
//
// The sequence lives in the key, not the record.
const recordFixed = 1 + 8 + 4

// AppendRecord appends the encoded record of m (without its Seq) to dst.
func AppendRecord(dst []byte, m *Msg) []byte {
	start := len(dst)
	dst = append(dst, recordVersion)
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.Time))
	dst = binary.AppendUvarint(dst, uint64(len(m.Subject)))
	dst = append(dst, m.Subject...)
	dst = binary.AppendUvarint(dst, uint64(len(m.Header)))
	dst = append(dst, m.Header...)
	dst = append(dst, m.Data...)
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], crcTable))
}

// RecordLen is the encoded length of m, for sizing buffers up front.
func RecordLen(m *Msg) int {
	return recordFixed + uvarintLen(len(m.Subject)) + len(m.Subject) +
		uvarintLen(len(m.Header)) + len(m.Header) + len(m.Data)
}

func uvarintLen(n int) int {
	l := 1
	for n >= 0x80 {
		n >>= 7
		l++
	}
	return l
}

// DecodeRecord decodes rec into m, leaving m.Seq alone. m's slices alias
// rec. Any malformed input yields an error wrapping ErrCorrupt.
func DecodeRecord(rec []byte, m *Msg) error {
	if len(rec) < recordFixed+2 {
		return fmt.Errorf("%w: %d bytes is too short", ErrCorrupt, len(rec))
	}
	body := rec[:len(rec)-4]
	if got, want := crc32.Checksum(body, crcTable), binary.BigEndian.Uint32(rec[len(rec)-4:]); got != want {
		return fmt.Errorf("%w: checksum %08x, want %08x", ErrCorrupt, got, want)
	}
	if body[0] != recordVersion {
		return fmt.Errorf("%w: unknown version %d", ErrCorrupt, body[0])
	}
	m.Time = int64(binary.BigEndian.Uint64(body[1:9]))
	rest := body[9:]
	var err error
	if m.Subject, rest, err = lengthPrefixed(rest, "subject"); err != nil {
		return err
	}
	if m.Header, rest, err = lengthPrefixed(rest, "header"); err != nil {
		return err
	}
	if len(m.Header) == 0 {
		m.Header = nil
	}
	m.Data = rest
	return nil
}

// lengthPrefixed splits a uvarint-prefixed field off the front of b.
func lengthPrefixed(b []byte, what string) (field, rest []byte, err error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return nil, nil, fmt.Errorf("%w: bad %s length", ErrCorrupt, what)
	}
	end := w + int(n)
	return b[w:end:end], b[end:], nil
}

package stream

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/wisp-mq/wisp/stream/store"
)

// A stream archive is what a snapshot sends and a restore reads back: one
// stream, its messages and (optionally) its consumers, in Wisp's own
// format. The nats CLI stores it as bytes it does not look into, except
// that it decompresses it as an s2 stream to count progress, so the whole
// archive is one s2 (framed, block-checksummed) stream. Inside:
//
//	magic "WISPARC" | version(1)
//	record*: kind(1) | uvarint len | payload(len) | crc32c(4) of kind, len and payload
//
// The records come in this order, which the reader enforces:
//
//	'H' once: JSON archiveHeader (the stream's definition and last sequence)
//	'M' per message, in increasing sequence: seq(8, big endian) | the store's message record (own crc)
//	'C' per consumer: JSON archiveConsumer, then its 'Q' (or 'P') records
//	'Q' pending entries of the consumer before: seq, dseq, count, ts, due (8 bytes each), at most archivePendingPerRecord
//	'P' the same without due, as archives were written before it was kept (read, no longer written)
//	'E' once, last: messages(8) | consumers(8) | crc32c(4) of every byte before this record
//
// Nothing may follow 'E'. So an archive cut short anywhere lacks its end
// record, and a changed byte fails a block, record or end checksum:
// either way the reader refuses it before a restore has made anything of
// it visible. The reader holds one record at a time, whatever the size of
// the stream.
const (
	archiveMagic   = "WISPARC"
	archiveVersion = 1

	recHeader   byte = 'H'
	recMsg      byte = 'M'
	recConsumer byte = 'C'
	recPending  byte = 'P'
	recPending2 byte = 'Q'
	recEnd      byte = 'E'

	// archiveMaxRecord bounds one record: a message of the largest
	// payload NATS allows (64 MiB) with its subject and headers.
	archiveMaxRecord = 65<<20 + 1<<16
	// archivePendingPerRecord is how many pending entries one 'P' record
	// holds, so that a consumer with a large pending set stays in small
	// records.
	archivePendingPerRecord = 4096
	// archiveBlockSize is the s2 block size of the writer, and the
	// largest the reader accepts (bounding its buffers).
	archiveBlockSize = 1 << 20
)

// crcTable is Castagnoli, as the store's records use.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errArchive marks an archive that is damaged, truncated or not Wisp's.
var errArchive = errors.New("damaged or unrecognised archive")

func archiveErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errArchive, fmt.Sprintf(format, args...))
}

// archiveHeader describes the stream as it was when the snapshot was
// taken. The restore request carries the config in force; this one is
// informative, except LastSeq and LastTime, which keep sequences from
// going back when the newest messages were deleted.
type archiveHeader struct {
	Config   Config    `json:"config"`
	Created  time.Time `json:"created"`
	FirstSeq uint64    `json:"first_seq"`
	LastSeq  uint64    `json:"last_seq"`
	LastTime int64     `json:"last_time"` // unix nanos
	Msgs     uint64    `json:"messages"`
	Bytes    uint64    `json:"bytes"`
	Taken    time.Time `json:"taken"`
	Server   string    `json:"server,omitempty"`
}

// archiveConsumer is one consumer: its stored definition (consumerMeta's
// JSON) and state record, as the store holds them.
type archiveConsumer struct {
	Name  string          `json:"name"`
	Meta  json.RawMessage `json:"meta"`
	State []byte          `json:"state,omitempty"`
}

// archiveEnd is what the end record says.
type archiveEnd struct {
	Msgs, Consumers uint64
}

// archiveWriter writes an archive to an io.Writer through an s2 encoder.
type archiveWriter struct {
	zw   *s2.Writer
	crc  uint32
	buf  []byte
	msgs uint64
	cons uint64
	err  error
}

// newArchiveWriter starts an archive on w: s2 with one encoding
// goroutine and 1 MiB blocks, so that a snapshot holds a bounded amount
// of memory.
func newArchiveWriter(w io.Writer) *archiveWriter {
	a := &archiveWriter{zw: s2.NewWriter(w, s2.WriterConcurrency(1), s2.WriterBlockSize(archiveBlockSize))}
	a.write(append([]byte(archiveMagic), archiveVersion))
	return a
}

func (a *archiveWriter) write(p []byte) {
	if a.err != nil {
		return
	}
	a.crc = crc32.Update(a.crc, crcTable, p)
	_, a.err = a.zw.Write(p)
}

// record writes one record whose payload is a.buf[5:]; the first five
// bytes are room for the kind and length.
func (a *archiveWriter) record(kind byte, payload []byte) error {
	var head [1 + binary.MaxVarintLen64]byte
	head[0] = kind
	n := 1 + binary.PutUvarint(head[1:], uint64(len(payload)))
	c := crc32.Update(crc32.Update(0, crcTable, head[:n]), crcTable, payload)
	var tail [4]byte
	binary.BigEndian.PutUint32(tail[:], c)
	a.write(head[:n])
	a.write(payload)
	a.write(tail[:])
	return a.err
}

func (a *archiveWriter) header(h *archiveHeader) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return a.record(recHeader, b)
}

func (a *archiveWriter) msg(m *store.Msg) error {
	a.buf = binary.BigEndian.AppendUint64(a.buf[:0], m.Seq)
	a.buf = store.AppendRecord(a.buf, m)
	a.msgs++
	return a.record(recMsg, a.buf)
}

// consumer writes a consumer and its pending set.
func (a *archiveWriter) consumer(c *archiveConsumer, pending []store.Pending) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := a.record(recConsumer, b); err != nil {
		return err
	}
	a.cons++
	for len(pending) > 0 {
		part := pending[:min(len(pending), archivePendingPerRecord)]
		pending = pending[len(part):]
		a.buf = a.buf[:0]
		for _, p := range part {
			a.buf = binary.BigEndian.AppendUint64(a.buf, p.Seq)
			a.buf = binary.BigEndian.AppendUint64(a.buf, p.DSeq)
			a.buf = binary.BigEndian.AppendUint64(a.buf, p.Count)
			a.buf = binary.BigEndian.AppendUint64(a.buf, uint64(p.TS))
			a.buf = binary.BigEndian.AppendUint64(a.buf, uint64(p.Due))
		}
		if err := a.record(recPending2, a.buf); err != nil {
			return err
		}
	}
	return nil
}

// finish writes the end record and flushes the s2 stream.
func (a *archiveWriter) finish() error {
	var p [20]byte
	binary.BigEndian.PutUint64(p[0:], a.msgs)
	binary.BigEndian.PutUint64(p[8:], a.cons)
	binary.BigEndian.PutUint32(p[16:], a.crc)
	if err := a.record(recEnd, p[:]); err != nil {
		return err
	}
	return a.zw.Close()
}

// archiveItem is one record after the header, as archiveReader.next
// returns it: exactly one field is set.
type archiveItem struct {
	msg      *store.Msg
	consumer *archiveConsumer
	pending  []store.Pending // for the consumer read last
	end      *archiveEnd
}

// archiveReader reads and checks an archive, one record at a time.
type archiveReader struct {
	r       *bufio.Reader
	crc     uint32
	buf     []byte
	lastSeq uint64 // of the last message read
	maxSeq  uint64 // the header's last sequence
	lastTS  int64
	inCons  bool // a consumer was read: no more messages
	msgs    uint64
	cons    uint64
	done    bool
}

// newArchiveReader reads the s2-compressed archive from r.
func newArchiveReader(r io.Reader) *archiveReader {
	zr := s2.NewReader(r, s2.ReaderMaxBlockSize(archiveBlockSize))
	return &archiveReader{r: bufio.NewReaderSize(zr, 64<<10)}
}

// readFull reads len(p) bytes into p, adding them to the running crc; an
// early end is a truncated archive.
func (a *archiveReader) readFull(p []byte) error {
	if _, err := io.ReadFull(a.r, p); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return archiveErr("truncated")
		}
		return archiveErr("%v", err)
	}
	a.crc = crc32.Update(a.crc, crcTable, p)
	return nil
}

// record reads one record, checks its crc and returns its kind and payload
// (valid until the next call), and the running crc before it.
func (a *archiveReader) record() (byte, []byte, uint32, error) {
	before := a.crc
	var kind [1]byte
	if err := a.readFull(kind[:]); err != nil {
		return 0, nil, 0, err
	}
	n, lenBytes, err := a.uvarint()
	if err != nil {
		return 0, nil, 0, err
	}
	if n > archiveMaxRecord {
		return 0, nil, 0, archiveErr("record of %d bytes is larger than allowed", n)
	}
	// Grown as bytes arrive, so a damaged length cannot make the reader
	// allocate more than the archive holds.
	a.buf = a.buf[:0]
	for uint64(len(a.buf)) < n {
		step := min(n-uint64(len(a.buf)), 1<<20)
		start := len(a.buf)
		a.buf = append(a.buf, make([]byte, step)...)
		if err := a.readFull(a.buf[start:]); err != nil {
			return 0, nil, 0, err
		}
	}
	var tail [4]byte
	if err := a.readFull(tail[:]); err != nil {
		return 0, nil, 0, err
	}
	c := crc32.Update(crc32.Update(crc32.Update(0, crcTable, kind[:]), crcTable, lenBytes), crcTable, a.buf)
	if c != binary.BigEndian.Uint32(tail[:]) {
		return 0, nil, 0, archiveErr("checksum mismatch in a %q record", kind[0])
	}
	return kind[0], a.buf, before, nil
}

func (a *archiveReader) uvarint() (uint64, []byte, error) {
	var raw []byte
	var x uint64
	for shift := uint(0); ; shift += 7 {
		var b [1]byte
		if err := a.readFull(b[:]); err != nil {
			return 0, nil, err
		}
		raw = append(raw, b[0])
		if shift >= 63 && b[0] > 1 {
			return 0, nil, archiveErr("record length overflows")
		}
		x |= uint64(b[0]&0x7f) << shift
		if b[0] < 0x80 {
			return x, raw, nil
		}
	}
}

// header reads the magic, version and header record.
func (a *archiveReader) header() (*archiveHeader, error) {
	var magic [len(archiveMagic) + 1]byte
	if err := a.readFull(magic[:]); err != nil {
		return nil, err
	}
	if string(magic[:len(archiveMagic)]) != archiveMagic {
		return nil, archiveErr("not a Wisp stream archive")
	}
	if v := magic[len(archiveMagic)]; v != archiveVersion {
		return nil, archiveErr("archive version %d is not supported (this server reads version %d)", v, archiveVersion)
	}
	kind, p, _, err := a.record()
	if err != nil {
		return nil, err
	}
	if kind != recHeader {
		return nil, archiveErr("no header record")
	}
	h := &archiveHeader{}
	if err := json.Unmarshal(p, h); err != nil {
		return nil, archiveErr("header: %v", err)
	}
	if !validName(h.Config.Name) {
		return nil, archiveErr("header names no valid stream")
	}
	a.maxSeq = h.LastSeq
	return h, nil
}

// next returns the next record after the header. After the end record it
// checks that nothing follows.
func (a *archiveReader) next() (archiveItem, error) {
	if a.done {
		return archiveItem{}, archiveErr("read past the end record")
	}
	kind, p, before, err := a.record()
	if err != nil {
		return archiveItem{}, err
	}
	switch kind {
	case recMsg:
		return a.message(p)
	case recConsumer:
		c := &archiveConsumer{}
		if err := json.Unmarshal(p, c); err != nil {
			return archiveItem{}, archiveErr("consumer: %v", err)
		}
		if checkConsumerName(c.Name) != nil || c.Name == "" {
			return archiveItem{}, archiveErr("consumer with an invalid name")
		}
		a.inCons = true
		a.cons++
		return archiveItem{consumer: c}, nil
	case recPending, recPending2:
		if !a.inCons {
			return archiveItem{}, archiveErr("pending entries before any consumer")
		}
		size := 32
		if kind == recPending2 {
			size = 40
		}
		if len(p) == 0 || len(p)%size != 0 || len(p)/size > archivePendingPerRecord {
			return archiveItem{}, archiveErr("pending record of %d bytes", len(p))
		}
		out := make([]store.Pending, 0, len(p)/size)
		for ; len(p) > 0; p = p[size:] {
			pe := store.Pending{Seq: binary.BigEndian.Uint64(p), DSeq: binary.BigEndian.Uint64(p[8:]),
				Count: binary.BigEndian.Uint64(p[16:]), TS: int64(binary.BigEndian.Uint64(p[24:]))}
			if size == 40 {
				pe.Due = int64(binary.BigEndian.Uint64(p[32:]))
			}
			if pe.Seq == 0 || pe.Seq > a.maxSeq || pe.DSeq == 0 || pe.Count == 0 {
				return archiveItem{}, archiveErr("pending entry for sequence %d out of range", pe.Seq)
			}
			out = append(out, pe)
		}
		return archiveItem{pending: out}, nil
	case recEnd:
		return a.end(p, before)
	}
	return archiveItem{}, archiveErr("unknown record kind %q", kind)
}

func (a *archiveReader) message(p []byte) (archiveItem, error) {
	if a.inCons {
		return archiveItem{}, archiveErr("message after the consumers")
	}
	if len(p) < 8 {
		return archiveItem{}, archiveErr("short message record")
	}
	m := &store.Msg{Seq: binary.BigEndian.Uint64(p)}
	if m.Seq <= a.lastSeq || m.Seq > a.maxSeq {
		return archiveItem{}, archiveErr("message sequence %d out of order", m.Seq)
	}
	// Decoded from a copy: the record buffer is reused.
	if err := store.DecodeRecord(append([]byte(nil), p[8:]...), m); err != nil {
		return archiveItem{}, archiveErr("message %d: %v", m.Seq, err)
	}
	if m.Time < a.lastTS {
		return archiveItem{}, archiveErr("message %d is older than the one before it", m.Seq)
	}
	if !validSubject(string(m.Subject)) {
		return archiveItem{}, archiveErr("message %d has an invalid subject", m.Seq)
	}
	a.lastSeq, a.lastTS = m.Seq, m.Time
	a.msgs++
	return archiveItem{msg: m}, nil
}

func (a *archiveReader) end(p []byte, crcBefore uint32) (archiveItem, error) {
	if len(p) != 20 {
		return archiveItem{}, archiveErr("end record of %d bytes", len(p))
	}
	e := &archiveEnd{Msgs: binary.BigEndian.Uint64(p), Consumers: binary.BigEndian.Uint64(p[8:])}
	if binary.BigEndian.Uint32(p[16:]) != crcBefore {
		return archiveItem{}, archiveErr("archive checksum mismatch")
	}
	if e.Msgs != a.msgs || e.Consumers != a.cons {
		return archiveItem{}, archiveErr("end record counts %d messages and %d consumers, the archive holds %d and %d",
			e.Msgs, e.Consumers, a.msgs, a.cons)
	}
	a.done = true
	var extra [1]byte
	if n, err := a.r.Read(extra[:]); n > 0 || (err != nil && !errors.Is(err, io.EOF)) {
		if err != nil && n == 0 {
			return archiveItem{}, archiveErr("%v", err)
		}
		return archiveItem{}, archiveErr("data after the end record")
	}
	return archiveItem{end: e}, nil
}

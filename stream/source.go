package stream

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/wisp-mq/wisp/stream/store"
)

// hdrStreamSource marks a message a stream took from one of its sources:
// "<origin> <origin sequence> <filters> <destinations> <origin subject>",
// the first, third and fourth fields naming the source (StreamSource.key).
const hdrStreamSource = "Nats-Stream-Source"

// startSeq is the origin sequence a copier starts at: after the last one
// the stream holds from it, or the configured start (0: the origin's first
// message, or its first at OptStartTime).
func (c *copier) startSeq() uint64 {
	if c.mirror {
		c.s.mu.RLock()
		last := c.s.state.last
		c.s.mu.RUnlock()
		if last > 0 {
			return last + 1 // a mirror's sequences are its origin's
		}
		return c.src.OptStartSeq
	}
	if seq, ok, err := c.s.st.Reader().SourceSeq(c.s.id, c.key); err == nil && ok {
		return seq + 1
	}
	// No progress record: a stream written before they were kept. Its
	// newest message from the source says where it was.
	if seq, ok := c.s.lastSourced(c.key); ok {
		return seq + 1
	}
	return c.src.OptStartSeq
}

// lastSourced finds the newest message the stream took from the source
// named key and returns its origin sequence, reading the stored messages
// back from the newest.
func (s *stream) lastSourced(key string) (uint64, bool) {
	s.mu.RLock()
	last := s.state.last
	s.mu.RUnlock()
	var seq uint64
	found := false
	_ = s.st.Reader().ScanBack(s.id, last, func(m *store.Msg) bool {
		v := headerValue(m.Header, hdrStreamSource)
		if v == nil {
			return true
		}
		f := strings.Fields(string(v))
		if len(f) < 4 || f[0]+" "+f[2]+" "+f[3] != key {
			return true
		}
		n, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return true
		}
		seq, found = n, true
		return false
	})
	return seq, found
}

// stripHeaders returns hdr without the headers whose names start with
// prefix (compared without case), sharing nothing with hdr; nil when none
// are left. It walks the block with appendHeadersExcept, as every header
// rewrite of the layer does.
func stripHeaders(hdr []byte, prefix string) []byte {
	if len(hdr) == 0 {
		return nil
	}
	first := hdr
	if i := bytes.IndexByte(hdr, '\n'); i >= 0 {
		first = hdr[:i]
	}
	first = bytes.TrimRight(first, "\r")
	out := make([]byte, 0, len(hdr))
	out = append(append(out, first...), "\r\n"...)
	n := len(out)
	out = appendHeadersExcept(out, hdr, func(name []byte, named bool) bool {
		return named && len(name) >= len(prefix) && bytes.EqualFold(name[:len(prefix)], []byte(prefix))
	})
	if len(out) == n && bytes.Equal(first, []byte(hdrPreamble)) {
		return nil
	}
	return append(out, "\r\n"...)
}

// setHeader appends one header to hdr (a fresh block when hdr is nil).
func setHeader(hdr []byte, k, v string) []byte {
	if len(hdr) == 0 {
		hdr = []byte(hdrPreamble + "\r\n\r\n")
	}
	body := bytes.TrimSuffix(hdr, []byte("\r\n"))
	out := append(make([]byte, 0, len(body)+len(k)+len(v)+6), body...)
	out = appendHeader(out, k, v)
	return append(out, "\r\n"...)
}

// sourceStamp is what a source's Nats-Stream-Source header says of one
// copied message: "<origin> <origin seq> <filters> <destinations>
// <origin subject>", name and rest coming from the source's key.
type sourceStamp struct {
	name, rest, subject string
	seq                 uint64
}

// appendCopyHeader appends to dst the header block a copied message is
// stored with: the origin's headers without Nats-Expected-* (they were
// checked at the origin) and Nats-Batch-* (a copy is never part of a
// batch here), and, for a source (src not nil), with its own
// Nats-Stream-Source in place of any the message had. It appends nothing
// for a mirror's copy left with no header. One pass over the block, into
// a buffer the copier reuses: nothing is allocated per message.
func appendCopyHeader(dst, hdr []byte, src *sourceStamp) []byte {
	start := len(dst)
	dst = append(dst, hdrPreamble+"\r\n"...)
	n := len(dst)
	dst = appendHeadersExcept(dst, hdr, func(name []byte, named bool) bool {
		return named && (hasPrefixFold(name, "nats-expected-") || hasPrefixFold(name, "nats-batch-") ||
			src != nil && bytes.EqualFold(name, []byte(hdrStreamSource)))
	})
	if src == nil {
		if len(dst) == n {
			return dst[:start]
		}
		return append(dst, "\r\n"...)
	}
	dst = append(dst, hdrStreamSource+": "...)
	dst = append(append(dst, src.name...), ' ')
	dst = strconv.AppendUint(dst, src.seq, 10)
	dst = append(append(append(dst, ' '), src.rest...), ' ')
	dst = append(dst, src.subject...)
	return append(dst, "\r\n\r\n"...)
}

// copied says where a message a copier submits came from: a mirror's
// keeps its origin sequence (at); a source's records the source's progress
// (key, seq) in the batch that stores it.
type copied struct {
	at  uint64
	key string
	seq uint64
}

// record writes a source's progress next to the message it stored.
func (c copied) record(b *store.Batch, id uint32) error {
	if c.key == "" {
		return nil
	}
	return b.PutSourceSeq(id, c.key, c.seq)
}

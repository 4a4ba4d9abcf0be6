package stream

import (
	"bytes"
	"strconv"
	"time"
)

// The publish headers the stream layer reads, and the ones it writes on
// direct-get replies. Names as nats.go sends and reads them.
const (
	hdrMsgID           = "Nats-Msg-Id"
	hdrExpStream       = "Nats-Expected-Stream"
	hdrExpLastSeq      = "Nats-Expected-Last-Sequence"
	hdrExpLastSubjSeq  = "Nats-Expected-Last-Subject-Sequence"
	hdrExpLastSubjSubj = "Nats-Expected-Last-Subject-Sequence-Subject"
	hdrExpLastMsgID    = "Nats-Expected-Last-Msg-Id"
	hdrStream          = "Nats-Stream"
	hdrSequence        = "Nats-Sequence"
	hdrTimeStamp       = "Nats-Time-Stamp"
	hdrSubject         = "Nats-Subject"
)

const hdrPreamble = "NATS/1.0"

// headerValue returns the value of the first header named key in a NATS
// header block ("NATS/1.0\r\nKey: Value\r\n...\r\n\r\n"), or nil. Names
// compare case-insensitively, as clients canonicalise them. The result
// aliases hdr. It never fails: a malformed block simply has no such header.
func headerValue(hdr []byte, key string) []byte {
	if len(hdr) < len(hdrPreamble) {
		return nil
	}
	// Skip the status line.
	i := bytes.IndexByte(hdr, '\n')
	if i < 0 {
		return nil
	}
	rest := hdr[i+1:]
	for len(rest) > 0 {
		line := rest
		if j := bytes.IndexByte(rest, '\n'); j >= 0 {
			line, rest = rest[:j], rest[j+1:]
		} else {
			rest = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		c := bytes.IndexByte(line, ':')
		if c <= 0 {
			continue
		}
		if bytes.EqualFold(bytes.TrimSpace(line[:c]), []byte(key)) {
			if v := bytes.TrimSpace(line[c+1:]); v != nil {
				return v
			}
			return line[c+1 : c+1] // present but empty: not nil
		}
	}
	return nil
}

// headerUint parses a numeric header; ok is false when absent or invalid.
func headerUint(hdr []byte, key string) (v uint64, present, ok bool) {
	b := headerValue(hdr, key)
	if b == nil {
		return 0, false, false
	}
	v, err := strconv.ParseUint(string(b), 10, 64)
	return v, true, err == nil
}

// directGetHeader builds the header block of a direct-get reply: the stored
// message's own headers followed by the ones telling the client where the
// message came from.
func directGetHeader(stream string, subject []byte, seq uint64, ts int64, stored []byte) []byte {
	b := make([]byte, 0, len(stored)+128+len(stream)+len(subject))
	b = append(b, hdrPreamble+"\r\n"...)
	if len(stored) > 0 {
		if i := bytes.IndexByte(stored, '\n'); i >= 0 {
			body := bytes.TrimRight(stored[i+1:], "\r\n")
			if len(body) > 0 {
				b = append(b, body...)
				b = append(b, "\r\n"...)
			}
		}
	}
	b = appendHeader(b, hdrStream, stream)
	b = appendHeader(b, hdrSubject, string(subject))
	b = appendHeader(b, hdrSequence, strconv.FormatUint(seq, 10))
	b = appendHeader(b, hdrTimeStamp, time.Unix(0, ts).UTC().Format(time.RFC3339Nano))
	return append(b, "\r\n"...)
}

// appendHeadersExcept appends to b the non-empty header lines of hdr, each
// with its CRLF, after the status line, leaving out those drop asks to:
// drop is given the line's name, trimmed, and whether it has one (a colon
// after its first byte).
func appendHeadersExcept(b, hdr []byte, drop func(name []byte, named bool) bool) []byte {
	i := bytes.IndexByte(hdr, '\n')
	if i < 0 {
		return b
	}
	rest := hdr[i+1:]
	for len(rest) > 0 {
		line := rest
		if j := bytes.IndexByte(rest, '\n'); j >= 0 {
			line, rest = rest[:j], rest[j+1:]
		} else {
			rest = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			continue
		}
		var name []byte
		c := bytes.IndexByte(line, ':')
		if c > 0 {
			name = bytes.TrimSpace(line[:c])
		}
		if drop(name, c > 0) {
			continue
		}
		b = append(append(b, line...), "\r\n"...)
	}
	return b
}

func appendHeader(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	b = append(b, v...)
	return append(b, "\r\n"...)
}

// statusHeader is a header-only status message, such as "404 Message Not
// Found", as nats-server sends to direct-get requests it cannot answer.
func statusHeader(status string) []byte {
	return []byte(hdrPreamble + " " + status + "\r\n\r\n")
}

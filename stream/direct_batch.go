package stream

import (
	"errors"
	"sort"
	"strconv"
	"time"

	"github.com/wisp-mq/wisp/stream/store"
)

// Direct get beyond one message, as nats-server answers it: a batch of
// messages from a sequence (or a start time), optionally on a subject or
// pattern, or the last message of each of several subjects (multi_last),
// optionally as of a sequence or a time. Every message carries, besides
// the usual direct-get headers, Nats-Num-Pending (matching messages left
// after it) and Nats-Last-Sequence (the one sent before it in this reply,
// 0 for the first); an end-of-batch status "204 EOB" with the same two
// headers (and Nats-UpTo-Sequence for multi_last) closes the reply.

// directBatchRequest holds the fields of a direct get that only batched
// requests use; they sit in msgGetRequest.
type directBatchRequest struct {
	Batch     int        `json:"batch,omitempty"`
	MaxBytes  int        `json:"max_bytes,omitempty"`
	StartTime *time.Time `json:"start_time,omitempty"`
	MultiLast []string   `json:"multi_last,omitempty"`
	UpToSeq   uint64     `json:"up_to_seq,omitempty"`
	UpToTime  *time.Time `json:"up_to_time,omitempty"`
	NoHeaders bool       `json:"no_hdr,omitempty"`
}

// batched reports whether the request asks for more than one message (or
// uses a field only such requests take).
func (r *directBatchRequest) batched() bool {
	return r.Batch > 0 || len(r.MultiLast) > 0 || r.StartTime != nil || r.UpToSeq > 0 || r.UpToTime != nil || r.MaxBytes > 0 || r.NoHeaders
}

const (
	hdrNumPending = "Nats-Num-Pending"
	hdrUpToSeq    = "Nats-UpTo-Sequence"
	// maxMultiLast bounds a multi_last reply, as nats-server's does.
	maxMultiLast = 1024
	// defaultDirectMaxBytes stops a batch once this much was sent, when
	// the request names no max_bytes (nats-server uses its max_pending).
	defaultDirectMaxBytes = 64 << 20
)

// directReader is what a batched direct get reads messages through: the
// store's Reader, or, in tests, one whose reads fail.
type directReader interface {
	Msg(id uint32, seq uint64) (*store.Msg, error)
	Next(id uint32, from uint64) (*store.Msg, error)
	Msgs(id uint32, seqs []uint64, fn func(*store.Msg) bool) error
}

func (s *stream) directReader() directReader {
	if f := s.svc.directReads; f != nil {
		return f(s.st.Reader())
	}
	return s.st.Reader()
}

// directReadFailed ends a batched reply whose store read failed: an error
// status in place of the end-of-batch, so that the client does not take
// a cut-short batch for a whole one. (A corrupt record is not a failure:
// the store skips it, counted, as every reader does.)
func (s *stream) directReadFailed(send func(hdr, data []byte), err error) {
	s.svc.apiErrors.Add(1)
	s.svc.log.Error("direct get: reading the stream failed", "stream", s.name, "err", err)
	send(statusHeader("500 Internal Server Error"), nil)
}

// directBatch answers a batched direct get on s through send.
func (s *stream) directBatch(req *msgGetRequest, send func(hdr, data []byte)) {
	if req.LastFor != "" || req.NextFor != "" && !validSubject(req.NextFor) {
		send(statusHeader("408 Bad Request"), nil)
		return
	}
	if len(req.MultiLast) > 0 {
		s.directMultiLast(req, send)
		return
	}
	seq := max(req.Seq, 1)
	if req.StartTime != nil {
		seq = s.seqAtTime(*req.StartTime)
	}
	filter := req.NextFor
	if filter == "" {
		filter = ">"
	}
	batch := max(req.Batch, 1)
	np := s.countFrom(filter, seq)
	limit := req.MaxBytes
	if limit <= 0 {
		limit = defaultDirectMaxBytes
	}
	var lseq uint64
	sent, bytes := 0, 0
	r := s.directReader()
	for sent < batch && bytes < limit {
		var next uint64
		if filter == ">" {
			n, err := r.Next(s.id, seq)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				s.directReadFailed(send, err)
				return
			}
			if n != nil {
				next = n.Seq
			}
		} else {
			next = s.nextSeqFor(filter, seq)
		}
		if next == 0 {
			break
		}
		m, err := r.Msg(s.id, next)
		seq = next + 1
		if errors.Is(err, store.ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			s.directReadFailed(send, err)
			return
		}
		if np > 0 {
			np--
		}
		send(s.batchHeader(m, req.NoHeaders, np, lseq), m.Data)
		lseq = m.Seq
		sent++
		bytes += len(m.Subject) + len(m.Header) + len(m.Data)
	}
	if sent == 0 {
		send(statusHeader("404 Message Not Found"), nil)
		return
	}
	send(eobHeader(s.countFrom(filter, seq), lseq, 0), nil)
}

// directMultiLast sends the last message of each subject matching the
// request's filters, up to a sequence or time, in sequence order.
func (s *stream) directMultiLast(req *msgGetRequest, send func(hdr, data []byte)) {
	for _, f := range req.MultiLast {
		if !validSubject(f) {
			send(statusHeader("408 Bad Request"), nil)
			return
		}
	}
	s.mu.RLock()
	upTo, first := s.state.last, s.state.first
	s.mu.RUnlock()
	if req.UpToSeq > 0 {
		upTo = min(req.UpToSeq, upTo)
	}
	if req.UpToTime != nil {
		at := s.seqAtTime(*req.UpToTime)
		if at <= first {
			send(statusHeader("404 No Results"), nil)
			return
		}
		upTo = min(upTo, at-1)
	}
	seqs := s.lastSeqsUpTo(req.MultiLast, max(req.Seq, 1), upTo)
	if len(seqs) > maxMultiLast {
		send(statusHeader("413 Too Many Results"), nil)
		return
	}
	if len(seqs) == 0 {
		send(statusHeader("404 No Results"), nil)
		return
	}
	limit := req.MaxBytes
	if limit <= 0 {
		limit = defaultDirectMaxBytes
	}
	var lseq uint64
	sent, bytes := 0, 0
	err := s.directReader().Msgs(s.id, seqs, func(m *store.Msg) bool {
		sent++
		np := uint64(len(seqs) - sent)
		send(s.batchHeader(m, req.NoHeaders, np, lseq), m.Data)
		lseq = m.Seq
		bytes += len(m.Subject) + len(m.Header) + len(m.Data)
		return bytes < limit && (req.Batch <= 0 || sent < req.Batch)
	})
	if err != nil {
		s.directReadFailed(send, err)
		return
	}
	send(eobHeader(uint64(len(seqs)-sent), lseq, upTo), nil)
}

// batchHeader is a batched reply's header block: the message's own headers
// (unless no_hdr), the direct-get headers, the pending count and the
// previous sequence sent.
func (s *stream) batchHeader(m *store.Msg, noHeaders bool, np, lseq uint64) []byte {
	if noHeaders {
		return nil
	}
	h := directGetHeader(s.name, m.Subject, m.Seq, m.Time, m.Header)
	h = h[:len(h)-2] // reopen the block
	h = appendHeader(h, hdrNumPending, strconv.FormatUint(np, 10))
	h = appendHeader(h, hdrLastSequence, strconv.FormatUint(lseq, 10))
	return append(h, "\r\n"...)
}

// eobHeader closes a batched reply; upTo, when not 0, is multi_last's
// ceiling.
func eobHeader(np, lseq, upTo uint64) []byte {
	h := []byte(hdrPreamble + " 204 EOB\r\n")
	h = appendHeader(h, hdrNumPending, strconv.FormatUint(np, 10))
	h = appendHeader(h, hdrLastSequence, strconv.FormatUint(lseq, 10))
	if upTo > 0 {
		h = appendHeader(h, hdrUpToSeq, strconv.FormatUint(upTo, 10))
	}
	return append(h, "\r\n"...)
}

// countFrom counts the messages at or after from on filter.
func (s *stream) countFrom(filter string, from uint64) uint64 {
	r := s.st.Reader()
	if filter == ">" {
		n, _ := r.CountMsgs(s.id, from)
		return n
	}
	var n uint64
	for _, subj := range s.subjectsMatching([]string{filter}) {
		c, _ := r.CountSubject(s.id, subj, from)
		n += c
	}
	return n
}

// subjectsMatching lists the stream's subjects that match any filter.
func (s *stream) subjectsMatching(filters []string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for subj := range s.subjects {
		for _, f := range filters {
			if f == subj || subjectMatches(f, subj) {
				out = append(out, subj)
				break
			}
		}
	}
	return out
}

// lastSeqsUpTo returns, in ascending order, the last sequence in
// [from, upTo] of each subject matching filters.
func (s *stream) lastSeqsUpTo(filters []string, from, upTo uint64) []uint64 {
	r := s.st.Reader()
	var seqs []uint64
	for _, subj := range s.subjectsMatching(filters) {
		var last uint64
		_ = r.SubjectSeqs(s.id, subj, from, func(seq uint64) bool {
			if seq > upTo {
				return false
			}
			last = seq
			return true
		})
		if last > 0 {
			seqs = append(seqs, last)
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs
}

// seqAtTime is the first sequence stored at or after t (the stream's last
// sequence + 1 when none): messages are stored in time order, so a binary
// search over sequences finds it.
func (s *stream) seqAtTime(t time.Time) uint64 {
	s.mu.RLock()
	lo, hi := s.state.first, s.state.last+1
	s.mu.RUnlock()
	want := t.UnixNano()
	r := s.st.Reader()
	for lo < hi {
		mid := lo + (hi-lo)/2
		m, err := r.Next(s.id, mid)
		if errors.Is(err, store.ErrNotFound) || err == nil && m.Time >= want {
			hi = mid
			continue
		}
		if err != nil {
			return hi
		}
		lo = m.Seq + 1
	}
	return lo
}

package stream

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/wisp-mq/wisp/stream/store"
	"github.com/wisp-mq/wisp/subjectmap"
)

// A stream can shape the messages it takes in and pass them on, as
// nats-server's streams do:
//
//   - subject_transform rewrites the subject of each message captured on
//     the stream's subjects before it is stored: the stored subject, the
//     one consumers filter on and see, is the transformed one;
//   - republish publishes each stored message (or only its headers) again
//     on a subject of its own, once it is stored, with headers saying where
//     it came from; lightweight clients watch that subject instead of
//     running a consumer.
//
// Both use the subjectmap package's transforms, the same as the server's
// subject mappings.

// SubjectTransformConfig is a stream's (or a source's) subject transform:
// subjects matching Source (empty: all) are stored as Destination.
type SubjectTransformConfig struct {
	Source      string `json:"src"`
	Destination string `json:"dest"`
}

// RePublish is a stream's republish setting: each stored message whose
// subject matches Source (empty: all) is published again on Destination,
// without its payload when HeadersOnly.
type RePublish struct {
	Source      string `json:"src,omitempty"`
	Destination string `json:"dest"`
	HeadersOnly bool   `json:"headers_only,omitempty"`
}

// The headers a republished message carries beyond its own.
const (
	hdrLastSequence = "Nats-Last-Sequence" // the subject's previous sequence, 0 for its first
	hdrMsgSize      = "Nats-Msg-Size"      // the payload's size, when only headers are sent
)

// shaping is a stream's compiled subject_transform and republish; a
// stream without either has none (nil), which costs a publish one atomic
// load.
type shaping struct {
	in          *subjectmap.Transform
	republish   *subjectmap.Transform
	headersOnly bool
}

// validateShaping checks subject_transform and republish with nats-server's
// errors and fills in their defaults (an empty source means ">").
func (c *Config) validateShaping() *APIError {
	if t := c.SubjectTransform; t != nil {
		if t.Source != "" && !validSubject(t.Source) {
			return apiErr(errStreamTransformSource, fmt.Sprintf("invalid subject %s", t.Source))
		}
		if t.Destination != "" {
			if _, err := subjectmap.NewTransform(t.Source, t.Destination); err != nil {
				return apiErr(errStreamTransformDest, err)
			}
		}
	}
	rp := c.RePublish
	if rp == nil {
		return nil
	}
	if rp.Source == "" {
		rp.Source = ">"
	}
	// Republishing everything to ">" is taken, as in nats-server, to mean
	// "on the transformed subject" when the stream transforms its only
	// subject.
	if t := c.SubjectTransform; rp.Source == ">" && rp.Destination == ">" && t != nil &&
		len(c.Subjects) == 1 && t.Source == c.Subjects[0] {
		rp.Source, rp.Destination = t.Destination, t.Destination
	}
	for _, subj := range c.Subjects {
		if subjectsCollide(rp.Destination, subj) {
			return apiErr(errStreamInvalidConfig, "stream configuration for republish destination forms a cycle")
		}
	}
	if _, err := subjectmap.NewTransform(rp.Source, rp.Destination); err != nil {
		return apiErr(errStreamInvalidConfig, fmt.Sprintf("stream configuration for republish with transform from '%s' to '%s' not valid", rp.Source, rp.Destination))
	}
	return nil
}

// newShaping compiles a validated config's transforms; nil when it has
// neither.
func newShaping(c *Config) *shaping {
	var sh shaping
	if t := c.SubjectTransform; t != nil && t.Destination != "" {
		sh.in, _ = subjectmap.NewTransform(t.Source, t.Destination)
	}
	if rp := c.RePublish; rp != nil && rp.Destination != "" {
		sh.republish, _ = subjectmap.NewTransform(rp.Source, rp.Destination)
		sh.headersOnly = rp.HeadersOnly
	}
	if sh.in == nil && sh.republish == nil {
		return nil
	}
	return &sh
}

// setShaping puts a config's transforms in force; called wherever the
// stream's config is set.
func (s *stream) setShaping(c *Config) { s.shape.Store(newShaping(c)) }

// transformIn returns the subject a message captured on subject is stored
// under: the subject_transform's result when its source matches, subject
// otherwise. The result is a new slice when transformed.
func (s *stream) transformIn(subject []byte) []byte {
	sh := s.shape.Load()
	if sh == nil || sh.in == nil || !sh.in.Matches(subject) {
		return subject
	}
	return sh.in.Append(nil, subject)
}

// republishing reports whether stored messages on subject are republished;
// the writer then notes the subject's previous sequence before storing.
func (s *stream) republishing(subject []byte) bool {
	sh := s.shape.Load()
	return sh != nil && sh.republish != nil && sh.republish.Matches(subject)
}

// lastSeqOf is the stream's last sequence on subject, 0 when it has none.
// Called under s.mu.
func (s *stream) lastSeqOf(subject []byte) uint64 {
	if ss := s.subjects[string(subject)]; ss != nil {
		return ss.last
	}
	return 0
}

// republish queues a stored message's republished copy. It runs on the
// writer goroutine (Op.Done), which must not block, so the copy goes out
// from the relay's own goroutine: publishing it here could reach a stream
// of the same store and wait on this very writer.
func (s *stream) republish(m *store.Msg, prevSeq uint64) {
	sh := s.shape.Load()
	if sh == nil || sh.republish == nil || !sh.republish.Matches(m.Subject) {
		return
	}
	to := sh.republish.Append(nil, m.Subject)
	if !validSubject(string(to)) || hasWildcard(string(to)) {
		s.svc.log.Warn("republish suppressed: invalid subject", "stream", s.name, "subject", string(to))
		return
	}
	hdr := republishHeader(s.name, m, prevSeq, sh.headersOnly)
	var data []byte
	if !sh.headersOnly {
		data = bytes.Clone(m.Data)
	}
	s.svc.relay.send(s.svc, outMsg{subject: string(to), hdr: hdr, data: data})
}

// republishHeader is the message's own header block followed by the
// headers that say where a republished message came from.
func republishHeader(stream string, m *store.Msg, prevSeq uint64, headersOnly bool) []byte {
	b := make([]byte, 0, len(m.Header)+160+len(stream)+len(m.Subject))
	b = append(b, hdrPreamble+"\r\n"...)
	if i := bytes.IndexByte(m.Header, '\n'); i >= 0 {
		if body := bytes.TrimRight(m.Header[i+1:], "\r\n"); len(body) > 0 {
			b = append(append(b, body...), "\r\n"...)
		}
	}
	b = appendHeader(b, hdrStream, stream)
	b = appendHeader(b, hdrSubject, string(m.Subject))
	b = appendHeader(b, hdrSequence, strconv.FormatUint(m.Seq, 10))
	b = appendHeader(b, hdrTimeStamp, time.Unix(0, m.Time).UTC().Format(time.RFC3339Nano))
	b = appendHeader(b, hdrLastSequence, strconv.FormatUint(prevSeq, 10))
	if headersOnly {
		b = appendHeader(b, hdrMsgSize, strconv.Itoa(len(m.Data)))
	}
	return append(b, "\r\n"...)
}

// relay publishes messages handed over by goroutines that must not block
// (the store's writer), in the order they were handed over, from a
// goroutine of its own that runs while it has work.
type relay struct {
	mu      sync.Mutex
	queue   []outMsg
	running bool
	idle    sync.Cond // signalled when the queue drains; for Close
}

func (r *relay) send(svc *Service, m outMsg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queue = append(r.queue, m)
	if !r.running {
		r.running = true
		go r.run(svc)
	}
}

func (r *relay) run(svc *Service) {
	for {
		r.mu.Lock()
		batch := r.queue
		r.queue = nil
		if len(batch) == 0 {
			r.running = false
			if r.idle.L != nil {
				r.idle.Broadcast()
			}
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		out := outbox{msgs: batch}
		out.send(svc)
	}
}

// wait returns once everything handed over has been published.
func (r *relay) wait() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.idle.L == nil {
		r.idle.L = &r.mu
	}
	for r.running {
		r.idle.Wait()
	}
}

// storesOtherSubjects reports whether the stream may store subjects its
// own subject list does not capture (a transform, a mirror, sources), so
// that a consumer's filter cannot be checked against that list.
func (c *Config) storesOtherSubjects() bool {
	return c.SubjectTransform != nil && c.SubjectTransform.Destination != "" || c.hasOrigins()
}

package stream

import (
	"bytes"
	"time"

	"github.com/wisp-mq/wisp/stream/store"
)

// Subject delete markers. A stream with subject_delete_marker_ttl leaves
// a marker when expiry (max_age or a message's own TTL) removes the last
// message of a subject: an empty message on that subject whose headers
// say why it is there and which itself expires after the marker TTL. KV
// watchers see it as the key's deletion. Purges and limits other than age
// leave none, as in nats-server.

const (
	hdrMarkerReason    = "Nats-Marker-Reason"
	markerReasonMaxAge = "MaxAge"
	hdrKVOperation     = "KV-Operation"
)

// isDeleteMarker reports whether a stored message already says its
// subject is gone: a marker, or a KV purge. Removing one leaves no new
// marker.
func isDeleteMarker(hdr []byte) bool {
	return len(headerValue(hdr, hdrMarkerReason)) > 0 ||
		bytes.Equal(headerValue(hdr, hdrKVOperation), []byte("PURGE"))
}

// expireMsg removes m, which expired at now (unix nanos), and leaves a
// marker if it was its subject's last message. With mu held, on the
// writer goroutine.
func (s *stream) expireMsg(b *store.Batch, m *store.Msg, now int64) error {
	ss := s.subjects[string(m.Subject)]
	last := ss != nil && ss.msgs == 1
	if err := s.removeMsg(b, m); err != nil {
		return err
	}
	if !last || s.cfg.SubjectDeleteMarkerTTL <= 0 || isDeleteMarker(m.Header) {
		return nil
	}
	return s.storeMarker(b, m.Subject, now, m.Seq)
}

// markerHeader is a marker's header block: the reason, its TTL written as
// a duration of whole seconds, and a subject rollup.
func markerHeader(ttl time.Duration) []byte {
	ttl = ttl.Truncate(time.Second)
	return []byte(hdrPreamble + "\r\n" + hdrMarkerReason + ": " + markerReasonMaxAge + "\r\n" +
		hdrTTL + ": " + ttl.String() + "\r\n" + hdrRollup + ": " + rollupValueSub + "\r\n\r\n")
}

// storeMarker stores a delete marker for subject at now, as the next
// message of the stream, and queues the wake-up of its consumers and its
// republished copy for after the commit. prev is the sequence of the
// message it replaces, its republished Nats-Last-Sequence (nats-server
// stores the marker before the expired message goes).
func (s *stream) storeMarker(b *store.Batch, subject []byte, now int64, prev uint64) error {
	if now <= s.state.lastTime {
		now = s.state.lastTime + 1
	}
	subj := bytes.Clone(subject)
	msg := &store.Msg{Seq: s.state.last + 1, Time: now, Subject: subj, Header: markerHeader(s.cfg.SubjectDeleteMarkerTTL)}
	if err := b.PutMsg(s.id, msg); err != nil {
		return err
	}
	s.noteAdded(subj, msg.Seq, now, msg.Size())
	s.trackTTL(msg.Seq, now, int64(s.cfg.SubjectDeleteMarkerTTL/time.Second), now)
	s.madeMsg(msg, prev)
	if err := s.enforceLimits(b, subj); err != nil {
		return err
	}
	return nil
}

// hasMarkersToWake is wakeMarkers' lock-free test.
func (s *stream) hasMarkersToWake() bool { return s.pendingWake.Load() }

// madeMsg is a message the stream made itself, for the work after its
// commit: its consumers to wake, and, when the stream republishes its
// subject, the message (else nil) and its subject's previous sequence.
type madeMsg struct {
	subject []byte
	msg     *store.Msg
	prev    uint64
}

// madeMsg queues the after-commit work of a message the stream made. With
// mu held, on the writer goroutine.
func (s *stream) madeMsg(m *store.Msg, prev uint64) {
	mm := madeMsg{subject: m.Subject}
	if s.republishing(m.Subject) {
		mm.msg, mm.prev = m, prev
	}
	s.markersToWake = append(s.markersToWake, mm)
	s.pendingWake.Store(true)
}

// wakeMarkers wakes the consumers of the subjects that got a message the
// stream made, and republishes those, once the batch that stored them
// committed, as nats-server republishes its markers and scheduled
// messages (they go through its publish path).
func (s *stream) wakeMarkers() {
	s.mu.Lock()
	made := s.markersToWake
	s.markersToWake = nil
	s.pendingWake.Store(false)
	s.mu.Unlock()
	for _, m := range made {
		s.wakeConsumers(m.subject)
		if m.msg != nil {
			s.republish(m.msg, m.prev)
		}
	}
}

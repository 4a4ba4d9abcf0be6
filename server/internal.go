package server

import (
	"errors"
	"fmt"

	"github.com/wisp-mq/wisp/sublist"
)

// ErrInvalidSubject is returned by Publish and Subscribe for a malformed subject.
var ErrInvalidSubject = errors.New("server: invalid subject")

// Publish routes a message from inside the process (the stream layer, for
// example) exactly as if a client of the global account had published it.
// hdr is a complete NATS header block or nil. Safe for concurrent use.
func (s *Server) Publish(subject, reply string, hdr, data []byte) error {
	return s.publishIn(s.global, subject, reply, hdr, data)
}

func (s *Server) publishIn(acc *account, subject, reply string, hdr, data []byte) error {
	subj := []byte(subject)
	if !sublist.ValidPublishSubject(subj) {
		return fmt.Errorf("%w: %q", ErrInvalidSubject, subject)
	}
	m := internalMessage(subj, reply, hdr, data)
	s.publishMsgIn(acc, &m)
	return nil
}

// publishMsgIn routes an in-process message whose subject is valid.
func (s *Server) publishMsgIn(acc *account, m *message) {
	if acc.isResponse(m.subject) {
		s.routeResponse(nil, acc, m)
	}
	s.fanOut(nil, acc.sl.Match(m.subject), m)
}

// Subscribe registers an in-process subscription in the global account
// (queue "" for none). fn runs synchronously on the publisher's goroutine
// with slices valid only during the call, so it must copy what it keeps and
// must not block for long. cancel removes the subscription; calling it again
// does nothing.
func (s *Server) Subscribe(subject, queue string, fn func(subject, reply, hdr, data []byte)) (cancel func(), err error) {
	return s.subscribeIn(s.global, subject, queue, fn)
}

func (s *Server) subscribeIn(acc *account, subject, queue string, fn func(subject, reply, hdr, data []byte)) (cancel func(), err error) {
	if fn == nil {
		return nil, errors.New("server: Subscribe needs a handler")
	}
	sub := &subscription{fn: fn, acc: acc, subject: subject, queue: queue}
	if err := acc.sl.Insert(subject, queue, sub); err != nil {
		return nil, fmt.Errorf("server: subscribe %q: %w", subject, err)
	}
	return func() {
		if sub.closed.CompareAndSwap(false, true) {
			_ = acc.sl.Remove(subject, queue, sub)
		}
	}, nil
}

// HasInterest reports whether any subscription in the global account
// matches subject.
func (s *Server) HasInterest(subject string) bool {
	return s.global.hasInterest([]byte(subject))
}

// internalMessage builds the message of an in-process publish. A header
// block is joined to the data because the wire form keeps them contiguous.
func internalMessage(subject []byte, reply string, hdr, data []byte) message {
	m := message{subject: subject, reply: []byte(reply), data: data}
	if len(hdr) > 0 {
		m.data = make([]byte, 0, len(hdr)+len(data))
		m.data = append(append(m.data, hdr...), data...)
		m.hdrLen = len(hdr)
	}
	return m
}

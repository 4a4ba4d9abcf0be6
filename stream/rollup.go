package stream

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/wisp-mq/wisp/stream/store"
)

// A rollup is a message that replaces what came before it: published with
// "Nats-Rollup: sub" it leaves its subject holding only itself, with
// "Nats-Rollup: all" the whole stream. KV purge and object-store metadata
// updates rely on it. The removals go into the same store batch as the
// message, so a crash leaves either the message and its rollup or neither.

const (
	hdrRollup        = "Nats-Rollup"
	rollupValueSub   = "sub"
	rollupValueAll   = "all"
	errRollupDenied  = "rollup not permitted"
	errRollupInvalid = "rollup value invalid: %q"
)

// rollupKind is what a message's Nats-Rollup header asks for.
type rollupKind uint8

const (
	rollupNone rollupKind = iota
	rollupSubject
	rollupAll
)

// checkRollup reads the rollup header of a message about to be stored.
// Like nats-server, it refuses a rollup on a stream that does not allow
// them (or denies purges), and a value other than sub or all (compared
// without regard to case).
func (s *stream) checkRollup(hdr []byte) (rollupKind, *APIError) {
	v := headerValue(hdr, hdrRollup)
	if len(v) == 0 {
		return rollupNone, nil
	}
	if !s.cfg.AllowRollup || s.cfg.DenyPurge {
		return rollupNone, apiErr(errStreamRollupFailed, errRollupDenied)
	}
	switch {
	case bytes.EqualFold(v, []byte(rollupValueSub)):
		return rollupSubject, nil
	case bytes.EqualFold(v, []byte(rollupValueAll)):
		return rollupAll, nil
	}
	return rollupNone, apiErr(errStreamRollupFailed, fmt.Sprintf(errRollupInvalid, strings.ToLower(string(v))))
}

// rollupBefore does the part of a rollup that must precede storing the
// message: a stream rollup empties the stream (two range deletions, so
// its cost does not grow with the stream), and a subject rollup reads the
// messages it will remove. Reading first means a read failure refuses the
// publish before anything is written to the batch.
func (s *stream) rollupBefore(b *store.Batch, kind rollupKind, subject []byte) ([]*store.Msg, error) {
	switch kind {
	case rollupAll:
		_, err := s.purge(b, &purgeRequest{})
		return nil, err
	case rollupSubject:
		return s.subjectMsgs(b.Reader(), subject)
	}
	return nil, nil
}

// subjectMsgs reads every stored message on subject.
func (s *stream) subjectMsgs(r store.Reader, subject []byte) ([]*store.Msg, error) {
	ss := s.subjects[string(subject)]
	if ss == nil {
		return nil, nil
	}
	seqs := make([]uint64, 0, ss.msgs)
	if err := r.SubjectSeqs(s.id, string(subject), ss.first, func(seq uint64) bool {
		seqs = append(seqs, seq)
		return true
	}); err != nil {
		return nil, fmt.Errorf("rollup: read subject index: %w", err)
	}
	msgs := make([]*store.Msg, 0, len(seqs))
	for _, seq := range seqs {
		m, err := r.Msg(s.id, seq)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("rollup: %w", err)
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// rollupAfter removes the messages a subject rollup replaced, once the
// rollup message itself is in the batch.
func (s *stream) rollupAfter(b *store.Batch, replaced []*store.Msg) error {
	for _, m := range replaced {
		if err := s.removeMsg(b, m); err != nil {
			return fmt.Errorf("rollup: %w", err)
		}
	}
	return nil
}

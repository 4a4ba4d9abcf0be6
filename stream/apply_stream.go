package stream

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/wisp-mq/wisp/stream/store"
)

// The stream-wide operations' apply (apply.go dispatches to them). Each
// checks what could refuse it before it changes anything, so a refusal
// is a no-op; each runs on the writer goroutine with the stream's lock.

// applyDeleteMsg removes one message.
func (s *stream) applyDeleteMsg(b *store.Batch, o *opDeleteMsg, res *opResult) error {
	s.lockApply()
	defer s.mu.Unlock()
	switch {
	case s.deleted:
		res.err = apiErr(errStreamNotFound)
	case s.cfg.Sealed:
		res.err = apiErr(errStreamSealed)
	case s.cfg.DenyDelete:
		res.err = apiErr(errMsgDeleteFailed, "message delete not permitted")
	}
	if res.err != nil {
		return errRejected
	}
	m, err := b.Reader().Msg(s.id, o.Seq)
	if errors.Is(err, store.ErrNotFound) {
		res.err = apiErr(errMsgDeleteFailed, "no message found")
		return errRejected
	}
	if err != nil {
		res.err = apiErr(errMsgDeleteFailed, err)
		return errRejected
	}
	return s.removeMsg(b, m)
}

// applyPurge removes what the purge selects, then moves the stream's
// consumers past what left its front (consumersPurged).
func (s *stream) applyPurge(b *store.Batch, o *opPurge, res *opResult) error {
	s.lockApply()
	switch {
	case s.deleted:
		res.err = apiErr(errStreamNotFound)
	case s.cfg.Sealed:
		res.err = apiErr(errStreamSealed)
	case s.cfg.DenyPurge:
		res.err = apiErr(errStreamPurge, "stream purge not permitted")
	}
	if res.err != nil {
		s.mu.Unlock()
		return errRejected
	}
	var err error
	res.purged, err = s.purge(b, &purgeRequest{Filter: o.Filter, Seq: o.Seq, Keep: o.Keep})
	first := s.state.first
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.consumersPurged(first)
	return nil
}

// applyExpire removes the messages older than max_age at o.Now and
// re-arms the expiry timer for the next.
func (s *stream) applyExpire(b *store.Batch, o *opExpire) error {
	s.lockApply()
	defer s.mu.Unlock()
	if s.deleted {
		return nil
	}
	return s.expire(b, time.Unix(0, o.Now))
}

// applyUpdate stores the new config and trims the stream to its limits;
// the removals commit with the new config.
func (s *stream) applyUpdate(b *store.Batch, o *opStreamUpdate, res *opResult) error {
	var cfg Config
	if err := json.Unmarshal(o.Config, &cfg); err != nil {
		res.err = apiErr(errInvalidJSON, err)
		return errRejected
	}
	s.lockApply()
	defer s.mu.Unlock()
	if s.deleted {
		res.err = apiErr(errStreamNotFound)
		return errRejected
	}
	cfg.Storage = s.cfg.Storage
	v, err := json.Marshal(&streamMeta{ID: s.id, Created: s.created, Config: cfg, Group: s.group})
	if err != nil {
		res.err = apiErr(errStreamUpdate, err)
		return errRejected
	}
	if err := b.PutMeta(s.name, s.id, v); err != nil {
		return err
	}
	old := s.cfg
	s.cfg = cfg
	s.setShaping(&s.cfg)
	if err := s.featuresEnabled(b, &old, o.Now); err != nil { // ttl_config.go
		return err
	}
	return s.applyAllLimits(b, time.Unix(0, o.Now))
}

// applyDelete drops the stream's key range (messages and consumers).
func (s *stream) applyDelete(b *store.Batch, res *opResult) error {
	s.lockApply()
	defer s.mu.Unlock()
	if s.deleted {
		res.err = apiErr(errStreamNotFound)
		return errRejected
	}
	if err := b.DropStream(s.name, s.id); err != nil {
		return err
	}
	s.deleted = true
	s.countBytes(-int64(s.state.bytes))
	if s.ageTimer != nil {
		s.ageTimer.Stop()
	}
	s.stopShapingTimers()
	return nil
}

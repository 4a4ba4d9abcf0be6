package stream

import (
	"time"

	"github.com/wisp-mq/wisp/stream/store"
)

// The configuration of per-message TTLs, subject delete markers and
// message schedules.

// ttlDefaults completes a config that asks for delete markers the way
// nats-server does outside pedantic mode: markers need message TTLs and
// subject rollups, so those are switched on.
func (c *Config) ttlDefaults() {
	c.scheduleDefaults()
	if c.SubjectDeleteMarkerTTL >= time.Second {
		c.AllowMsgTTL = true
		c.AllowRollup, c.DenyPurge = true, false
	}
}

// validateTTL refuses delete marker settings that cannot work.
func (c *Config) validateTTL() *APIError {
	invalid := func(msg string) *APIError { return apiErr(errStreamInvalidConfig, msg) }
	switch d := c.SubjectDeleteMarkerTTL; {
	case d < 0:
		return invalid("subject delete marker TTL must not be negative")
	case d > 0 && d < time.Second:
		return invalid("subject delete marker TTL must be at least 1 second")
	case d > 0 && c.Mirror != nil:
		return invalid("subject delete markers forbidden on mirrors")
	}
	return c.validateSchedules()
}

// checkTTLUpdate refuses turning message TTLs off again: messages stored
// with a TTL would stop expiring.
func checkTTLUpdate(old, nw *Config) *APIError {
	if old.AllowMsgTTL && !nw.AllowMsgTTL {
		return apiErr(errStreamInvalidConfig, "message TTL status can not be disabled")
	}
	return checkScheduleUpdate(old, nw)
}

// scheduleDefaults completes a config with message schedules as
// nats-server does outside pedantic mode: a schedule replaces the previous
// one on its subject through a subject rollup.
func (c *Config) scheduleDefaults() {
	if c.AllowSchedules {
		c.AllowRollup, c.DenyPurge = true, false
	}
}

// validateSchedules refuses schedule settings that cannot work.
func (c *Config) validateSchedules() *APIError {
	switch {
	case !c.AllowSchedules:
		return nil
	case c.Mirror != nil:
		return errMirrorWithSchedules()
	case len(c.Sources) > 0:
		return errSourceWithSchedules()
	case c.Discard == DiscardNew:
		return apiErr(errStreamInvalidConfig, "message scheduling cannot use discard new")
	}
	return nil
}

// checkScheduleUpdate refuses turning schedules off again: pending ones
// would never fire.
func checkScheduleUpdate(old, nw *Config) *APIError {
	if old.AllowSchedules && !nw.AllowSchedules {
		return apiErr(errStreamInvalidConfig, "message schedules can not be disabled")
	}
	return nil
}

// featuresEnabled reads the stored messages once when an update turns on
// message TTLs or schedules, so that messages stored before it count
// (those copied in by a source, or schedules kept while they were off).
// With mu held, in the update's apply.
func (s *stream) featuresEnabled(b *store.Batch, old *Config, now int64) error {
	ttls := s.cfg.AllowMsgTTL && !old.AllowMsgTTL
	scheds := s.cfg.AllowSchedules && !old.AllowSchedules
	if !ttls && !scheds || s.state.msgs == 0 {
		return nil
	}
	return b.Reader().Scan(s.id, s.state.first, func(m *store.Msg) bool {
		if ttls {
			s.loadTTL(m, now)
		}
		if scheds && len(m.Header) > 0 {
			s.noteScheduleStored(m.Subject, m.Seq, m.Header, m.Time, now)
		}
		return true
	})
}

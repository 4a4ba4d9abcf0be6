package stream

import "time"

// The configuration of per-message TTLs and subject delete markers.

// ttlDefaults completes a config that asks for delete markers the way
// nats-server does outside pedantic mode: markers need message TTLs and
// subject rollups, so those are switched on.
func (c *Config) ttlDefaults() {
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
	return nil
}

// checkTTLUpdate refuses turning message TTLs off again: messages stored
// with a TTL would stop expiring.
func checkTTLUpdate(old, nw *Config) *APIError {
	if old.AllowMsgTTL && !nw.AllowMsgTTL {
		return apiErr(errStreamInvalidConfig, "message TTL status can not be disabled")
	}
	return nil
}

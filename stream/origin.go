package stream

import "time"

// StreamSource names a stream another stream copies from: its mirror (a
// read-only copy, sequence for sequence) or one of its sources (messages
// appended as they come, from several streams). The JSON is nats-server's.
type StreamSource struct {
	Name              string                   `json:"name"`
	OptStartSeq       uint64                   `json:"opt_start_seq,omitempty"`
	OptStartTime      *time.Time               `json:"opt_start_time,omitempty"`
	FilterSubject     string                   `json:"filter_subject,omitempty"`
	SubjectTransforms []SubjectTransformConfig `json:"subject_transforms,omitempty"`
	External          *ExternalStream          `json:"external,omitempty"`
	// Consumer asks for a named durable consumer on the origin; Wisp
	// refuses it (see validateOrigins).
	Consumer *StreamConsumerSource `json:"consumer,omitempty"`
}

// ExternalStream reaches an origin through another JetStream API prefix:
// another account's (imported) or another domain's.
type ExternalStream struct {
	APIPrefix     string `json:"api"`
	DeliverPrefix string `json:"deliver"`
}

// StreamConsumerSource is nats-server's durable sourcing consumer setting.
type StreamConsumerSource struct {
	Name           string `json:"name,omitempty"`
	DeliverSubject string `json:"deliver_subject,omitempty"`
}

// hasOrigins reports whether the stream mirrors or sources.
func (c *Config) hasOrigins() bool { return c.Mirror != nil || len(c.Sources) > 0 }

// validateOrigins checks mirror and sources settings.
func (c *Config) validateOrigins() *APIError {
	switch {
	case c.Mirror != nil:
		return apiErr(errStreamUnsupported, `"mirror"`)
	case len(c.Sources) > 0:
		return apiErr(errStreamUnsupported, `"sources"`)
	}
	return nil
}

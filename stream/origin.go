package stream

import (
	"fmt"
	"strings"
	"time"

	"github.com/wisp-mq/wisp/subjectmap"
)

// A stream can copy messages from other streams, as nats-server's can:
//
//   - a mirror is a read-only copy of one origin stream: it has no
//     subjects of its own, and keeps each message's origin sequence;
//   - a stream with sources appends what each source stream receives to
//     what it captures itself, each message under a new sequence and with a
//     Nats-Stream-Source header naming its origin and origin sequence.
//
// Either may take only some subjects of the origin (filter_subject, or
// subject_transforms whose sources are the filters and whose destinations
// rename the subjects), start at a sequence or a time, and reach an origin
// in another account or domain through its API prefix (external). The
// copying is done by a copier per origin (copier.go), outside the stream's
// state machine: it reads the origin through an ordinary consumer over the
// JetStream API and appends through the stream's own publish path.

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
	// refuses it (see validateOrigin).
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

// StreamSourceInfo is the mirror or a source in a stream's info: how far
// behind the origin it is (lag, in messages), how long since it last heard
// from it (active; -1 never), and why it is not copying, if it is not.
type StreamSourceInfo struct {
	Name              string                   `json:"name"`
	External          *ExternalStream          `json:"external,omitempty"`
	Lag               uint64                   `json:"lag"`
	Active            time.Duration            `json:"active"`
	Error             *APIError                `json:"error,omitempty"`
	FilterSubject     string                   `json:"filter_subject,omitempty"`
	SubjectTransforms []SubjectTransformConfig `json:"subject_transforms,omitempty"`
}

// hasOrigins reports whether the stream mirrors or sources.
func (c *Config) hasOrigins() bool { return c.Mirror != nil || len(c.Sources) > 0 }

// originKinds gives the error kinds of one of the two roles, so mirrors and
// sources are checked by one function and answered with their own codes.
type originKinds struct {
	name, filter, dest, overlap, multiple errKind
}

var (
	mirrorKinds = originKinds{errMirrorInvalidStreamName, errMirrorInvalidSubjectFilter, errMirrorInvalidTransformDest, errMirrorOverlappingFilters, errMirrorMultipleFilters}
	sourceKinds = originKinds{errSourceInvalidStreamName, errSourceInvalidSubjectFilter, errSourceInvalidTransformDest, errSourceOverlappingFilters, errSourceMultipleFilters}
)

// validateOrigins checks mirror and sources settings with nats-server's
// rules and error codes.
func (c *Config) validateOrigins() *APIError {
	if m := c.Mirror; m != nil {
		switch {
		case c.FirstSeq > 0:
			return apiErr(errMirrorWithFirstSeq)
		case len(c.Subjects) > 0:
			return apiErr(errMirrorWithSubjects)
		case len(c.Sources) > 0:
			return apiErr(errMirrorWithSources)
		case m.OptStartSeq > 0 && m.OptStartTime != nil:
			return apiErr(errMirrorWithStartSeqAndTime)
		}
		if e := c.validateOrigin(m, mirrorKinds); e != nil {
			return e
		}
	}
	seen := map[string]bool{}
	for _, src := range c.Sources {
		if src == nil {
			return apiErr(errSourceInvalidStreamName)
		}
		if e := c.validateOrigin(src, sourceKinds); e != nil {
			return e
		}
		key := src.key()
		if seen[key] {
			return apiErr(errSourceDuplicate)
		}
		seen[key] = true
	}
	return nil
}

// validateOrigin checks what mirrors and sources share: the name, the
// filters and transforms, the external prefixes.
func (c *Config) validateOrigin(o *StreamSource, k originKinds) *APIError {
	if !validName(o.Name) {
		return apiErr(k.name)
	}
	if o.Name == c.Name && o.External == nil {
		return apiErr(errStreamInvalidConfig, "stream configuration for mirror or source forms a cycle")
	}
	if o.Consumer != nil {
		// nats-server copies through such a consumer only when it uses
		// the flow_control ack policy, which Wisp does not implement.
		return apiErr(errStreamUnsupported, `"consumer" of a mirror or source`)
	}
	if o.FilterSubject != "" && len(o.SubjectTransforms) > 0 {
		return apiErr(k.multiple)
	}
	if o.FilterSubject != "" && !validSubject(o.FilterSubject) {
		return apiErr(k.filter, fmt.Sprintf("invalid subject %s", o.FilterSubject))
	}
	filters := o.filters()
	for i, t := range o.SubjectTransforms {
		if t.Source != "" && !validSubject(t.Source) {
			return apiErr(k.filter, fmt.Sprintf("invalid subject %s", t.Source))
		}
		if t.Destination != "" {
			if _, err := subjectmap.NewTransform(t.Source, t.Destination); err != nil {
				return apiErr(k.dest, err)
			}
		}
		for _, g := range filters[i+1:] {
			if subjectsCollide(filters[i], g) {
				return apiErr(k.overlap)
			}
		}
	}
	if x := o.External; x != nil {
		if x.APIPrefix != "" {
			if !validSubject(x.APIPrefix) || hasWildcard(x.APIPrefix) {
				return apiErr(errStreamInvalidConfig, fmt.Sprintf("stream external api prefix %q is not a valid subject", x.APIPrefix))
			}
			for _, subj := range c.Subjects {
				if subjectsCollide(x.APIPrefix+".>", subj) {
					return apiErr(errExternalAPIOverlap, fmt.Sprintf("%s must not overlap with %s", x.APIPrefix, subj))
				}
			}
		}
		if x.DeliverPrefix != "" && hasWildcard(x.DeliverPrefix) {
			return apiErr(errExternalDeliverWildcards, x.DeliverPrefix)
		}
	}
	return nil
}

// checkOriginUpdate refuses a changed mirror; removing it promotes the
// mirror to an ordinary stream, as in nats-server.
func checkOriginUpdate(old, nw *Config) *APIError {
	if nw.Mirror != nil && !sameSource(old.Mirror, nw.Mirror) {
		return apiErr(errMirrorNotUpdatable)
	}
	return nil
}

func sameSource(a, b *StreamSource) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.key() == b.key() && a.OptStartSeq == b.OptStartSeq &&
		(a.OptStartTime == nil) == (b.OptStartTime == nil) &&
		(a.OptStartTime == nil || a.OptStartTime.Equal(*b.OptStartTime))
}

// filters are the origin subjects copied: the transforms' sources, or the
// filter subject, or everything (">").
func (o *StreamSource) filters() []string {
	if len(o.SubjectTransforms) > 0 {
		out := make([]string, len(o.SubjectTransforms))
		for i, t := range o.SubjectTransforms {
			out[i] = t.Source
			if out[i] == "" {
				out[i] = ">"
			}
		}
		return out
	}
	if o.FilterSubject != "" {
		return []string{o.FilterSubject}
	}
	return []string{">"}
}

// key tells sources apart: the origin (and its API prefix) and what is
// taken from it. It is the first, third and fourth fields of the
// Nats-Stream-Source header.
func (o *StreamSource) key() string {
	name := o.Name
	if o.External != nil && o.External.APIPrefix != "" {
		name += "@" + o.External.APIPrefix
	}
	var dests []string
	for _, t := range o.SubjectTransforms {
		d := t.Destination
		if d == "" {
			d = "-"
		}
		dests = append(dests, d)
	}
	dest := strings.Join(dests, ",")
	if dest == "" {
		dest = "-"
	}
	return name + " " + strings.Join(o.filters(), ",") + " " + dest
}

// apiPrefix is where the origin's JetStream API answers.
func (o *StreamSource) apiPrefix() string {
	if o.External != nil && o.External.APIPrefix != "" {
		return o.External.APIPrefix
	}
	return strings.TrimSuffix(apiPrefix, ".")
}

package stream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// ConsumerConfig is a consumer's configuration as the JetStream API carries
// it; JSON names and enum strings are the ones nats.go/jetstream uses.
type ConsumerConfig struct {
	Name               string            `json:"name,omitempty"`
	Durable            string            `json:"durable_name,omitempty"`
	Description        string            `json:"description,omitempty"`
	DeliverPolicy      DeliverPolicy     `json:"deliver_policy"`
	OptStartSeq        uint64            `json:"opt_start_seq,omitempty"`
	OptStartTime       *time.Time        `json:"opt_start_time,omitempty"`
	AckPolicy          AckPolicy         `json:"ack_policy"`
	AckWait            time.Duration     `json:"ack_wait,omitempty"`
	MaxDeliver         int               `json:"max_deliver,omitempty"`
	BackOff            []time.Duration   `json:"backoff,omitempty"`
	FilterSubject      string            `json:"filter_subject,omitempty"`
	FilterSubjects     []string          `json:"filter_subjects,omitempty"`
	ReplayPolicy       ReplayPolicy      `json:"replay_policy"`
	RateLimit          uint64            `json:"rate_limit_bps,omitempty"`
	MaxWaiting         int               `json:"max_waiting,omitempty"`
	MaxAckPending      int               `json:"max_ack_pending,omitempty"`
	HeadersOnly        bool              `json:"headers_only,omitempty"`
	MaxRequestBatch    int               `json:"max_batch,omitempty"`
	MaxRequestExpires  time.Duration     `json:"max_expires,omitempty"`
	MaxRequestMaxBytes int               `json:"max_bytes,omitempty"`
	InactiveThreshold  time.Duration     `json:"inactive_threshold,omitempty"`
	Replicas           int               `json:"num_replicas"`
	MemoryStorage      bool              `json:"mem_storage,omitempty"`
	Metadata           map[string]string `json:"metadata,omitempty"`
	DeliverSubject     string            `json:"deliver_subject,omitempty"`
	DeliverGroup       string            `json:"deliver_group,omitempty"`
	FlowControl        bool              `json:"flow_control,omitempty"`
	IdleHeartbeat      time.Duration     `json:"idle_heartbeat,omitempty"`
	PauseUntil         *time.Time        `json:"pause_until,omitempty"`

	// Ack sampling (ack_sample.go), then priority groups (priority.go):
	// the groups pull requests name, the policy ("overflow",
	// "pinned_client", "prioritized"; "" or "none" without groups) and,
	// for pinned_client, how long a pin lasts without a request from its
	// client.
	SampleFrequency string        `json:"sample_freq,omitempty"`
	PriorityGroups  []string      `json:"priority_groups,omitempty"`
	PriorityPolicy  string        `json:"priority_policy,omitempty"`
	PinnedTTL       time.Duration `json:"priority_timeout,omitempty"`
}

// DeliverPolicy says where a new consumer starts in its stream.
type DeliverPolicy int

const (
	DeliverAll DeliverPolicy = iota
	DeliverLast
	DeliverNew
	DeliverByStartSequence
	DeliverByStartTime
	DeliverLastPerSubject
)

var deliverNames = []string{"all", "last", "new", "by_start_sequence", "by_start_time", "last_per_subject"}

func (d DeliverPolicy) MarshalJSON() ([]byte, error) { return enumMarshal(deliverNames, int(d)) }
func (d *DeliverPolicy) UnmarshalJSON(b []byte) error {
	return enumUnmarshal(deliverNames, (*int)(d), b, "deliver policy")
}

// AckPolicy says which deliveries need an acknowledgement.
type AckPolicy int

const (
	AckNone AckPolicy = iota
	AckAll
	AckExplicit
)

var ackNames = []string{"none", "all", "explicit"}

func (a AckPolicy) MarshalJSON() ([]byte, error) { return enumMarshal(ackNames, int(a)) }
func (a *AckPolicy) UnmarshalJSON(b []byte) error {
	return enumUnmarshal(ackNames, (*int)(a), b, "ack policy")
}

// ReplayPolicy says how fast stored messages are sent: instant as fast as
// the consumer takes them, original spaced as they were stored (see
// docs/consumers.md).
type ReplayPolicy int

const (
	ReplayInstant ReplayPolicy = iota
	ReplayOriginal
)

var replayNames = []string{"instant", "original"}

func (r ReplayPolicy) MarshalJSON() ([]byte, error) { return enumMarshal(replayNames, int(r)) }
func (r *ReplayPolicy) UnmarshalJSON(b []byte) error {
	return enumUnmarshal(replayNames, (*int)(r), b, "replay policy")
}

// Consumer defaults, as nats-server's.
const (
	defaultAckWait           = 30 * time.Second
	defaultMaxAckPending     = 1000
	defaultMaxWaiting        = 512
	defaultInactiveThreshold = 5 * time.Second
	minHeartbeat             = 100 * time.Millisecond
	maxConsumerNameLen       = 255
	maxDescriptionLen        = 4 * 1024
)

// isPush reports whether the consumer delivers to a subject of its own.
func (c *ConsumerConfig) isPush() bool { return c.DeliverSubject != "" }

// filters returns the consumer's filter subjects; nil means everything.
func (c *ConsumerConfig) filters() []string {
	switch {
	case len(c.FilterSubjects) > 0:
		return c.FilterSubjects
	case c.FilterSubject != "" && c.FilterSubject != ">":
		return []string{c.FilterSubject}
	}
	return nil
}

// setDefaults fills zero values the way nats-server does, so that the
// config echoed back equals what the consumer enforces. lim are the
// stream's consumer limits.
func (c *ConsumerConfig) setDefaults(lim ConsumerLimits) {
	if c.Name == "" {
		c.Name = c.Durable
	}
	c.priorityDefaults()
	dropVersionMetadata(&c.Metadata)
	if len(c.FilterSubjects) == 1 && c.FilterSubject == "" {
		c.FilterSubject, c.FilterSubjects = c.FilterSubjects[0], nil
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = -1
	}
	if c.AckPolicy != AckNone && c.AckWait == 0 {
		c.AckWait = defaultAckWait
		if len(c.BackOff) > 0 {
			c.AckWait = c.BackOff[0]
		}
	}
	if !c.isPush() && c.MaxWaiting == 0 {
		c.MaxWaiting = defaultMaxWaiting
	}
	if c.AckPolicy != AckNone && c.MaxAckPending == 0 {
		c.MaxAckPending = defaultMaxAckPending
		if lim.MaxAckPending > 0 {
			c.MaxAckPending = lim.MaxAckPending
		}
	}
	// The stream's limit is every consumer's default, durable or not, as
	// in nats-server; an ephemeral without one still goes after 5s.
	if c.InactiveThreshold == 0 {
		c.InactiveThreshold = lim.InactiveThreshold
	}
	if c.Durable == "" && c.InactiveThreshold == 0 {
		c.InactiveThreshold = defaultInactiveThreshold
	}
}

// validate rejects a config that cannot work for a consumer of a stream
// with config sc, with nats-server's error for it.
func (c *ConsumerConfig) validate(sc *Config) *APIError {
	policy := func(format string, args ...any) *APIError {
		return apiErr(errConsumerInvalidPolicy, fmt.Sprintf(format, args...))
	}
	if c.Durable != "" && c.Name != "" && c.Durable != c.Name {
		return apiErr(errConsumerDurableAndNameMismatch)
	}
	if e := checkConsumerName(c.Name); e != nil {
		return e
	}
	if e := c.validatePriority(); e != nil {
		return e
	}
	if e := c.validateDeadLetter(sc); e != nil {
		return e
	}
	if len(c.Description) > maxDescriptionLen {
		return apiErr(errConsumerDescriptionTooLong, maxDescriptionLen)
	}
	if e := c.validateDelivery(); e != nil {
		return e
	}
	if _, e := parseSampleFreq(c.SampleFrequency); e != nil {
		return e
	}
	switch c.DeliverPolicy {
	case DeliverByStartSequence:
		if c.OptStartSeq == 0 || c.OptStartTime != nil {
			return policy("consumer delivery policy is deliver by start sequence, but optional start sequence is not set")
		}
	case DeliverByStartTime:
		if c.OptStartTime == nil || c.OptStartSeq != 0 {
			return policy("consumer delivery policy is deliver by start time, but optional start time is not set")
		}
	default:
		if c.OptStartSeq != 0 || c.OptStartTime != nil {
			return policy("consumer delivery policy is %s, optional start sequence or time is not allowed", deliverNames[c.DeliverPolicy])
		}
	}
	if c.DeliverPolicy == DeliverLastPerSubject && len(c.filters()) == 0 {
		return policy("consumer delivery policy is deliver last per subject, but FilterSubject is not set")
	}
	for _, d := range c.BackOff {
		if d <= 0 {
			return apiErr(errConsumerBackOffNegative)
		}
	}
	switch {
	case c.AckWait < 0:
		return apiErr(errConsumerAckWaitNegative)
	case c.MaxAckPending > 0 && c.AckPolicy == AckNone:
		return apiErr(errConsumerMaxPendingAckPolicy)
	case c.MaxDeliver > 0 && c.MaxDeliver <= len(c.BackOff):
		return apiErr(errConsumerMaxDeliverBackoff)
	case c.Replicas > 1 && sc.Replicas <= 1:
		return apiErr(errStreamReplicasNotSupported)
	case c.Replicas > sc.Replicas:
		// A consumer goes through its stream's log (replica.go), held by
		// every replica of the stream: fewer replicas than the stream's
		// (a consumer created before the stream's count went up, say)
		// get the stream's, more cannot be had.
		return apiErr(errConsumerReplicasExceedsStream)
	case sc.ConsumerLimits.MaxAckPending > 0 && c.MaxAckPending > sc.ConsumerLimits.MaxAckPending:
		return apiErr(errConsumerMaxAckPendingExcess, sc.ConsumerLimits.MaxAckPending)
	case sc.ConsumerLimits.InactiveThreshold > 0 && c.InactiveThreshold > sc.ConsumerLimits.InactiveThreshold:
		return apiErr(errConsumerInactiveThresholdExcess, sc.ConsumerLimits.InactiveThreshold)
	}
	if e := c.validateFilters(sc); e != nil {
		return e
	}
	if sc.Retention == RetentionWorkQueue && c.AckPolicy != AckExplicit {
		return apiErr(errConsumerWQRequiresExplicitAck)
	}
	return nil
}

// priorityPolicyNone is the priority policy of a consumer without priority
// groups; clients may send it by name.
const priorityPolicyNone = "none"

// checkConsumerName applies nats-server's rules for consumer names.
func checkConsumerName(name string) *APIError {
	switch {
	case name == "":
		return nil
	case len(name) > maxConsumerNameLen:
		return apiErr(errConsumerNameTooLong, maxConsumerNameLen)
	case strings.ContainsAny(name, "/\\"):
		return apiErr(errConsumerNameInvalid)
	case strings.ContainsAny(name, ".*> \t\r\n\x00") || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return apiErr(errConsumerBadDurableName)
	}
	return nil
}

// validateDelivery checks the push/pull specific settings.
func (c *ConsumerConfig) validateDelivery() *APIError {
	if !c.isPush() {
		switch {
		case c.MaxWaiting < 0:
			return apiErr(errConsumerMaxWaitingNegative)
		case c.IdleHeartbeat > 0:
			return apiErr(errConsumerHBRequiresPush)
		case c.FlowControl:
			return apiErr(errConsumerFCRequiresPush)
		case c.RateLimit > 0:
			return apiErr(errConsumerPullWithRateLimit)
		}
		return nil
	}
	switch {
	case !validSubject(c.DeliverSubject):
		return apiErr(errConsumerInvalidDeliverSubject)
	case hasWildcard(c.DeliverSubject):
		return apiErr(errConsumerDeliverToWildcards)
	case subjectsCollide(c.DeliverSubject, "$JS.API.>"):
		return apiErr(errConsumerInvalidDeliverSubject)
	case c.MaxWaiting != 0:
		return apiErr(errConsumerPushMaxWaiting)
	case c.IdleHeartbeat != 0 && c.IdleHeartbeat < minHeartbeat:
		return apiErr(errConsumerSmallHeartbeat)
	case c.FlowControl && c.IdleHeartbeat == 0:
		return apiErr(errConsumerFCNeedsHeartbeats)
	}
	return nil
}

// validateFilters checks filter_subject(s) against each other and the
// stream's subjects.
func (c *ConsumerConfig) validateFilters(sc *Config) *APIError {
	if c.FilterSubject != "" && len(c.FilterSubjects) > 0 {
		return apiErr(errConsumerDuplicateFilters)
	}
	fs := c.filters()
	for i, f := range fs {
		if f == "" {
			return apiErr(errConsumerEmptyFilter)
		}
		if !validSubject(f) {
			return apiErr(errConsumerCreate, fmt.Sprintf("invalid filter subject %q", f))
		}
		for _, g := range fs[i+1:] {
			if subjectsCollide(f, g) {
				return apiErr(errConsumerOverlappingFilters)
			}
		}
		inStream := false
		for _, ss := range sc.Subjects {
			if subjectsCollide(ss, f) {
				inStream = true
				break
			}
		}
		if !inStream && !sc.storesOtherSubjects() {
			return apiErr(errConsumerFilterNotSubset)
		}
	}
	if c.isPush() {
		for _, ss := range sc.Subjects {
			if subjectsCollide(ss, c.DeliverSubject) {
				return apiErr(errConsumerDeliverCycle)
			}
		}
	}
	return nil
}

// checkConsumerUpdate rejects changes an existing consumer cannot take.
func checkConsumerUpdate(old, nw *ConsumerConfig) *APIError {
	bad := func(what string) *APIError {
		return apiErr(errConsumerCreate, what+" can not be updated")
	}
	switch {
	case old.DeliverPolicy != nw.DeliverPolicy:
		return bad("deliver policy")
	case old.OptStartSeq != nw.OptStartSeq:
		return bad("start sequence")
	case !sameTimePtr(old.OptStartTime, nw.OptStartTime):
		return bad("start time")
	case old.AckPolicy != nw.AckPolicy:
		return bad("ack policy")
	case old.ReplayPolicy != nw.ReplayPolicy:
		return bad("replay policy")
	case old.isPush() != nw.isPush():
		return apiErr(errConsumerCreate, "can not update push consumer to pull based")
	case old.Durable != nw.Durable:
		return bad("durable name")
	case old.MemoryStorage != nw.MemoryStorage:
		return bad("memory storage")
	case old.DeliverGroup != nw.DeliverGroup && old.isPush():
		return bad("deliver group")
	}
	return nil
}

func sameTimePtr(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// sameConsumerConfig compares configs as they would be stored, without
// the version metadata keys (version_metadata.go).
func sameConsumerConfig(a, b *ConsumerConfig) bool {
	ca, cb := *a, *b
	ca.Metadata, cb.Metadata = withoutVersionMetadata(a.Metadata), withoutVersionMetadata(b.Metadata)
	ja, err1 := json.Marshal(&ca)
	jb, err2 := json.Marshal(&cb)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

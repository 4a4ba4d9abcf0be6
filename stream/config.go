package stream

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config is a stream's configuration as the JetStream API carries it. The
// JSON names and enum strings are the ones nats.go/jetstream marshals; a
// config read back from Wisp must unmarshal in the client unchanged. The
// flags without omitempty are those nats-server writes out when false.
type Config struct {
	Name                 string            `json:"name"`
	Description          string            `json:"description,omitempty"`
	Subjects             []string          `json:"subjects,omitempty"`
	Retention            Retention         `json:"retention"`
	MaxConsumers         int               `json:"max_consumers"`
	MaxMsgs              int64             `json:"max_msgs"`
	MaxBytes             int64             `json:"max_bytes"`
	Discard              Discard           `json:"discard"`
	DiscardNewPerSubject bool              `json:"discard_new_per_subject,omitempty"`
	MaxAge               time.Duration     `json:"max_age"`
	MaxMsgsPerSubject    int64             `json:"max_msgs_per_subject"`
	MaxMsgSize           int32             `json:"max_msg_size,omitempty"`
	Storage              Storage           `json:"storage"`
	Replicas             int               `json:"num_replicas"`
	NoAck                bool              `json:"no_ack,omitempty"`
	Duplicates           time.Duration     `json:"duplicate_window,omitempty"`
	Sealed               bool              `json:"sealed"`
	DenyDelete           bool              `json:"deny_delete"`
	DenyPurge            bool              `json:"deny_purge"`
	AllowRollup          bool              `json:"allow_rollup_hdrs"`
	Compression          string            `json:"compression"`
	FirstSeq             uint64            `json:"first_seq,omitempty"`
	AllowDirect          bool              `json:"allow_direct"`
	MirrorDirect         bool              `json:"mirror_direct"`
	ConsumerLimits       ConsumerLimits    `json:"consumer_limits"`
	Metadata             map[string]string `json:"metadata,omitempty"`

	// Shaping (transform.go).
	SubjectTransform *SubjectTransformConfig `json:"subject_transform,omitempty"`
	RePublish        *RePublish              `json:"republish,omitempty"`
	// Origins (origin.go): a mirror, or sources.
	Mirror  *StreamSource   `json:"mirror,omitempty"`
	Sources []*StreamSource `json:"sources,omitempty"`

	// Counters (counter.go), atomic batches (batch.go) and fast batches
	// (fast_batch.go).
	AllowMsgCounter bool `json:"allow_msg_counter,omitempty"`
	AllowAtomic     bool `json:"allow_atomic,omitempty"`
	AllowBatched    bool `json:"allow_batched,omitempty"`

	// Per-message TTL and delete markers (ttl.go, markers.go), and
	// message schedules (schedule.go).
	AllowMsgTTL            bool          `json:"allow_msg_ttl"`
	SubjectDeleteMarkerTTL time.Duration `json:"subject_delete_marker_ttl,omitempty"`
	AllowSchedules         bool          `json:"allow_msg_schedules,omitempty"`

	// Features Wisp does not implement. They are decoded only so that a
	// request using them is refused with a reason (validate) instead of
	// silently creating a stream that behaves differently; their zero
	// values, which clients send by default, are accepted.
	Placement   *Placement `json:"placement,omitempty"`
	PersistMode string     `json:"persist_mode,omitempty"`
}

// Placement is where a clustered deployment should put a stream. Wisp is
// one server: only an empty placement is accepted.
type Placement struct {
	Cluster   string   `json:"cluster,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	Preferred string   `json:"preferred,omitempty"`
}

// persistModeDefault is the only persist mode Wisp has: every write is
// committed before it is acknowledged (the server-wide sync settings in
// docs/streams.md say how it reaches the disk).
const persistModeDefault = "default"

// ConsumerLimits are defaults a stream imposes on its consumers.
type ConsumerLimits struct {
	InactiveThreshold time.Duration `json:"inactive_threshold,omitempty"`
	MaxAckPending     int           `json:"max_ack_pending,omitempty"`
}

// DefaultDuplicateWindow is the de-duplication window when none is given.
const DefaultDuplicateWindow = 2 * time.Minute

// maxNameLen bounds stream names: they become parts of subjects and keys.
const maxNameLen = 255

// setDefaults fills zero values the way nats-server does, so that a
// config echoed back equals what the server enforces: 0 means "unlimited"
// (-1) for the limits, one replica, file storage, no compression.
func (c *Config) setDefaults() {
	for _, p := range []*int64{&c.MaxMsgs, &c.MaxBytes, &c.MaxMsgsPerSubject} {
		if *p == 0 {
			*p = -1
		}
	}
	if c.MaxConsumers == 0 {
		c.MaxConsumers = -1
	}
	if c.MaxMsgSize == 0 {
		c.MaxMsgSize = -1
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Compression == "" {
		c.Compression = "none"
	}
	if c.Duplicates == 0 {
		c.Duplicates = DefaultDuplicateWindow
		if c.MaxAge > 0 && c.MaxAge < c.Duplicates {
			c.Duplicates = c.MaxAge
		}
	}
	if c.Placement != nil && c.Placement.Cluster == "" && len(c.Placement.Tags) == 0 && c.Placement.Preferred == "" {
		c.Placement = nil
	}
	if c.PersistMode == persistModeDefault {
		c.PersistMode = ""
	}
	c.ttlDefaults()
	dropVersionMetadata(&c.Metadata)
	if len(c.Subjects) == 0 && !c.hasOrigins() {
		c.Subjects = []string{c.Name}
	}
}

// validate rejects a config that cannot work, with the API error to send.
func (c *Config) validate() *APIError {
	if c.Name == "" {
		return apiErr(errStreamInvalidConfig, "stream name is required")
	}
	if !validName(c.Name) {
		return apiErr(errStreamNameInvalid)
	}
	invalid := func(format string, args ...any) *APIError {
		return apiErr(errStreamInvalidConfig, fmt.Sprintf(format, args...))
	}
	if e := c.refuseUnsupported(); e != nil {
		return e
	}
	if e := c.validateCounterAtomic(); e != nil {
		return e
	}
	if e := c.validateShaping(); e != nil {
		return e
	}
	if e := c.validateOrigins(); e != nil {
		return e
	}
	if e := c.validateTTL(); e != nil {
		return e
	}
	switch {
	case c.Replicas > maxReplicas:
		return invalid("maximum replicas is 5")
	case c.Replicas < 0:
		return invalid("replicas count cannot be negative")
	case c.MirrorDirect && c.Mirror == nil:
		return invalid("stream has no mirror but does have mirror direct")
	case c.MaxAge < 0:
		return invalid("max age needs to be >= 0")
	case c.Duplicates < 0:
		return invalid("duplicates window needs to be >= 0")
	case c.MaxAge > 0 && c.Duplicates > c.MaxAge:
		return invalid("duplicates window can not be larger then max age")
	case c.MaxMsgs < -1 || c.MaxBytes < -1 || c.MaxMsgsPerSubject < -1 || c.MaxMsgSize < -1 || c.MaxConsumers < -1:
		return invalid("limits must be -1 (unlimited) or positive")
	case c.AllowRollup && c.DenyPurge:
		return invalid("roll-ups require the purge permission")
	case c.DiscardNewPerSubject && (c.Discard != DiscardNew || c.MaxMsgsPerSubject <= 0):
		return invalid("discard new per subject requires discard new policy and max msgs per subject to be set")
	case len(c.Description) > 4*1024:
		return invalid("description is too long, maximum allowed is 4096")
	}
	return validateSubjects(c.Subjects)
}

// refuseUnsupported refuses the settings of features Wisp does not
// implement, naming the field so the user knows what to remove.
func (c *Config) refuseUnsupported() *APIError {
	var field string
	switch {
	case c.Placement != nil:
		field = `"placement"`
	case c.PersistMode != "":
		field = fmt.Sprintf(`"persist_mode" %q`, c.PersistMode)
	case c.Compression != "none":
		field = fmt.Sprintf(`"compression" %q`, c.Compression)
	default:
		return nil
	}
	return apiErr(errStreamUnsupported, field)
}

// validateSubjects checks one stream's own subject list.
func validateSubjects(subjects []string) *APIError {
	seen := make(map[string]bool, len(subjects))
	for _, s := range subjects {
		if !validSubject(s) {
			return apiErr(errStreamInvalidConfig, fmt.Sprintf("invalid subject %q", s))
		}
		if seen[s] {
			return apiErr(errStreamInvalidConfig, "duplicate subjects detected")
		}
		seen[s] = true
		if subjectsCollide(s, "$JS.API.>") || subjectsCollide(s, "$JS.ACK.>") {
			return apiErr(errStreamInvalidConfig, "subjects that overlap with the JetStream API are not allowed")
		}
	}
	for i, a := range subjects {
		for _, b := range subjects[i+1:] {
			if subjectsCollide(a, b) {
				return apiErr(errStreamInvalidConfig, fmt.Sprintf("subjects %q and %q overlap", a, b))
			}
		}
	}
	return nil
}

// checkUpdate rejects changes an existing stream cannot take.
func checkUpdate(old, nw *Config) *APIError {
	bad := func(what string) *APIError {
		return apiErr(errStreamInvalidConfig, "stream configuration update can not change "+what)
	}
	switch {
	case old.Storage != nw.Storage:
		return bad("storage type")
	case old.Retention != nw.Retention:
		return bad("retention policy")
	case old.Sealed && !nw.Sealed:
		return bad("sealed setting")
	case old.FirstSeq != nw.FirstSeq:
		return bad("first sequence")
	case old.AllowMsgCounter != nw.AllowMsgCounter:
		return bad("message counter setting")
	}
	if e := checkTTLUpdate(old, nw); e != nil {
		return e
	}
	return checkOriginUpdate(old, nw)
}

// validName reports whether name can name a stream: printable, and free of
// the characters that would make it several subject tokens, a wildcard, or
// a path.
func validName(name string) bool {
	if name == "" || len(name) > maxNameLen {
		return false
	}
	return !strings.ContainsAny(name, ".*> \t\r\n/\\\x00") && !strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// Retention is the stream's retention policy.
type Retention int

const (
	RetentionLimits Retention = iota
	RetentionInterest
	RetentionWorkQueue
)

var retentionNames = []string{"limits", "interest", "workqueue"}

func (r Retention) MarshalJSON() ([]byte, error) { return enumMarshal(retentionNames, int(r)) }
func (r *Retention) UnmarshalJSON(b []byte) error {
	return enumUnmarshal(retentionNames, (*int)(r), b, "retention")
}

// Discard says what happens when a limit is reached.
type Discard int

const (
	DiscardOld Discard = iota
	DiscardNew
)

var discardNames = []string{"old", "new"}

func (d Discard) MarshalJSON() ([]byte, error) { return enumMarshal(discardNames, int(d)) }
func (d *Discard) UnmarshalJSON(b []byte) error {
	return enumUnmarshal(discardNames, (*int)(d), b, "discard")
}

// Storage is where a stream keeps its messages.
type Storage int

const (
	FileStorage Storage = iota
	MemoryStorage
)

var storageNames = []string{"file", "memory"}

func (s Storage) MarshalJSON() ([]byte, error) { return enumMarshal(storageNames, int(s)) }
func (s *Storage) UnmarshalJSON(b []byte) error {
	return enumUnmarshal(storageNames, (*int)(s), b, "storage")
}

func (s Storage) String() string { return storageNames[s] }

func enumMarshal(names []string, v int) ([]byte, error) {
	if v < 0 || v >= len(names) {
		return nil, fmt.Errorf("stream: enum value %d out of range", v)
	}
	return json.Marshal(names[v])
}

func enumUnmarshal(names []string, v *int, b []byte, what string) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	for i, n := range names {
		if strings.EqualFold(s, n) {
			*v = i
			return nil
		}
	}
	return errors.New("can not unmarshal " + what + " " + string(b))
}

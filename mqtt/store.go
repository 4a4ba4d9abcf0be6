package mqtt

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nuid"
)

// The streams the MQTT layer keeps in each account it serves.
const (
	sessStream     = "$MQTT_sess"
	msgsStream     = "$MQTT_msgs"
	retainedStream = "$MQTT_rmsgs"
	qos2Stream     = "$MQTT_qos2in"

	sessPrefix     = "$MQTT.sess."
	msgsPrefix     = "$MQTT.msgs."
	retainedPrefix = "$MQTT.rmsgs."
	qos2Prefix     = "$MQTT.qos2.in."
	deliverPrefix  = "$MQTT.sub."
	reservedPrefix = "$MQTT."
)

// streamConfig is the part of a stream definition the MQTT layer sets.
type streamConfig struct {
	Name              string   `json:"name"`
	Subjects          []string `json:"subjects"`
	Retention         string   `json:"retention"`
	MaxMsgsPerSubject int64    `json:"max_msgs_per_subject"`
	Storage           string   `json:"storage"`
	Replicas          int      `json:"num_replicas"`
}

// ensureStreams creates the four streams, or finds them already there.
func (a *accountState) ensureStreams() error {
	defs := []streamConfig{
		{Name: sessStream, Subjects: []string{sessPrefix + ">"}, Retention: "limits", MaxMsgsPerSubject: 1},
		{Name: msgsStream, Subjects: []string{msgsPrefix + ">"}, Retention: "interest", MaxMsgsPerSubject: -1},
		{Name: retainedStream, Subjects: []string{retainedPrefix + ">"}, Retention: "limits", MaxMsgsPerSubject: 1},
		{Name: qos2Stream, Subjects: []string{qos2Prefix + ">"}, Retention: "limits", MaxMsgsPerSubject: 1},
	}
	for _, d := range defs {
		d.Storage, d.Replicas = "file", 1
		err := a.js.call("$JS.API.STREAM.CREATE."+d.Name, d, nil)
		if err != nil && !isAPIError(err, errCodeStreamNameInUse) {
			return fmt.Errorf("mqtt: creating stream %s in account %s: %w", d.Name, a.name, err)
		}
	}
	return nil
}

// sessionRecord is what a persistent session stores: its subscriptions
// and the consumers that hold their QoS 1 messages.
type sessionRecord struct {
	ClientID string         `json:"id"`
	Subs     []storedFilter `json:"subs,omitempty"`
}

type storedFilter struct {
	Filter   string `json:"filter"`
	QoS      byte   `json:"qos"`
	Consumer string `json:"consumer,omitempty"`
}

// clientHash names a client id in subjects and consumer names, which
// cannot hold every character a client id may.
func clientHash(clientID string) string {
	h := sha256.Sum256([]byte(clientID))
	return hex.EncodeToString(h[:8])
}

// loadSession reads a client's stored session; nil when there is none.
func (a *accountState) loadSession(clientID string) (*sessionRecord, error) {
	var reply struct {
		Message *struct {
			Data []byte `json:"data"`
		} `json:"message"`
	}
	req := map[string]string{"last_by_subj": sessPrefix + clientHash(clientID)}
	err := a.js.call("$JS.API.STREAM.MSG.GET."+sessStream, req, &reply)
	if isAPIError(err, errCodeNoMessage) || err == nil && reply.Message == nil {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mqtt: loading session of %q: %w", clientID, err)
	}
	var rec sessionRecord
	if err := json.Unmarshal(reply.Message.Data, &rec); err != nil {
		return nil, fmt.Errorf("mqtt: session record of %q: %w", clientID, err)
	}
	if rec.ClientID != clientID {
		return nil, nil // a hash collision: not this client's session
	}
	return &rec, nil
}

func (a *accountState) saveSession(rec *sessionRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("mqtt: encoding session: %w", err)
	}
	return a.js.store(sessPrefix+clientHash(rec.ClientID), nil, data)
}

func (a *accountState) deleteSession(clientID string) error {
	req := map[string]string{"filter": sessPrefix + clientHash(clientID)}
	return a.js.call("$JS.API.STREAM.PURGE."+sessStream, req, nil)
}

// consumerConfig is the part of a consumer definition the MQTT layer sets.
type consumerConfig struct {
	Durable           string        `json:"durable_name"`
	DeliverSubject    string        `json:"deliver_subject"`
	DeliverGroup      string        `json:"deliver_group,omitempty"`
	DeliverPolicy     string        `json:"deliver_policy"`
	AckPolicy         string        `json:"ack_policy"`
	AckWait           time.Duration `json:"ack_wait"`
	MaxAckPending     int           `json:"max_ack_pending"`
	FilterSubjects    []string      `json:"filter_subjects"`
	MemoryStorage     bool          `json:"mem_storage,omitempty"`
	InactiveThreshold time.Duration `json:"inactive_threshold,omitempty"`
}

// newConsumerName makes a durable name for one subscription of a session.
func newConsumerName(clientID string) string {
	return clientHash(clientID) + "_" + nuid.Next()
}

// sharedConsumerName is the durable that every member of a shared QoS 1
// subscription reads: one per group and filter.
func sharedConsumerName(group, filter string) string {
	h := sha256.Sum256([]byte(group + "\x00" + filter))
	return "share_" + hex.EncodeToString(h[:8])
}

// ensureConsumer creates (or finds) the durable holding a subscription's
// QoS 1 messages, delivered to deliverPrefix+name.
func (a *accountState) ensureConsumer(name, group string, subjects []string) error {
	filters := make([]string, len(subjects))
	for i, s := range subjects {
		filters[i] = msgsPrefix + s
	}
	o := a.svc.opts
	cfg := consumerConfig{
		Durable: name, DeliverSubject: deliverPrefix + name, DeliverGroup: group,
		DeliverPolicy: "new", AckPolicy: "explicit", AckWait: o.AckWait,
		MaxAckPending: o.MaxAckPending, FilterSubjects: filters,
		MemoryStorage: o.ConsumerMemoryStorage, InactiveThreshold: o.ConsumerInactiveThreshold,
	}
	req := map[string]any{"stream_name": msgsStream, "config": cfg}
	err := a.js.call("$JS.API.CONSUMER.DURABLE.CREATE."+msgsStream+"."+name, req, nil)
	// An existing durable (a resumed or shared subscription) is used as it
	// is, even if ack_wait or max_ack_pending changed since: as with
	// nats-server, new settings apply to new subscriptions.
	if err != nil && !isAPIError(err, errCodeConsumerExists) && !isAPIError(err, errCodeConsumerNameInUse) {
		return fmt.Errorf("mqtt: creating consumer %s: %w", name, err)
	}
	return nil
}

func (a *accountState) deleteConsumer(name string) error {
	err := a.js.call("$JS.API.CONSUMER.DELETE."+msgsStream+"."+name, nil, nil)
	if err != nil && !isAPIError(err, errCodeNoConsumer) {
		return fmt.Errorf("mqtt: deleting consumer %s: %w", name, err)
	}
	return nil
}

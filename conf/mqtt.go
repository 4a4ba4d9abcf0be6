package conf

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/wisp-mq/wisp/server"
)

// MQTT is the [mqtt] table: the MQTT listener, off unless the table is
// present. Key names are nats-server's mqtt block's.
type MQTT struct {
	Host string
	Port int // default 1883
	TLS  *server.TLSOptions
	// NoAuthUser is the user (one of the server's) an MQTT client that
	// sends no user name logs in as.
	NoAuthUser                string
	AckWait                   time.Duration
	MaxAckPending             int
	ConsumerMemoryStorage     bool
	ConsumerInactiveThreshold time.Duration
	APITimeout                time.Duration
	RejectQoS2Publish         bool
	DowngradeQoS2Subscribe    bool
}

type fileMQTT struct {
	Host                      *stringValue   `toml:"host"`
	Port                      *intValue      `toml:"port"`
	Listen                    *stringValue   `toml:"listen"`
	TLS                       *fileTLS       `toml:"tls"`
	NoAuthUser                *stringValue   `toml:"no_auth_user"`
	AckWait                   *durationValue `toml:"ack_wait"`
	MaxAckPending             *intValue      `toml:"max_ack_pending"`
	ConsumerMemoryStorage     *boolValue     `toml:"consumer_memory_storage"`
	ConsumerInactiveThreshold *durationValue `toml:"consumer_inactive_threshold"`
	APITimeout                *durationValue `toml:"js_api_timeout"`
	RejectQoS2Publish         *boolValue     `toml:"reject_qos2_publish"`
	DowngradeQoS2Subscribe    *boolValue     `toml:"downgrade_qos2_subscribe"`
	// nats-server keys Wisp refuses with a reason rather than ignores.
	Authorization    *anyValue `toml:"authorization"`
	JSDomain         *anyValue `toml:"js_domain"`
	StreamReplicas   *anyValue `toml:"stream_replicas"`
	ConsumerReplicas *anyValue `toml:"consumer_replicas"`
}

// anyValue accepts any value, kept so a refused key can be named.
type anyValue struct{ v any }

func (t *anyValue) UnmarshalTOML(v any) error { t.v = v; return nil }

// applyMQTT copies the [mqtt] table onto c.
func (p *parsedFile) applyMQTT(c *Config) error {
	f := p.cfg.MQTT
	m := &MQTT{}
	setString(&m.Host, f.Host)
	setInt(&m.Port, f.Port)
	if f.Listen != nil {
		if f.Host != nil || f.Port != nil {
			return p.keyError("mqtt.listen", errors.New(`set either "listen" or "host"/"port", not both`))
		}
		host, port, err := net.SplitHostPort(string(*f.Listen))
		if err != nil {
			return p.keyError("mqtt.listen", fmt.Errorf("expected \"host:port\": %v", err))
		}
		if m.Port, err = parsePort(port); err != nil {
			return p.keyError("mqtt.listen", err)
		}
		m.Host = host
	}
	if t := f.TLS; t != nil {
		// MQTT has no INFO to send first, and its clients log in with user
		// and password only: these two have nothing to act on.
		if t.VerifyAndMap != nil {
			return p.keyError("mqtt.tls.verify_and_map", errors.New("not supported for MQTT clients: they log in with a user name and password (verify = true still requires a client certificate)"))
		}
		if t.HandshakeFirst != nil {
			return p.keyError("mqtt.tls.handshake_first", errors.New("not supported for MQTT: TLS always starts at the first byte"))
		}
		m.TLS = t.options()
	}
	setString(&m.NoAuthUser, f.NoAuthUser)
	setDuration(&m.AckWait, f.AckWait)
	setInt(&m.MaxAckPending, f.MaxAckPending)
	setBool(&m.ConsumerMemoryStorage, f.ConsumerMemoryStorage)
	setDuration(&m.ConsumerInactiveThreshold, f.ConsumerInactiveThreshold)
	setDuration(&m.APITimeout, f.APITimeout)
	setBool(&m.RejectQoS2Publish, f.RejectQoS2Publish)
	setBool(&m.DowngradeQoS2Subscribe, f.DowngradeQoS2Subscribe)
	if f.Authorization != nil {
		return p.keyError("mqtt.authorization", errors.New("not supported: MQTT clients log in as the server's users ([authorization] and [accounts]); use mqtt.no_auth_user for clients without credentials"))
	}
	if f.JSDomain != nil {
		return p.keyError("mqtt.js_domain", errors.New("not supported: Wisp has no JetStream domains; MQTT uses the stream layer of each client's account"))
	}
	for key, v := range map[string]*anyValue{"mqtt.stream_replicas": f.StreamReplicas, "mqtt.consumer_replicas": f.ConsumerReplicas} {
		if v == nil {
			continue
		}
		if n, ok := v.v.(int64); !ok || n > 1 || n < 0 {
			return p.keyError(key, errors.New("only 1 (or 0, the default) is supported: streams are not replicated yet"))
		}
	}
	c.MQTT = m
	return nil
}

// validateMQTT checks the [mqtt] settings against the rest.
func (c *Config) validateMQTT() []error {
	m := c.MQTT
	if m == nil {
		return nil
	}
	var errs []error
	if !c.JetStream {
		errs = append(errs, errors.New("mqtt: MQTT needs the stream layer for sessions and retained messages: turn on jetstream (-js or [jetstream] enabled = true)"))
	}
	if m.Port < -1 || m.Port > 65535 {
		errs = append(errs, fmt.Errorf("mqtt.port: %d is out of range", m.Port))
	}
	if m.AckWait < 0 {
		errs = append(errs, errors.New("mqtt.ack_wait: must not be negative"))
	}
	if m.MaxAckPending < 0 || m.MaxAckPending > 65535 {
		errs = append(errs, fmt.Errorf("mqtt.max_ack_pending: %d is out of range [0..65535]", m.MaxAckPending))
	}
	if m.ConsumerInactiveThreshold < 0 {
		errs = append(errs, errors.New("mqtt.consumer_inactive_threshold: must not be negative"))
	}
	if m.APITimeout < 0 {
		errs = append(errs, errors.New("mqtt.js_api_timeout: must not be negative"))
	}
	if m.NoAuthUser != "" && !hasUser(&c.Server, m.NoAuthUser) {
		errs = append(errs, fmt.Errorf("mqtt.no_auth_user: %q is not a configured user", m.NoAuthUser))
	}
	if m.TLS != nil && (m.TLS.CertFile == "" || m.TLS.KeyFile == "") && m.TLS.Config == nil {
		errs = append(errs, errors.New("mqtt.tls: cert_file and key_file are required"))
	}
	return errs
}

func hasUser(o *server.Options, name string) bool {
	if o.Username == name {
		return true
	}
	for _, u := range o.Users {
		if u.Username == name {
			return true
		}
	}
	for _, a := range o.Accounts {
		for _, u := range a.Users {
			if u.Username == name {
				return true
			}
		}
	}
	return false
}

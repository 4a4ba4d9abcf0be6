package conf

import (
	"fmt"
	"strings"
	"time"

	"github.com/wisp-mq/wisp/server"
)

// The [tls] table, as in nats-server:
//
//	[tls]
//	cert_file = "server.pem"
//	key_file = "server-key.pem"
//	ca_file = "ca.pem"
//	verify = true              # or verify_and_map = true: the certificate names the user
//	timeout = "2s"
//	handshake_first = "auto"   # true, false, "auto" or a fallback delay such as "300ms"

// options turns the table into the server's TLS options.
func (t *fileTLS) options() *server.TLSOptions {
	o := &server.TLSOptions{}
	setString(&o.CertFile, t.CertFile)
	setString(&o.KeyFile, t.KeyFile)
	setString(&o.CAFile, t.CAFile)
	setBool(&o.Verify, t.Verify)
	setBool(&o.VerifyAndMap, t.VerifyAndMap)
	setDuration(&o.Timeout, t.Timeout)
	if h := t.HandshakeFirst; h != nil {
		o.HandshakeFirst, o.HandshakeFirstFallback = h.on, h.fallback
	}
	return o
}

// handshakeFirstValue is handshake_first: true or false; "auto", which
// waits server.DefaultHandshakeFirstFallback (50ms) for a TLS ClientHello
// before sending INFO in plain text; or that wait given as a duration
// ("300ms"). nats-server's "auto_fallback" is accepted as "auto".
type handshakeFirstValue struct {
	on       bool
	fallback time.Duration
}

const handshakeFirstForms = `true, false, "auto" or a fallback delay such as "300ms"`

func (v *handshakeFirstValue) UnmarshalTOML(data any) error {
	switch d := data.(type) {
	case bool:
		v.on, v.fallback = d, 0
		return nil
	case string:
		t := strings.ToLower(strings.TrimSpace(d))
		if t == "auto" || t == "auto_fallback" {
			v.on, v.fallback = true, server.DefaultHandshakeFirstFallback
			return nil
		}
		dur, err := time.ParseDuration(t)
		if err != nil {
			return fmt.Errorf("invalid value %q: use %s", d, handshakeFirstForms)
		}
		if dur <= 0 {
			return fmt.Errorf("fallback delay %q must be positive (false turns handshake_first off)", d)
		}
		v.on, v.fallback = true, dur
		return nil
	}
	return fmt.Errorf("expected %s, got %s", handshakeFirstForms, tomlKind(data))
}

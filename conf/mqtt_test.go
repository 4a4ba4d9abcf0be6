package conf

import (
	"strings"
	"testing"
	"time"
)

func TestMQTTFile(t *testing.T) {
	c, err := LoadFile("w.conf", []byte(`
jetstream = true
[authorization]
users = [{user = "dev", password = "p"}]
[mqtt]
listen = "127.0.0.1:1884"
no_auth_user = "dev"
ack_wait = "5s"
max_ack_pending = 100
consumer_memory_storage = true
consumer_inactive_threshold = "1h"
js_api_timeout = "3s"
reject_qos2_publish = true
stream_replicas = 1
downgrade_qos2_subscribe = true
`))
	if err != nil {
		t.Fatal(err)
	}
	m := c.MQTT
	if m == nil || m.Host != "127.0.0.1" || m.Port != 1884 || m.NoAuthUser != "dev" || m.AckWait != 5*time.Second ||
		m.MaxAckPending != 100 || !m.ConsumerMemoryStorage || m.ConsumerInactiveThreshold != time.Hour ||
		m.APITimeout != 3*time.Second || !m.RejectQoS2Publish || !m.DowngradeQoS2Subscribe {
		t.Fatalf("mqtt %+v", m)
	}
	if c, err := LoadFile("w.conf", []byte("jetstream = true\n")); err != nil || c.MQTT != nil {
		t.Fatalf("MQTT must be off without [mqtt]: %+v %v", c.MQTT, err)
	}
}

func TestMQTTFileErrors(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"[mqtt]\nport = 1883\n", "mqtt: MQTT needs the stream layer"},
		{"jetstream = true\n[mqtt]\nmax_ack_pending = 70000\n", "w.conf:3: mqtt.max_ack_pending: 70000 is out of range [0..65535]"},
		{"jetstream = true\n[mqtt]\nack_wait = \"-1s\"\n", "mqtt.ack_wait: must not be negative"},
		{"jetstream = true\n[mqtt]\nno_auth_user = \"ghost\"\n", `mqtt.no_auth_user: "ghost" is not a configured user`},
		{"jetstream = true\n[mqtt]\njs_domain = \"hub\"\n", "w.conf:3: mqtt.js_domain: not supported"},
		{"jetstream = true\n[mqtt]\nstream_replicas = 3\n", "mqtt.stream_replicas: only 1"},
		{"jetstream = true\n[mqtt]\nconsumer_replicas = 3\n", "mqtt.consumer_replicas: only 1"},
		{"jetstream = true\n[mqtt]\ndowngrade_qos2_subscribe = 1\n", "mqtt.downgrade_qos2_subscribe: expected true or false"},
		{"jetstream = true\n[mqtt]\n[mqtt.authorization]\nuser = \"u\"\n", "mqtt.authorization: not supported"},
		{"jetstream = true\n[mqtt]\nlisten = \"x:1\"\nport = 2\n", `mqtt.listen: set either "listen" or "host"/"port"`},
		{"jetstream = true\n[mqtt]\nprot = 1\n", `unknown key "mqtt.prot"`},
		{"jetstream = true\n[mqtt]\n[mqtt.tls]\nca_file = \"x\"\n", "mqtt.tls: cert_file and key_file are required"},
		{"jetstream = true\n[mqtt]\n[mqtt.tls]\nverify_and_map = true\n", "w.conf:4: mqtt.tls.verify_and_map: not supported"},
		{"jetstream = true\n[mqtt]\n[mqtt.tls]\nhandshake_first = true\n", "mqtt.tls.handshake_first: not supported"},
	} {
		_, err := LoadFile("w.conf", []byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.file, err, tc.want)
		}
	}
}

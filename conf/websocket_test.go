package conf

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestWebsocketFile(t *testing.T) {
	c, err := LoadFile("wisp.conf", []byte(`
host = "127.0.0.1"
[websocket]
port = 8080
advertise = "ws.example.com:443"
same_origin = true
allowed_origins = ["https://app.example.com", "http://localhost:3000"]
compression = true
handshake_timeout = "3s"
ping_interval = "30s"
[websocket.headers]
Strict-Transport-Security = "max-age=31536000"
[websocket.tls]
cert_file = "ws.pem"
key_file = "ws-key.pem"
ca_file = "ca.pem"
verify = true
`))
	if err != nil {
		t.Fatal(err)
	}
	w := c.Server.Websocket
	if !w.Enabled() || w.Host != "127.0.0.1" || w.Port != 8080 || w.Advertise != "ws.example.com:443" || !w.SameOrigin || !w.Compression ||
		w.HandshakeTimeout != 3*time.Second || w.PingInterval != 30*time.Second || w.NoTLS ||
		w.TLS == nil || w.TLS.CertFile != "ws.pem" || w.TLS.CAFile != "ca.pem" || !w.TLS.Verify {
		t.Fatalf("websocket options %+v", w)
	}
	if !reflect.DeepEqual(w.AllowedOrigins, []string{"https://app.example.com", "http://localhost:3000"}) {
		t.Fatalf("allowed_origins %q", w.AllowedOrigins)
	}
	if w.Headers["Strict-Transport-Security"] != "max-age=31536000" {
		t.Fatalf("headers %v", w.Headers)
	}

	// nats-server's other spellings, and listen.
	c, err = LoadFile("wisp.conf", []byte("[websocket]\nlisten = \"0.0.0.0:8443\"\nno_tls = true\ncompress = true\nhandshake_timeout = 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Server.Websocket; w.Host != "0.0.0.0" || w.Port != 8443 || !w.NoTLS || !w.Compression || w.HandshakeTimeout != 2*time.Second {
		t.Fatalf("websocket options %+v", w)
	}

	// Off by default.
	c, err = LoadFile("wisp.conf", []byte("port = 4222\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Websocket.Enabled() {
		t.Fatal("the WebSocket port is on without [websocket]")
	}
}

func TestWebsocketFileErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"[websocket]\nport = 8080\n", "websocket: needs TLS"},
		{"[websocket]\nport = 8080\nno_tls = true\nsame_orign = true\n", `wisp.conf:4: unknown key "websocket.same_orign"`},
		{"[websocket]\nport = 8080\nno_tls = true\njwt_cookie = \"jwt\"\n", "wisp.conf:4: websocket.jwt_cookie: not supported by Wisp"},
		{"[websocket]\nport = 8080\nno_tls = true\nno_auth_user = \"u\"\n", "websocket.no_auth_user: not supported"},
		{"[websocket]\nport = 8080\nno_tls = true\nadvertise = \"ws://h:1\"\n", "websocket.advertise"},
		{"[websocket]\nport = 8080\nno_tls = true\n[websocket.authorization]\nuser = \"u\"\n", "websocket.authorization: not supported"},
		{"[websocket]\nport = 8080\nno_tls = true\nuser_cookie = \"u\"\n", "websocket.user_cookie: not supported"},
		{"[websocket]\nport = 8080\nno_tls = true\nallowed_origins = [\"app.example.com\"]\n", "websocket.allowed_origins"},
		{"[websocket]\nport = 8080\nno_tls = true\nallowed_origins = [\"ftp://app.example.com\"]\n", "http:// or https://"},
		{"[websocket]\nport = 8080\nno_tls = true\n[websocket.headers]\nSec-WebSocket-Protocol = \"x\"\n", "websocket.headers"},
		{"[websocket]\nport = 8080\nno_tls = true\n[websocket.headers]\nUpgrade = \"x\"\n", "websocket.headers"},
		{"[websocket]\nport = 8080\n[websocket.tls]\ncert_file = \"x\"\n", "websocket.tls: cert_file and key_file are both required"},
		{"[websocket]\nport = 8080\n[websocket.tls]\ncert_file = \"x\"\nkey_file = \"y\"\nverify_and_map = true\n", "websocket.tls.verify_and_map"},
		{"[websocket]\nport = 8080\n[websocket.tls]\ncert_file = \"x\"\nkey_file = \"y\"\nhandshake_first = true\n", "websocket.tls.handshake_first"},
		{"[websocket]\nport = 70000\nno_tls = true\n", "websocket.port"},
		{"[websocket]\nlisten = \"h:1\"\nport = 2\nno_tls = true\n", "not both"},
		{"[websocket]\nport = 8080\nno_tls = true\nhandshake_timeout = \"-1s\"\n", "websocket"},
	} {
		_, err := LoadFile("wisp.conf", []byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.text, err, tc.want)
		}
	}
}

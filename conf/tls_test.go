package conf

import (
	"strings"
	"testing"
	"time"

	"github.com/wisp-mq/wisp/server"
)

const tlsKeys = "[tls]\ncert_file = \"s.pem\"\nkey_file = \"k.pem\"\n"

func TestTLSHandshakeFirstForms(t *testing.T) {
	tests := []struct {
		value    string
		first    bool
		fallback time.Duration
	}{
		{`true`, true, 0},
		{`false`, false, 0},
		{`"auto"`, true, server.DefaultHandshakeFirstFallback},
		{`"AUTO"`, true, 50 * time.Millisecond},
		{`"auto_fallback"`, true, 50 * time.Millisecond},
		{`"300ms"`, true, 300 * time.Millisecond},
		{`"1s"`, true, time.Second},
	}
	for _, tt := range tests {
		c, err := LoadFile("tls.conf", []byte(tlsKeys+"handshake_first = "+tt.value+"\n"))
		if err != nil {
			t.Errorf("handshake_first = %s: %v", tt.value, err)
			continue
		}
		if tl := c.Server.TLS; tl.HandshakeFirst != tt.first || tl.HandshakeFirstFallback != tt.fallback {
			t.Errorf("handshake_first = %s: first %v fallback %v, want %v %v", tt.value, tl.HandshakeFirst, tl.HandshakeFirstFallback, tt.first, tt.fallback)
		}
	}
}

func TestTLSVerifyAndMap(t *testing.T) {
	text := tlsKeys + "ca_file = \"ca.pem\"\nverify_and_map = true\n" +
		"[authorization]\nusers = [{ user = \"alice@example.com\" }, { user = \"CN=bob,O=Acme\", password = \"b\" }]\n" +
		"[accounts.A]\nusers = [{ user = \"svc.example.com\" }]\n"
	c, err := LoadFile("tls.conf", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	tl := c.Server.TLS
	if !tl.VerifyAndMap || tl.Verify || tl.CAFile != "ca.pem" {
		t.Fatalf("TLS options %+v", tl)
	}
	if len(c.Server.Users) != 2 || c.Server.Users[0].Password != "" || c.Server.Accounts[0].Users[0].Username != "svc.example.com" {
		t.Fatalf("users %+v, accounts %+v", c.Server.Users, c.Server.Accounts)
	}
}

func TestTLSNewFormsErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{tlsKeys + "handshake_first = \"soon\"\n",
			`tls.conf:4: tls.handshake_first: invalid value "soon": use true, false, "auto" or a fallback delay such as "300ms"`},
		{tlsKeys + "handshake_first = \"-5ms\"\n",
			`tls.conf:4: tls.handshake_first: fallback delay "-5ms" must be positive`},
		{tlsKeys + "handshake_first = \"0s\"\n",
			`tls.conf:4: tls.handshake_first: fallback delay "0s" must be positive`},
		{tlsKeys + "handshake_first = 5\n",
			`tls.conf:4: tls.handshake_first: expected true, false, "auto" or a fallback delay such as "300ms", got an integer`},
		{tlsKeys + "verify_and_map = \"yes\"\n",
			`tls.conf:4: tls.verify_and_map: expected true or false, got a string`},
		// verify_and_map without TLS (no certificate to serve).
		{"[tls]\nverify_and_map = true\n[authorization]\nusers = [{ user = \"a\" }]\n",
			`tls.conf:2: tls.verify_and_map: needs TLS: cert_file and key_file are both required`},
		{tlsKeys + "verify_and_map = true\n",
			`tls.conf:4: tls.verify_and_map: there are no users to map certificates to`},
		{tlsKeys + "verify_and_map = true\n[authorization]\ntoken = \"t\"\n",
			`tls.conf:4: tls.verify_and_map: maps certificates to the users of authorization.users and accounts, not to a token or a single user`},
		// Without verify_and_map a user needs a password.
		{"[authorization]\nusers = [\n  { user = \"a\", password = \"p\" },\n  { user = \"b\" },\n]\n",
			`tls.conf:2: authorization.users: user "b" has no password (only verify_and_map in [tls] lets a user in without one)`},
		{tlsKeys + "verify = true\n[accounts.A]\nusers = [{ user = \"a\" }]\n",
			`tls.conf:6: accounts.A.users: user "a" has no password`},
	}
	for _, tt := range tests {
		_, err := LoadFile("tls.conf", []byte(tt.text))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s\n error %v\n want %q", tt.text, err, tt.want)
		}
	}
}

// --tls=false drops the [tls] table, verify_and_map with it; users without
// passwords are then refused rather than let in with none.
func TestTLSOffByFlagKeepsPasswordRule(t *testing.T) {
	path := writeConf(t, tlsKeys+"verify_and_map = true\n[authorization]\nusers = [{ user = \"a\" }]\n")
	if _, err := load([]string{"-c", path}, nil); err != nil {
		t.Fatal(err)
	}
	_, err := load([]string{"-c", path, "--tls=false"}, nil)
	if err == nil || !strings.Contains(err.Error(), `user "a" has no password`) {
		t.Fatalf("--tls=false: %v", err)
	}
}

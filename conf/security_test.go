package conf

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestTLSFlags(t *testing.T) {
	c, err := load([]string{"--tlscert", "s.pem", "--tlskey", "k.pem", "--tlscacert", "ca.pem", "--tlsverify"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tl := c.Server.TLS
	if tl == nil || tl.CertFile != "s.pem" || tl.KeyFile != "k.pem" || tl.CAFile != "ca.pem" || !tl.Verify {
		t.Fatalf("TLS options %+v", tl)
	}
	if _, err := load([]string{"--tls"}, nil); err == nil || !strings.Contains(err.Error(), "cert_file and key_file") {
		t.Fatalf("--tls without files: %v", err)
	}
	c, err = load([]string{"--tls=false"}, nil)
	if err != nil || c.Server.TLS != nil {
		t.Fatalf("--tls=false: %v %+v", err, c)
	}
}

func TestTLSTable(t *testing.T) {
	path := writeConf(t, "[tls]\ncert_file = \"s.pem\"\nkey_file = \"k.pem\"\nverify = true\nca_file = \"ca.pem\"\ntimeout = \"3s\"\nhandshake_first = true\n")
	c, err := load([]string{"-c", path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tl := c.Server.TLS
	if tl == nil || tl.CertFile != "s.pem" || !tl.Verify || tl.Timeout != 3*time.Second || !tl.HandshakeFirst || tl.CAFile != "ca.pem" {
		t.Fatalf("TLS options %+v", tl)
	}
	// A flag overrides the file's value.
	c, err = load([]string{"-c", path, "--tlscert", "other.pem"}, nil)
	if err != nil || c.Server.TLS.CertFile != "other.pem" || c.Server.TLS.KeyFile != "k.pem" {
		t.Fatalf("flag over file: %v %+v", err, c.Server.TLS)
	}
	path = writeConf(t, "[tls]\ncert_file = \"s.pem\"\n")
	if _, err := load([]string{"-c", path}, nil); err == nil || !strings.Contains(err.Error(), path+":1: tls: cert_file and key_file") {
		t.Fatalf("missing key: %v", err)
	}
	path = writeConf(t, "[tls]\ncert_file = \"s.pem\"\nkey_file = \"k\"\nverfy = true\n")
	if _, err := load([]string{"-c", path}, nil); err == nil || !strings.Contains(err.Error(), path+`:4: unknown key "tls.verfy"`) {
		t.Fatalf("typo: %v", err)
	}
}

const securityFile = `
[authorization]
users = [
  { user = "alice", password = "a" },
  { user = "bob", password = "b", permissions = { publish = { allow = ["orders.>"], deny = ["orders.secret"] }, subscribe = ["news.>", "_INBOX.>"], allow_responses = { max = 2, expires = "1m" } } },
  { user = "carl", password = "c", permissions = { publish = "x", subscribe = "y", allow_responses = true } },
]

[accounts.A]
users = [{ user = "a", password = "a" }]
max_connections = 5
exports = [{ stream = "events.>" }, { service = "svc.req", accounts = ["B"], response_type = "stream", response_threshold = "10s" }]

[accounts.B]
users = [{ user = "b", password = "b" }]
imports = [
  { stream = { account = "A", subject = "events.>" }, prefix = "a" },
  { service = { account = "A", subject = "svc.req" }, to = "a.svc" },
]
`

func TestPermissionsAndAccountsFile(t *testing.T) {
	c, err := LoadFile("sec.conf", []byte(securityFile))
	if err != nil {
		t.Fatal(err)
	}
	o := c.Server
	if len(o.Users) != 3 || o.Users[0].Permissions != nil {
		t.Fatalf("users %+v", o.Users)
	}
	bob := o.Users[1].Permissions
	if bob == nil || bob.Publish.Allow[0] != "orders.>" || bob.Publish.Deny[0] != "orders.secret" ||
		len(bob.Subscribe.Allow) != 2 || bob.Responses == nil || bob.Responses.MaxMsgs != 2 || bob.Responses.Expires != time.Minute {
		t.Fatalf("bob %+v", bob)
	}
	carl := o.Users[2].Permissions
	if carl.Publish.Allow[0] != "x" || carl.Subscribe.Allow[0] != "y" || carl.Responses == nil || carl.Responses.MaxMsgs != 0 {
		t.Fatalf("carl %+v", carl)
	}
	if len(o.Accounts) != 2 || o.Accounts[0].Name != "A" || o.Accounts[0].MaxConnections != 5 || len(o.Accounts[0].Exports) != 2 {
		t.Fatalf("accounts %+v", o.Accounts)
	}
	if ex := o.Accounts[0].Exports[1]; ex.ResponseType != "stream" || ex.ResponseThreshold != 10*time.Second {
		t.Fatalf("service export %+v", ex)
	}
	b := o.Accounts[1]
	if len(b.Imports) != 2 || b.Imports[0].Stream.Account != "A" || b.Imports[0].Prefix != "a" || b.Imports[1].To != "a.svc" {
		t.Fatalf("B %+v", b)
	}
}

func TestPermissionsAndAccountsErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"[authorization]\nusers = [{ user = \"u\", password = \"p\", permissions = { publish = { allow = [\"a\"], deni = [\"b\"] } } }]\n",
			`sec.conf:2: authorization.users.permissions.publish: unknown key "deni"`},
		{"[authorization]\nusers = [{ user = \"u\", password = \"p\", permissions = { publish = 5 } }]\n",
			`expected a subject, a list of subjects or a table`},
		{"[authorization]\nusers = [{ user = \"u\", password = \"p\", permissions = { allow_responses = \"yes\" } }]\n",
			`expected true, false or a table`},
		{"[authorization]\nusers = [{ user = \"u\", password = \"p\", permissions = { publish = [\"a..b\"] } }]\n",
			`sec.conf:2: authorization.users: user "u": publish.allow: "a..b" is not a valid subject`},
		{"[accounts.A]\nexports = [{ stream = \"x\" }]\n[accounts.B]\nimports = [{ stream = { account = \"A\", subject = \"y\" } }]\n",
			`sec.conf:3: accounts.B: stream import of "y": account "A" exports no stream covering it to "B"`},
		{"[accounts.A]\nmax_conections = 1\n", `sec.conf:2: unknown key "accounts.A.max_conections"`},
		{"[accounts.A]\nexports = [\n  { service = \"s\", response_type = \"lots\" },\n]\n", `sec.conf:1: accounts.A: export "s": response_type "lots" is not "singleton", "stream" or "chunked"`},
	}
	for _, tt := range tests {
		_, err := LoadFile("sec.conf", []byte(tt.text))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s\n error %v\n want %q", tt.text, err, tt.want)
		}
	}
}

// The commented account and user examples in wisp.conf.example are valid
// TOML once uncommented.
func TestExampleSecuritySectionsParse(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "# users = ["), strings.HasPrefix(line, "# [accounts."):
			in = true
		case in && !strings.HasPrefix(line, "# ") && !strings.HasPrefix(line, "#   "):
			in = false
		}
		if in && (strings.HasPrefix(line, "# [") || strings.HasPrefix(line, "# users") || strings.HasPrefix(line, "#  ") ||
			strings.HasPrefix(line, "# ]") || strings.HasPrefix(line, "# }") || strings.HasPrefix(line, "# max_connections") || strings.HasPrefix(line, "# exports") ||
			strings.HasPrefix(line, "# imports") || strings.HasPrefix(line, "# default_permissions")) {
			out = append(out, strings.TrimPrefix(line, "# "))
		}
	}
	text := "[authorization]\n" + strings.Join(out, "\n") + "\n"
	if _, err := LoadFile("example-sections", []byte(text)); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
}

func TestOperationsSettings(t *testing.T) {
	path := writeConf(t, "pid_file = \"/run/w.pid\"\nlame_duck_duration = \"30s\"\nlame_duck_grace_period = 5\n")
	c, err := load([]string{"-c", path, "--signal", "reload"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.PidFile != "/run/w.pid" || c.Signal != "reload" || c.Server.LameDuckDuration != 30*time.Second || c.Server.LameDuckGracePeriod != 5*time.Second {
		t.Fatalf("%+v", c)
	}
	c, err = load([]string{"-c", path, "-P", "/tmp/x.pid", "-sl", "ldm=42"}, nil)
	if err != nil || c.PidFile != "/tmp/x.pid" || c.Signal != "ldm=42" {
		t.Fatalf("%v %+v", err, c)
	}
	if _, err := load([]string{"--signal", "explode"}, nil); err == nil || !strings.Contains(err.Error(), `unknown signal "explode"`) {
		t.Fatalf("bad signal: %v", err)
	}
	path = writeConf(t, "lame_duck_duration = \"1s\"\nlame_duck_grace_period = \"5s\"\n")
	if _, err := load([]string{"-c", path}, nil); err == nil || !strings.Contains(err.Error(), path+":2: lame_duck_grace_period: 5s is longer than lame_duck_duration (1s)") {
		t.Fatalf("grace > duration: %v", err)
	}
}

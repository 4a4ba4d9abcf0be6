package conf

import (
	"slices"
	"strings"
	"testing"

	"github.com/wisp-mq/wisp/server"
)

const httpUsers = "[accounts.A]\nusers = [{ user = \"alice\", password = \"a\" }, { user = \"bob\", password = \"b\" }]\n" +
	"[accounts.B]\nusers = [{ user = \"carol\", password = \"c\" }]\n"

func TestHTTPConsoleTable(t *testing.T) {
	text := httpUsers + "[http.tls]\ncert_file = \"m.pem\"\nkey_file = \"m-key.pem\"\n" +
		"[http.console]\nlogin = true\n" +
		"[[http.console.access]]\nuser = \"alice\"\nrole = \"operator\"\naccounts = [\"A\", \"B\"]\n" +
		"[[http.console.access]]\nuser = \"carol\"\naccounts = [\"*\"]\n"
	c, err := LoadFile("http.conf", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	o := c.Server
	if o.HTTPTLS == nil || o.HTTPTLS.CertFile != "m.pem" || o.HTTPTLS.KeyFile != "m-key.pem" {
		t.Errorf("http.tls: %+v", o.HTTPTLS)
	}
	if !o.Console.RequireLogin || len(o.Console.Access) != 2 {
		t.Fatalf("console: %+v", o.Console)
	}
	if a := o.Console.Access[0]; a.User != "alice" || a.Role != server.ConsoleOperator || !slices.Equal(a.Accounts, []string{"A", "B"}) {
		t.Errorf("alice: %+v", a)
	}
	if a := o.Console.Access[1]; a.User != "carol" || a.Role != "" || !slices.Equal(a.Accounts, []string{"*"}) {
		t.Errorf("carol: %+v", a)
	}
}

func TestHTTPConsoleErrors(t *testing.T) {
	access := func(body string) string { return httpUsers + "[[http.console.access]]\n" + body }
	tests := []struct{ text, want string }{
		{"[http.console]\nlogin = true\n", `http.conf:2: http.console.login: a login needs server users`},
		{access("user = \"zed\"\n"), `http.console.access: user "zed" is not a server user`},
		{access("user = \"alice\"\nrole = \"admin\"\n"), `http.console.access: user "alice": role "admin" is not "viewer" or "operator"`},
		{access("user = \"alice\"\naccounts = [\"C\"]\n"), `user "alice": no account "C"`},
		{access("user = \"alice\"\naccounts = [\"*\", \"A\"]\n"), `"*" already means every account`},
		{access("role = \"viewer\"\n"), `entry 1 has no user`},
		{access("user = \"alice\"\n[[http.console.access]]\nuser = \"alice\"\n"), `user "alice" is listed twice`},
		{access("user = \"alice\"\nrol = \"operator\"\n"), `unknown key "http.console.access.rol"`},
		{"[http]\nport = 1\n", `http.conf:2: unknown key "http.port"`},
		{"[http.tls]\ncert_file = \"a\"\n", `http.tls: cert_file and key_file are both required`},
		{"[http.tls]\ncert_file = \"a\"\nkey_file = \"b\"\nverify = true\n", `verify and verify_and_map are for clients of the NATS port`},
		{"[http.tls]\ncert_file = \"a\"\nkey_file = \"b\"\nhandshake_first = true\n", `handshake_first is a NATS port setting`},
	}
	for _, tt := range tests {
		_, err := LoadFile("http.conf", []byte(tt.text))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q:\n got %v\nwant %q", tt.text, err, tt.want)
		}
	}
}

package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// These tests drive the server as a person on telnet would: plain protocol
// text over TCP, checking every byte that comes back.

func TestInfoFields(t *testing.T) {
	s := startServer(t, func(o *Options) { o.ServerName = "wisp-test"; o.JetStream = true })
	line := dialNoInfo(t, s).readLine()
	if !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("first line %q", line)
	}
	var info map[string]any
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "INFO ")), &info); err != nil {
		t.Fatalf("INFO json: %v", err)
	}
	for _, k := range []string{"server_id", "server_name", "version", "proto", "go", "host", "port", "headers", "max_payload", "client_id", "client_ip", "jetstream"} {
		if _, ok := info[k]; !ok {
			t.Errorf("INFO lacks %q: %s", k, line)
		}
	}
	if info["server_name"] != "wisp-test" || info["proto"] != 1.0 || info["headers"] != true || info["max_payload"] != float64(DefaultMaxPayload) {
		t.Errorf("INFO values wrong: %s", line)
	}
	if _, ok := info["auth_required"]; ok {
		t.Errorf("auth_required sent without auth: %s", line)
	}
}

func TestTelnetSession(t *testing.T) {
	s := startServer(t, nil)
	c := dialRaw(t, s)
	// Before CONNECT the connection is verbose.
	c.send("sub foo 1\n")
	c.expect("+OK")
	c.send("PUB foo 5\nhello\r\n")
	c.expect("+OK", "MSG foo 1 5", "hello")
	c.send("ping\n")
	c.expect("PONG")
	c.send("CONNECT {\"verbose\":false}\r\n")
	c.send("PUB foo reply.x 2\r\nhi\r\nPING\r\n")
	c.expect("MSG foo 1 reply.x 2", "hi", "PONG")
}

// TestConnectDefaults: a CONNECT that leaves out verbose and pedantic
// keeps both on, as nats-server does: +OK after each op, and an -ERR for
// a publish to a wildcard subject. nats.go sends both fields, off.
func TestConnectDefaults(t *testing.T) {
	s := startServer(t, nil)
	c := dialRaw(t, s)
	c.send("CONNECT {}\r\nSUB foo 1\r\nPUB foo.* 1\r\nx\r\nPING\r\n")
	c.expect("+OK", "+OK", "-ERR 'Invalid Publish Subject'", "PONG")

	off := dialRaw(t, s)
	off.send("CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB foo.* 1\r\nPUB foo.* 1\r\nx\r\nPING\r\n")
	off.expect("MSG foo.* 1 1", "x", "PONG")
}

func TestWildcardsAndTabs(t *testing.T) {
	s := startServer(t, nil)
	c := dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false}\r\nSUB\tfoo.*  1\r\nSUB foo.>\t2\r\nSUB bar 3\r\nPING\r\n")
	c.expect("PONG")
	c.send("PUB foo.a 1\r\na\r\nPUB foo.a.b 1\r\nb\r\nPUB bar 1\r\nc\r\nPING\r\n")
	got := map[string]bool{}
	for i := 0; i < 4; i++ {
		got[c.readLine()+"|"+c.readLine()] = true
	}
	for _, w := range []string{"MSG foo.a 1 1|a", "MSG foo.a 2 1|a", "MSG foo.a.b 2 1|b", "MSG bar 3 1|c"} {
		if !got[w] {
			t.Errorf("missing %q in %v", w, got)
		}
	}
	c.expect("PONG")
}

func TestHeadersFraming(t *testing.T) {
	s := startServer(t, nil)
	withHdr := dialRaw(t, s)
	withHdr.send("CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB h 1\r\nPING\r\n")
	withHdr.expect("PONG")
	noHdr := dialRaw(t, s)
	noHdr.send("CONNECT {\"verbose\":false}\r\nSUB h 9\r\nPING\r\n")
	noHdr.expect("PONG")

	pub := dialRaw(t, s)
	hdr := "NATS/1.0\r\nA: b\r\n\r\n"
	pub.send(fmt.Sprintf("CONNECT {\"verbose\":false,\"headers\":true}\r\nHPUB h r %d %d\r\n%sxyz\r\nPING\r\n", len(hdr), len(hdr)+3, hdr))
	pub.expect("PONG")
	withHdr.expect(fmt.Sprintf("HMSG h 1 r %d %d", len(hdr), len(hdr)+3), "NATS/1.0", "A: b", "", "xyz")
	// A subscriber that did not ask for headers gets the payload alone.
	noHdr.expect("MSG h 9 r 3", "xyz")
}

func TestQueueGroupDeliversOnce(t *testing.T) {
	s := startServer(t, nil)
	a, b := dialRaw(t, s), dialRaw(t, s)
	for _, c := range []*rawClient{a, b} {
		c.send("CONNECT {\"verbose\":false}\r\nSUB work grp 1\r\nPING\r\n")
		c.expect("PONG")
	}
	pub := dialRaw(t, s)
	pub.send("CONNECT {\"verbose\":false}\r\n")
	const n = 200
	var sb strings.Builder
	for i := 0; i < n; i++ {
		sb.WriteString("PUB work 1\r\nx\r\n")
	}
	sb.WriteString("PING\r\n")
	pub.send(sb.String())
	pub.expect("PONG")
	count := func(c *rawClient) int {
		c.send("PING\r\n")
		k := 0
		for {
			l := c.readLine()
			if l == "PONG" {
				return k
			}
			if strings.HasPrefix(l, "MSG work 1 1") {
				k++
				c.expect("x")
			}
		}
	}
	na, nb := count(a), count(b)
	if na+nb != n || na == 0 || nb == 0 {
		t.Fatalf("queue deliveries a=%d b=%d, want sum %d with both used", na, nb, n)
	}
}

func TestUnsubMax(t *testing.T) {
	s := startServer(t, nil)
	c := dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nUNSUB 1 2\r\n")
	c.send("PUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nPUB foo 1\r\nc\r\nPING\r\n")
	c.expect("MSG foo 1 1", "a", "MSG foo 1 1", "b", "PONG")
	if n := s.NumSubscriptions(); n != 0 {
		t.Fatalf("subscriptions after max reached = %d", n)
	}
	// A plain UNSUB stops delivery at once; an unknown sid is ignored.
	c.send("SUB bar 2\r\nUNSUB 2\r\nUNSUB 99\r\nPUB bar 1\r\nz\r\nPING\r\n")
	c.expect("PONG")
}

func TestSplitIntoSingleBytes(t *testing.T) {
	s := startServer(t, nil)
	c := dialRaw(t, s)
	script := "CONNECT {\"verbose\":false}\r\nSUB a.b q 7\r\nPUB a.b r 3\r\nabc\r\nPING\r\n"
	for i := 0; i < len(script); i++ {
		c.send(script[i : i+1])
		if i%7 == 0 {
			time.Sleep(time.Millisecond) // make separate reads likely
		}
	}
	c.expect("MSG a.b 7 r 3", "abc", "PONG")
}

func TestPipelining(t *testing.T) {
	s := startServer(t, nil)
	c := dialRaw(t, s)
	var sb strings.Builder
	sb.WriteString("CONNECT {\"verbose\":false}\r\nSUB p 1\r\n")
	const n = 5000
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "PUB p %d\r\n%d\r\n", len(fmt.Sprint(i)), i)
	}
	sb.WriteString("PING\r\n")
	go func() { c.nc.Write([]byte(sb.String())) }()
	for i := 0; i < n; i++ {
		c.expect(fmt.Sprintf("MSG p 1 %d", len(fmt.Sprint(i))), fmt.Sprint(i))
	}
	c.expect("PONG")
}

func TestErrorsThatClose(t *testing.T) {
	cases := []struct {
		name, send, want string
		edit             func(*Options)
	}{
		{"unknown op", "FOO bar\r\n", "-ERR 'Unknown Protocol Operation'", nil},
		{"max payload", "PUB foo 2000\r\n", "-ERR 'Maximum Payload Violation'", func(o *Options) { o.MaxPayload = 1000 }},
		{"control line", "PUB " + strings.Repeat("a", 5000) + " 1\r\n", "-ERR 'maximum control line exceeded'", nil},
		{"bad payload end", "PUB foo 2\r\nhi\n\n", "-ERR 'Parse Error: PUB payload must be followed by CRLF after the 2 bytes announced'", nil},
		{"malformed pub", "PUB\r\n", "-ERR 'Parse Error: ", nil},
		{"bad connect json", "CONNECT {nope\r\n", "-ERR 'Invalid CONNECT", nil},
		{"no responders without headers", "CONNECT {\"verbose\":false,\"no_responders\":true}\r\n", "-ERR 'no responders requires headers support'", nil},
		{"auth violation", "CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"wrong\"}\r\n", "-ERR 'Authorization Violation'", func(o *Options) { o.Username, o.Password = "a", "b" }},
		{"op before connect with auth", "SUB foo 1\r\n", "-ERR 'Authorization Violation'", func(o *Options) { o.AuthToken = "secret" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, tc.edit)
			c := dialRaw(t, s)
			c.send(tc.send)
			if got := c.readLine(); !strings.HasPrefix(got, tc.want) {
				t.Fatalf("got %q, want prefix %q", got, tc.want)
			}
			c.expectClosed()
		})
	}
}

func TestErrorsThatKeepConnection(t *testing.T) {
	s := startServer(t, func(o *Options) { o.MaxSubscriptions = 1 })
	c := dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false,\"pedantic\":true}\r\nSUB foo..bar 1\r\n")
	c.expect("-ERR 'Invalid Subject'")
	c.send("SUB foo 1\r\nSUB bar 2\r\n")
	c.expect("-ERR 'maximum subscriptions exceeded'")
	c.send("PUB foo.* 1\r\nx\r\n")
	c.expect("-ERR 'Invalid Publish Subject'")
	c.send("PING\r\n")
	c.expect("PONG")
}

func TestMaxConnections(t *testing.T) {
	s := startServer(t, func(o *Options) { o.MaxConnections = 1 })
	dialRaw(t, s)
	c := dialRaw(t, s)
	c.expect("-ERR 'maximum connections exceeded'")
	c.expectClosed()
}

func TestAuthTimeout(t *testing.T) {
	s := startServer(t, func(o *Options) { o.AuthToken = "tok"; o.AuthTimeout = 100 * time.Millisecond })
	c := dialRaw(t, s)
	c.expect("-ERR 'Authentication Timeout'")
	c.expectClosed()
}

func TestAuthToken(t *testing.T) {
	s := startServer(t, func(o *Options) { o.AuthToken = "tok" })
	c := dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false,\"auth_token\":\"tok\"}\r\nPING\r\n")
	c.expect("PONG")
}

func TestStaleConnection(t *testing.T) {
	s := startServer(t, func(o *Options) { o.PingInterval = 50 * time.Millisecond; o.MaxPingsOut = 2 })
	c := dialRaw(t, s)
	c.expect("PING", "PING", "-ERR 'Stale Connection'")
	c.expectClosed()
}

func TestPongKeepsConnectionAlive(t *testing.T) {
	s := startServer(t, func(o *Options) { o.PingInterval = 30 * time.Millisecond; o.MaxPingsOut = 1 })
	c := dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false}\r\n")
	for i := 0; i < 5; i++ {
		c.expect("PING")
		c.send("PONG\r\n")
	}
}

func TestClientDyingMidPayloadDoesNotHurtOthers(t *testing.T) {
	s := startServer(t, nil)
	sub := dialRaw(t, s)
	sub.send("CONNECT {\"verbose\":false}\r\nSUB x 1\r\nPING\r\n")
	sub.expect("PONG")
	bad := dialRaw(t, s)
	bad.send("PUB x 100\r\nonly part of it")
	bad.nc.Close()
	garbage := dialRaw(t, s)
	garbage.send("\x00\x01\x02garbage\r\n")
	garbage.expectClosed()
	good := dialRaw(t, s)
	good.send("CONNECT {\"verbose\":false}\r\nPUB x 2\r\nok\r\n")
	sub.expect("MSG x 1 2", "ok")
}

func TestEchoOff(t *testing.T) {
	s := startServer(t, nil)
	c := dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false,\"echo\":false}\r\nSUB e 1\r\nPUB e 1\r\nx\r\nPING\r\n")
	c.expect("PONG")
}

func TestNoRespondersStatus(t *testing.T) {
	s := startServer(t, nil)
	c := dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\nSUB _INBOX.r.* 1\r\nPUB svc _INBOX.r.1 0\r\n\r\n")
	c.expect("HMSG _INBOX.r.1 1 16 16", "NATS/1.0 503", "", "")
}

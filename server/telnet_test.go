package server

import (
	"strings"
	"testing"
	"time"
)

// TestTelnetEmptyLines: pressing Enter twice (an empty line, with or
// without its \r) is ignored, before and after CONNECT and between the ops
// of a pipeline; nats-server would close the connection.
func TestTelnetEmptyLines(t *testing.T) {
	s := startServer(t, nil)
	c := dialRaw(t, s)
	c.send("\r\n")
	c.send("sub foo 1\n\n")
	c.expect("+OK")
	c.send("\r\n\n")
	c.send("pub foo 2\nhi\r\n\r\n")
	c.expect("+OK", "MSG foo 1 2", "hi")
	c.send("CONNECT {}\r\n\r\n\r\nPING\r\n\n")
	c.expect("+OK", "PONG") // CONNECT {} leaves the connection verbose
	c.send("\r")
	c.send("\nPING\r\n")
	c.expect("PONG")
}

// TestProtocolErrorLogShowsInput: a client's protocol error is logged at
// Error, seen at the default level as with nats-server, with the bytes of
// the op that failed, escaped, and cut at 64 bytes. A bad CONNECT is
// logged without its input, which may hold a password.
func TestProtocolErrorLogShowsInput(t *testing.T) {
	for _, tc := range []struct {
		name, send, want string
	}{
		{"unknown op", "CONNECT {\"verbose\":false}\r\nHELLO \x01there\r\n", `input="HELLO \x01there\r\n"`},
		{"bad payload end", "CONNECT {\"verbose\":false}\r\nPUB foo 2\r\nhix\r\n", `input="PUB foo 2\r\nhix\r\n"`},
		{"long line", "CONNECT {\"verbose\":false}\r\nFOO " + strings.Repeat("x", 100) + "\r\n", `input="FOO ` + strings.Repeat("x", 60) + `" input_truncated=true`},
		{"bad connect", "CONNECT {\"pass\":\"s3cret\",nope\r\n", `err="invalid CONNECT: invalid character 'n'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, log := startServerLog(t, nil)
			c := dialRaw(t, s)
			c.send(tc.send)
			if got := c.readLine(); !strings.HasPrefix(got, "-ERR ") {
				t.Fatalf("got %q, want an -ERR", got)
			}
			c.expectClosed()
			eventually(t, "the protocol error in the log", func() bool {
				return strings.Contains(log.String(), "protocol error")
			})
			var line string
			for _, l := range strings.Split(log.String(), "\n") {
				if strings.Contains(l, "protocol error") {
					line = l
				}
			}
			if !strings.Contains(line, "level=ERROR") || !strings.Contains(line, tc.want) {
				t.Fatalf("log line %q is not at ERROR or lacks %q", line, tc.want)
			}
			if strings.Contains(line, "s3cret") {
				t.Fatalf("log line %q shows the password", line)
			}
		})
	}
}

// TestProtocolErrorLogLimited: connection after connection of garbage
// cannot flood the log: at most one protocol error line a second gets
// through, and the next one counts those held back.
func TestProtocolErrorLogLimited(t *testing.T) {
	s, log := startServerLog(t, nil)
	const conns = 20
	began := time.Now()
	for range conns {
		c := dialRaw(t, s)
		c.send("HELLO\r\n")
		c.expectClosed()
	}
	eventually(t, "a protocol error in the log", func() bool {
		return strings.Contains(log.String(), "protocol error")
	})
	elapsed := time.Since(began)
	lines := strings.Count(log.String(), "msg=\"protocol error\"")
	if most := 1 + int(elapsed/time.Second) + 1; lines > most {
		t.Fatalf("%d protocol error lines for %d connections in %v, want at most %d", lines, conns, elapsed, most)
	}
	if got := s.Varz().ProtocolErrors["unknown_op"]; got != conns {
		t.Fatalf("protocol_errors.unknown_op = %d, want %d: the limit is on the log, not the count", got, conns)
	}
}

// TestLogLimiter: one line a second; the next one allowed says how many
// were held back meanwhile.
func TestLogLimiter(t *testing.T) {
	var l logLimiter
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, step := range []struct {
		at         time.Duration
		ok         bool
		suppressed int
	}{
		{0, true, 0},
		{100 * time.Millisecond, false, 0},
		{999 * time.Millisecond, false, 0},
		{time.Second, true, 2},
		{1500 * time.Millisecond, false, 0},
		{5 * time.Second, true, 1},
		{6 * time.Second, true, 0},
	} {
		ok, suppressed := l.allow(t0.Add(step.at))
		if ok != step.ok || suppressed != step.suppressed {
			t.Fatalf("at %v: allow = %v, %d; want %v, %d", step.at, ok, suppressed, step.ok, step.suppressed)
		}
	}
}

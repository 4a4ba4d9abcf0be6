package server

import (
	"context"
	"log/slog"
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

// startServerLogged is startServer with the debug log captured.
func startServerLogged(t *testing.T) (*Server, *lockedBuffer) {
	t.Helper()
	var buf lockedBuffer
	s, err := New(&Options{Host: "127.0.0.1", Port: -1}, slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, &buf
}

// TestProtocolErrorLogShowsInput: the log line for a protocol error carries
// the bytes of the op that failed, escaped, and cut at 64 bytes.
func TestProtocolErrorLogShowsInput(t *testing.T) {
	for _, tc := range []struct {
		name, send, want string
	}{
		{"unknown op", "CONNECT {\"verbose\":false}\r\nHELLO \x01there\r\n", `input="HELLO \x01there\r\n"`},
		{"bad payload end", "CONNECT {\"verbose\":false}\r\nPUB foo 2\r\nhix\r\n", `input="PUB foo 2\r\nhix\r\n"`},
		{"long line", "CONNECT {\"verbose\":false}\r\nFOO " + strings.Repeat("x", 100) + "\r\n", `input="FOO ` + strings.Repeat("x", 60) + `" input_truncated=true`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, log := startServerLogged(t)
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
			if !strings.Contains(line, tc.want) {
				t.Fatalf("log line %q lacks %q", line, tc.want)
			}
		})
	}
}

package server

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// startServer runs a server on a free loopback port for the test's lifetime.
// edit, when given, adjusts the options first.
func startServer(t testing.TB, edit func(*Options)) *Server {
	t.Helper()
	level := slog.LevelWarn
	if os.Getenv("WISP_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return startServerLoggingTo(t, edit, slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// startServerLog is startServer with the log (Info and up) captured, for
// tests that check what an operator is told.
func startServerLog(t testing.TB, edit func(*Options)) (*Server, *lockedBuffer) {
	t.Helper()
	var buf lockedBuffer
	return startServerLoggingTo(t, edit, slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), &buf
}

func startServerLoggingTo(t testing.TB, edit func(*Options), h slog.Handler) *Server {
	t.Helper()
	o := &Options{Host: "127.0.0.1", Port: -1}
	if edit != nil {
		edit(o)
	}
	s, err := New(o, slog.New(h))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// rawClient is a telnet-like client: it writes protocol text and reads lines.
type rawClient struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

// dialNoInfo connects and leaves the INFO line unread.
func dialNoInfo(t testing.TB, s *Server) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.Addr().String(), 2*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// dialRaw connects and consumes the INFO line.
func dialRaw(t testing.TB, s *Server) *rawClient {
	t.Helper()
	c := dialNoInfo(t, s)
	if line := c.readLine(); !strings.HasPrefix(line, "INFO {") {
		t.Fatalf("first line = %q, want INFO", line)
	}
	return c
}

func (c *rawClient) send(s string) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatalf("write %q: %v", s, err)
	}
}

// readLine returns the next line without its line ending.
func (c *rawClient) readLine() string {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read line (got %q so far): %v", line, err)
	}
	return strings.TrimRight(line, "\r\n")
}

// expect reads lines and fails unless they are exactly want.
func (c *rawClient) expect(want ...string) {
	c.t.Helper()
	for _, w := range want {
		if got := c.readLine(); got != w {
			c.t.Fatalf("got line %q, want %q", got, w)
		}
	}
}

// expectClosed fails unless the server closes the connection soon; what
// was still in flight before the close is read and dropped.
func (c *rawClient) expectClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, err := io.Copy(io.Discard, io.LimitReader(c.br, 256<<20))
	if err != nil {
		c.t.Fatalf("connection not closed after %d bytes: %v", n, err)
	}
}

// expectSilence fails if anything arrives within d.
func (c *rawClient) expectSilence(d time.Duration) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(d))
	line, err := c.br.ReadString('\n')
	if err == nil || !isTimeout(err) {
		c.t.Fatalf("expected nothing, got %q (err %v)", line, err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// eventually polls cond every 10 ms for up to 5 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

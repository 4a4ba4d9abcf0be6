package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Failed authentications are counted for metrics, and logged at most once
// a second with a count of the ones left out, so a password-guessing client
// cannot flood the log.
func TestAuthFailuresCountedAndRateLimited(t *testing.T) {
	var logs lockedBuffer
	o := &Options{Host: "127.0.0.1", Port: -1, Users: []User{{Username: "u", Password: mustHash(t, "right")}}}
	s, err := New(o, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
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
	const n = 5
	for i := 0; i < n; i++ {
		c := dialRaw(t, s)
		c.send("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"wrong\"}\r\n")
		c.expect("-ERR 'Authorization Violation'")
		c.expectClosed()
	}
	// An unknown user and an op before CONNECT count too.
	c := dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false,\"user\":\"nobody\",\"pass\":\"x\"}\r\n")
	c.expect("-ERR 'Authorization Violation'")
	c = dialRaw(t, s)
	c.send("PUB x 0\r\n\r\n")
	c.expect("-ERR 'Authorization Violation'")

	if got := s.Stats().AuthFailures; got != n+2 {
		t.Fatalf("AuthFailures = %d, want %d", got, n+2)
	}
	if lines := strings.Count(logs.String(), "authorization violation"); lines != 1 {
		t.Fatalf("%d log lines for %d quick failures, want 1:\n%s", lines, n+1, logs.String())
	}
	// After a second, the next failure is logged with the count left out.
	time.Sleep(1100 * time.Millisecond)
	c = dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"wrong\"}\r\n")
	c.expect("-ERR 'Authorization Violation'")
	if !strings.Contains(logs.String(), "suppressed_since_last=5") {
		t.Fatalf("no suppressed count in the log:\n%s", logs.String())
	}
	// The right password still works.
	c = dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"right\"}\r\nPING\r\n")
	c.expect("PONG")
}

// A token authenticates only as auth_token: the same secret sent as a
// password, or as a user name, is an authorization violation. nats-server
// behaves the same, and a secret that works under two names is one a
// client can leak without knowing it.
func TestTokenOnlyAsAuthToken(t *testing.T) {
	s := startServer(t, func(o *Options) { o.AuthToken = "tok" })
	for _, hello := range []string{
		`{"user":"x","pass":"tok"}`,
		`{"pass":"tok"}`,
		`{"user":"tok"}`,
		`{"user":"tok","pass":"tok"}`,
	} {
		c := dialRaw(t, s)
		c.send("CONNECT " + hello + "\r\nPING\r\n")
		c.expect("-ERR 'Authorization Violation'")
		c.expectClosed()
	}
	c := dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false,\"auth_token\":\"tok\",\"user\":\"x\",\"pass\":\"y\"}\r\nPING\r\n")
	c.expect("PONG") // the token decides; stray user fields do not spoil it

	if _, err := nats.Connect(s.ClientURL(), nats.UserInfo("x", "tok"), nats.Timeout(2*time.Second)); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("nats.go with the token as password: err %v, want %v", err, nats.ErrAuthorization)
	}
	connect(t, s, nats.Token("tok")).Close()
}

// The other direction: with users configured, a token (even one equal to
// a user's password) authenticates nobody.
func TestUsersRefuseAuthToken(t *testing.T) {
	s := startServer(t, func(o *Options) { o.Username, o.Password = "u", "secret" })
	for _, hello := range []string{
		`{"auth_token":"secret"}`,
		`{"auth_token":"secret","user":"u"}`,
	} {
		c := dialRaw(t, s)
		c.send("CONNECT " + hello + "\r\nPING\r\n")
		c.expect("-ERR 'Authorization Violation'")
		c.expectClosed()
	}
	if _, err := nats.Connect(s.ClientURL(), nats.Token("secret"), nats.Timeout(2*time.Second)); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("nats.go with a token: err %v, want %v", err, nats.ErrAuthorization)
	}
	connect(t, s, nats.UserInfo("u", "secret")).Close()
}

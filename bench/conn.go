package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"
)

// runConn opens Config.Conns connections one after another, each through
// the whole handshake (INFO, CONNECT, PING, PONG), and keeps them open.
// The rate is handshakes per second. Where the server is local its memory
// is read before and after, giving the memory one idle connection costs.
//
// It speaks the protocol on raw sockets rather than through nats.go, so
// that a client costs a few hundred bytes: with the embedded server, the
// client side shares the process being measured.
func runConn(_ context.Context, e *Env) error {
	addr, err := hostPort(e.URL)
	if err != nil {
		return err
	}
	n := e.Cfg.Conns
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var mem0 int64
	if e.mem != nil {
		mem0 = e.mem()
	}
	buf := make([]byte, 64<<10)
	e.begin(int64(n))
	for i := 0; i < n && !e.expired(); i++ {
		c, err := handshake(addr, buf, min(5*time.Second, time.Until(e.Deadline)+time.Second))
		if err != nil {
			e.end(time.Time{})
			return fmt.Errorf("connection %d: %w", i+1, err)
		}
		conns = append(conns, c)
		e.prog.add(1)
	}
	e.end(time.Time{})
	e.Res.Msgs = int64(len(conns))
	e.capped(e.Res.Msgs, int64(n))
	if e.mem != nil && len(conns) > 0 {
		// Server-side allocations happen before the PONG, but give a
		// child process a moment for its RSS to settle.
		time.Sleep(100 * time.Millisecond)
		e.Res.MemPerConn = float64(e.mem()-mem0) / float64(len(conns))
	}
	return nil
}

// hostPort extracts host:port from a nats:// URL.
func hostPort(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("server URL %q: not host:port", s)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "4222"), nil
	}
	return u.Host, nil
}

// handshake connects to addr and completes the client handshake, sending
// credentials from nowhere: it works with servers that need no auth.
func handshake(addr string, buf []byte, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := readUntil(c, buf, []byte("\r\n")); err != nil { // INFO
		c.Close()
		return nil, fmt.Errorf("reading INFO: %w", err)
	}
	const hello = "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1,\"name\":\"wisp-bench-conn\",\"lang\":\"go\"}\r\nPING\r\n"
	if _, err := c.Write([]byte(hello)); err != nil {
		c.Close()
		return nil, err
	}
	got, err := readUntil(c, buf, []byte("PONG\r\n"))
	if err != nil {
		c.Close()
		if i := bytes.Index(got, []byte("-ERR")); i >= 0 {
			return nil, fmt.Errorf("server refused the connection: %s", bytes.TrimSpace(got[i:]))
		}
		return nil, fmt.Errorf("waiting for PONG: %w", err)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// readUntil reads into buf until it holds want; a -ERR line or a full
// buffer ends it early with an error.
func readUntil(c net.Conn, buf, want []byte) ([]byte, error) {
	n := 0
	for n < len(buf) {
		k, err := c.Read(buf[n:])
		n += k
		if bytes.Contains(buf[:n], want) {
			return buf[:n], nil
		}
		if bytes.Contains(buf[:n], []byte("-ERR")) && bytes.HasSuffix(buf[:n], []byte("\r\n")) {
			return buf[:n], errors.New("server sent -ERR")
		}
		if err != nil {
			return buf[:n], err
		}
	}
	return buf[:n], errors.New("no answer within 64 KiB")
}

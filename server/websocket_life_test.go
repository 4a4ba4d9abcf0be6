package server

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// ping_interval in [websocket] replaces the server's for WebSocket
// clients: with the server's at an hour, a WebSocket client still gets
// PING after PING (under the server's, the second would take an hour).
func TestWebsocketPingInterval(t *testing.T) {
	s := startWSServer(t, func(o *Options) {
		o.PingInterval = time.Hour
		o.Websocket.PingInterval = 50 * time.Millisecond
	})
	r := dialRawWS(t, s.WebsocketAddr().String(), nil)
	r.readText("INFO ")
	r.write(wsFrame(2, true, true, []byte("CONNECT {\"verbose\":false}\r\n")))
	for i := 0; i < 3; i++ {
		r.readText("PING\r\n")
		r.write(wsFrame(2, true, true, []byte("PONG\r\n")))
	}
}

// max_connections counts WebSocket and TCP clients together.
func TestWebsocketMaxConnections(t *testing.T) {
	s := startWSServer(t, func(o *Options) { o.MaxConnections = 1 })
	connect(t, s)
	_, err := nats.Connect(s.WebsocketURL(), nats.Timeout(5*time.Second))
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "maximum connections") {
		t.Fatalf("second connection over ws: %v", err)
	}
}

// The WebSocket settings need a restart; a reload that changes them is
// refused and the port keeps serving.
func TestWebsocketReloadRefused(t *testing.T) {
	s := startWSServer(t, nil)
	err := s.Reload(reloadOpts(s, func(o *Options) { o.Websocket.SameOrigin = true }))
	if !errors.Is(err, ErrNotReloadable) || !strings.Contains(err.Error(), "websocket") {
		t.Fatalf("websocket change: %v", err)
	}
	if err := s.Reload(reloadOpts(s, func(o *Options) { o.MaxPayload = 4096 })); err != nil {
		t.Fatalf("reload that leaves [websocket] alone: %v", err)
	}
	nc := wsConnect(t, s)
	if mp := nc.MaxPayload(); mp != 4096 {
		t.Fatalf("max_payload after reload %d", mp)
	}
}

// Lame-duck mode closes the WebSocket port too, tells WebSocket clients,
// and closes them.
func TestWebsocketLameDuck(t *testing.T) {
	s := startWSServer(t, func(o *Options) {
		o.LameDuckDuration = 300 * time.Millisecond
		o.LameDuckGracePeriod = 50 * time.Millisecond
	})
	ldm := make(chan struct{}, 1)
	closed := make(chan struct{})
	wsConnect(t, s, nats.NoReconnect(),
		nats.LameDuckModeHandler(func(*nats.Conn) { ldm <- struct{}{} }),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	addr := s.WebsocketAddr().String()
	done := make(chan error, 1)
	go func() { done <- s.LameDuck(context.Background()) }()
	select {
	case <-ldm:
	case <-time.After(10 * time.Second):
		t.Fatal("ws client not told about lame-duck mode")
	}
	eventually(t, "websocket listener closed", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("ws client not closed")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// With verify in [websocket.tls], a wss:// client needs a certificate
// from the CA.
func TestWebsocketTLSVerify(t *testing.T) {
	pki := newTestPKI(t)
	s := startWSServer(t, func(o *Options) {
		o.Websocket.NoTLS = false
		o.Websocket.TLS = pki.serverTLS(true, false)
	})
	if _, err := nats.Connect(s.WebsocketURL(), nats.Secure(pki.clientTLS(false)), nats.Timeout(5*time.Second)); err == nil {
		t.Fatal("connected without a client certificate")
	}
	wsConnect(t, s, nats.Secure(pki.clientTLS(true)))
}

// Without TLS and without no_tls the WebSocket port is refused.
func TestWebsocketNeedsTLS(t *testing.T) {
	_, err := New(&Options{Websocket: WebsocketOptions{Port: -1}}, nil)
	if err == nil || !strings.Contains(err.Error(), "websocket: needs TLS") {
		t.Fatalf("got %v", err)
	}
}

// [websocket.tls] timeout bounds the TLS handshake of a wss:// client
// that opens a socket and says nothing, as [tls] timeout does on TCP.
func TestWebsocketTLSTimeout(t *testing.T) {
	pki := newTestPKI(t)
	s := startWSServer(t, func(o *Options) {
		o.Websocket.NoTLS = false
		o.Websocket.TLS = pki.serverTLS(false, false)
		o.Websocket.TLS.Timeout = 200 * time.Millisecond
	})
	nc, err := net.Dial("tcp", s.WebsocketAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := nc.Read(make([]byte, 64)); err == nil || isTimeout(err) {
		t.Fatalf("a silent wss:// socket: read %v, want the server to close it", err)
	}
	// A client that does its handshake in time is not affected, even
	// when its upgrade request comes after the TLS timeout has passed.
	addr := s.WebsocketAddr().String()
	tc, err := tls.Dial("tcp", addr, pki.clientTLS(false))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // past the 200ms TLS timeout
	r := upgradeRawWS(t, tc, addr, nil)
	if r.resp.StatusCode != 101 {
		t.Fatalf("late upgrade request: status %d", r.resp.StatusCode)
	}
	r.readText("INFO ")
	wsConnect(t, s, nats.Secure(pki.clientTLS(false)))
}

// A WebSocket subscriber that stops reading is cut off by the write
// deadline and counted as a slow consumer, as a TCP one is.
func TestWebsocketSlowConsumer(t *testing.T) {
	s := startWSServer(t, func(o *Options) { o.WriteDeadline = 200 * time.Millisecond })
	stuck := dialRawWS(t, s.WebsocketAddr().String(), nil)
	stuck.readText("INFO ")
	stuck.write(wsFrame(2, true, true, []byte("CONNECT {\"verbose\":false}\r\nSUB wd 1\r\nPING\r\n")))
	stuck.readText("PONG\r\n") // and never reads again
	pub := connect(t, s)
	payload := make([]byte, 64<<10)
	for i := 0; i < 400; i++ { // 25 MiB: more than the socket buffers hold
		pub.Publish("wd", payload)
	}
	pub.Flush()
	eventually(t, "slow consumer to be counted", func() bool { return s.stats.slowConsumers.Load() == 1 })
	eventually(t, "the stuck client gone", func() bool { return s.NumConnections() == 1 })
}

// auth_timeout applies on the WebSocket port: a client that never sends
// CONNECT gets nats-server's -ERR and close 1008.
func TestWebsocketAuthTimeout(t *testing.T) {
	s := startWSServer(t, func(o *Options) {
		o.Users = []User{{Username: "u", Password: "p"}}
		o.AuthTimeout = 200 * time.Millisecond
	})
	r := dialRawWS(t, s.WebsocketAddr().String(), nil)
	r.readText("INFO ")
	r.readText("-ERR 'Authentication Timeout'")
	if code, text := r.expectCloseReason(); code != 1008 || text != "Authentication Timeout" {
		t.Fatalf("close %d %q, want 1008 \"Authentication Timeout\"", code, text)
	}
}

package server

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// A WebSocket client is an ordinary client: it publishes and subscribes,
// requests and replies, sends headers and joins queue groups with TCP
// clients, through the same subject space.
func TestWebsocketNatsClient(t *testing.T) {
	s := startWSServer(t, nil)
	ws := wsConnect(t, s)
	tcp := connect(t, s)

	// ws → tcp and tcp → ws.
	fromWS, _ := tcp.SubscribeSync("from.ws")
	toWS, _ := ws.SubscribeSync("to.ws")
	tcp.Flush()
	ws.Flush()
	if err := ws.Publish("from.ws", []byte("hello tcp")); err != nil {
		t.Fatal(err)
	}
	if m := nextMsg(t, fromWS); string(m.Data) != "hello tcp" {
		t.Fatalf("tcp got %q", m.Data)
	}
	tcp.Publish("to.ws", []byte("hello ws"))
	if m := nextMsg(t, toWS); string(m.Data) != "hello ws" {
		t.Fatalf("ws got %q", m.Data)
	}

	// Request/reply both ways.
	ws.Subscribe("svc.ws", func(m *nats.Msg) { m.Respond(append([]byte("ws:"), m.Data...)) })
	tcp.Subscribe("svc.tcp", func(m *nats.Msg) { m.Respond(append([]byte("tcp:"), m.Data...)) })
	ws.Flush()
	tcp.Flush()
	if r, err := tcp.Request("svc.ws", []byte("q"), 5*time.Second); err != nil || string(r.Data) != "ws:q" {
		t.Fatalf("request to ws responder: %v %v", r, err)
	}
	if r, err := ws.Request("svc.tcp", []byte("q"), 5*time.Second); err != nil || string(r.Data) != "tcp:q" {
		t.Fatalf("request from ws: %v %v", r, err)
	}

	// Headers, from ws to ws.
	hsub, _ := ws.SubscribeSync("hdr")
	ws.Flush()
	msg := nats.NewMsg("hdr")
	msg.Header.Set("X-Trace", "abc")
	msg.Data = []byte("with headers")
	if err := ws.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	if m := nextMsg(t, hsub); m.Header.Get("X-Trace") != "abc" || string(m.Data) != "with headers" {
		t.Fatalf("got header %q data %q", m.Header.Get("X-Trace"), m.Data)
	}

	// A queue group with one member on each transport: every message goes
	// to exactly one of them.
	q1, _ := ws.QueueSubscribeSync("work", "g")
	q2, _ := tcp.QueueSubscribeSync("work", "g")
	ws.Flush()
	tcp.Flush()
	const n = 200
	for i := 0; i < n; i++ {
		tcp.Publish("work", []byte("job"))
	}
	tcp.Flush()
	got := 0
	deadline := time.Now().Add(10 * time.Second)
	for got < n && time.Now().Before(deadline) {
		for _, q := range []*nats.Subscription{q1, q2} {
			if _, err := q.NextMsg(10 * time.Millisecond); err == nil {
				got++
			}
		}
	}
	if got != n {
		t.Fatalf("queue group got %d of %d", got, n)
	}
	if extra, err := q1.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("a message was delivered twice: %q", extra.Data)
	}

	// A payload far larger than one outbound chunk or read buffer.
	big := bytes.Repeat([]byte("0123456789"), 100_000)
	bsub, _ := tcp.SubscribeSync("big")
	tcp.Flush()
	if err := ws.Publish("big", big); err != nil {
		t.Fatal(err)
	}
	if m := nextMsg(t, bsub); !bytes.Equal(m.Data, big) {
		t.Fatalf("big payload: got %d bytes", len(m.Data))
	}
}

// The INFO a WebSocket client gets names the WebSocket port and carries
// no nats:// connect URLs, as nats-server's does.
func TestWebsocketInfo(t *testing.T) {
	s := startWSServer(t, nil)
	r := dialRawWS(t, s.WebsocketAddr().String(), nil)
	if r.resp.StatusCode != 101 {
		t.Fatalf("status %d", r.resp.StatusCode)
	}
	line := r.readText("\r\n")
	if !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("first frame %q", line)
	}
	port := s.WebsocketAddr().(*net.TCPAddr).Port
	for _, want := range []string{`"host":"127.0.0.1"`, `"port":` + strconv.Itoa(port), `"headers":true`} {
		if !strings.Contains(line, want) {
			t.Errorf("INFO %s: missing %s", line, want)
		}
	}
	for _, not := range []string{"tls_required", "connect_urls"} {
		if strings.Contains(line, not) {
			t.Errorf("INFO %s: has %s", line, not)
		}
	}
}

// Users, passwords and permissions apply on the WebSocket port as on TCP.
func TestWebsocketAuthAndPermissions(t *testing.T) {
	s := startWSServer(t, func(o *Options) {
		o.Users = []User{
			{Username: "full", Password: "pw"},
			{Username: "limited", Password: "pw", Permissions: &Permissions{Publish: SubjectPermission{Allow: []string{"ok.>"}}}},
		}
	})
	if _, err := nats.Connect(s.WebsocketURL(), nats.UserInfo("full", "wrong"), nats.Timeout(5*time.Second)); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("bad password over ws: %v", err)
	}
	if _, err := nats.Connect(s.WebsocketURL(), nats.Timeout(5*time.Second)); err == nil {
		t.Fatal("connected over ws without credentials")
	}
	// On the wire: -ERR, then close 1008 with nats-server's text, even
	// though the client goes on writing.
	r := dialRawWS(t, s.WebsocketAddr().String(), nil)
	r.readText("INFO ")
	r.write(wsFrame(2, true, true, []byte("CONNECT {\"verbose\":false,\"user\":\"full\",\"pass\":\"no\"}\r\n")),
		wsFrame(2, true, true, []byte("PING\r\n")))
	r.readText("-ERR 'Authorization Violation'")
	if code, text := r.expectCloseReason(); code != 1008 || text != "Authentication Failure" {
		t.Errorf("refused CONNECT: close %d %q, want 1008 \"Authentication Failure\"", code, text)
	}
	full := wsConnect(t, s, nats.UserInfo("full", "pw"))
	errs := make(chan error, 4)
	limited := wsConnect(t, s, nats.UserInfo("limited", "pw"), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	sub, _ := full.SubscribeSync(">")
	full.Flush()
	limited.Publish("ok.1", []byte("allowed"))
	limited.Publish("no.1", []byte("denied"))
	limited.Flush()
	if m := nextMsg(t, sub); m.Subject != "ok.1" {
		t.Fatalf("got %s", m.Subject)
	}
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "Permissions Violation") {
			t.Fatalf("async error %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no permissions violation reported")
	}
	if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("denied publish delivered: %s", m.Subject)
	}
}

// A nats.go client on ws:// reconnects to a restarted server and
// re-subscribes.
func TestWebsocketReconnectAfterRestart(t *testing.T) {
	s1 := startWSServer(t, nil)
	port := s1.WebsocketAddr().(*net.TCPAddr).Port
	reconnected := make(chan struct{}, 1)
	nc := wsConnect(t, s1, nats.ReconnectWait(50*time.Millisecond), nats.MaxReconnects(-1),
		nats.ReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} }))
	sub, _ := nc.SubscribeSync("after")
	nc.Flush()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s1.Shutdown(ctx)
	s2 := startWSServer(t, func(o *Options) { o.Websocket.Port = port })
	select {
	case <-reconnected:
	case <-time.After(10 * time.Second):
		t.Fatal("client did not reconnect")
	}
	if err := nc.Publish("after", []byte("back")); err != nil {
		t.Fatal(err)
	}
	if m := nextMsg(t, sub); string(m.Data) != "back" {
		t.Fatalf("got %q", m.Data)
	}
	if nc.ConnectedServerId() != s2.ID() {
		t.Fatal("not connected to the new server")
	}
}

// wss://: the WebSocket port in TLS, with nats.go trusting the test CA.
func TestWebsocketTLS(t *testing.T) {
	pki := newTestPKI(t)
	s := startWSServer(t, func(o *Options) {
		o.Websocket.NoTLS = false
		o.Websocket.TLS = pki.serverTLS(false, false)
	})
	if u := s.WebsocketURL(); !strings.HasPrefix(u, "wss://") {
		t.Fatalf("URL %s", u)
	}
	nc := wsConnect(t, s, nats.Secure(pki.clientTLS(false)))
	tcp := connect(t, s)
	sub, _ := tcp.SubscribeSync("secure")
	tcp.Flush()
	nc.Publish("secure", []byte("over wss"))
	if m := nextMsg(t, sub); string(m.Data) != "over wss" {
		t.Fatalf("got %q", m.Data)
	}
	if _, err := nc.TLSConnectionState(); err != nil {
		t.Fatalf("not TLS: %v", err)
	}
	// A plain-text upgrade request on the wss:// port gets no WebSocket.
	if _, err := nats.Connect("ws://"+s.WebsocketAddr().String(), nats.Timeout(2*time.Second)); err == nil {
		t.Fatal("plain ws:// connected to the wss:// port")
	}
	var tlsWS int
	for _, c := range s.Conns(false) {
		if c.Websocket && c.TLS {
			tlsWS++
		}
	}
	if tlsWS != 1 {
		t.Fatalf("%d TLS WebSocket connections in the snapshot, want 1", tlsWS)
	}
}

// Origin checks refuse a browser's upgrade with 403, and let through a
// request without Origin (not a browser).
func TestWebsocketOrigins(t *testing.T) {
	t.Run("same_origin", func(t *testing.T) {
		s := startWSServer(t, func(o *Options) { o.Websocket.SameOrigin = true })
		addr := s.WebsocketAddr().String()
		for _, tc := range []struct {
			origin string
			want   int
		}{
			{"", 101},
			{"http://" + addr, 101},
			{"http://other.example:80", 403},
			{"https://" + addr, 403}, // scheme differs
			{"http://127.0.0.1:1", 403},
		} {
			hdr := map[string]string{}
			if tc.origin != "" {
				hdr["Origin"] = tc.origin
			}
			if r := dialRawWS(t, addr, hdr); r.resp.StatusCode != tc.want {
				t.Errorf("origin %q: status %d, want %d", tc.origin, r.resp.StatusCode, tc.want)
			}
		}
	})
	t.Run("allowed_origins", func(t *testing.T) {
		s := startWSServer(t, func(o *Options) {
			o.Websocket.AllowedOrigins = []string{"https://app.example.com", "http://dev.example.com:8080"}
		})
		addr := s.WebsocketAddr().String()
		for _, tc := range []struct {
			origin string
			want   int
		}{
			{"", 101},
			{"https://app.example.com", 101},
			{"https://app.example.com:443", 101},
			{"http://app.example.com", 403},
			{"http://dev.example.com:8080", 101},
			{"http://dev.example.com", 403},
			{"https://evil.example.com", 403},
			{"not a url", 403},
		} {
			hdr := map[string]string{}
			if tc.origin != "" {
				hdr["Origin"] = tc.origin
			}
			r := dialRawWS(t, addr, hdr)
			if r.resp.StatusCode != tc.want {
				t.Errorf("origin %q: status %d, want %d", tc.origin, r.resp.StatusCode, tc.want)
			}
			if tc.want == 101 {
				r.readText("INFO ")
			}
		}
		// nats.go sends no Origin: it connects.
		wsConnect(t, s)
	})
}

// A client that opens a socket and never finishes the upgrade is cut off
// after handshake_timeout; others connect meanwhile.
func TestWebsocketHandshakeTimeout(t *testing.T) {
	s := startWSServer(t, func(o *Options) { o.Websocket.HandshakeTimeout = 300 * time.Millisecond })
	nc, err := net.Dial("tcp", s.WebsocketAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n")) // and never the rest
	wsConnect(t, s)
	nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 512)
	for {
		_, err := nc.Read(buf)
		if err == nil {
			continue // an HTTP error response, if any, then the close
		}
		if isTimeout(err) {
			t.Fatal("the server did not close a stalled handshake")
		}
		break
	}
}

// Frames that break the WebSocket rules, and messages over the size
// limit, close that connection only.
func TestWebsocketBadFrames(t *testing.T) {
	s := startWSServer(t, func(o *Options) { o.MaxPayload = 1024 })
	addr := s.WebsocketAddr().String()
	bystanderWS := wsConnect(t, s)
	bystanderTCP := connect(t, s)
	sub, _ := bystanderWS.SubscribeSync("alive")
	bystanderWS.Flush()
	alive := func(what string) {
		t.Helper()
		if err := bystanderTCP.Publish("alive", []byte(what)); err != nil {
			t.Fatal(err)
		}
		if m := nextMsg(t, sub); string(m.Data) != what {
			t.Fatalf("got %q", m.Data)
		}
	}
	connect := []byte("CONNECT {\"verbose\":false}\r\n")
	cases := []struct {
		name  string
		frame []byte
		want  int // close status, 0 for none
	}{
		{"unmasked", wsFrame(2, true, false, connect), 0},
		{"reserved bits", append([]byte{0xf2}, wsFrame(2, true, true, connect)[1:]...), 1002},
		{"unknown opcode", wsFrame(5, true, true, connect), 1002},
		{"continuation first", wsFrame(0, true, true, connect), 1002},
		{"fragmented ping", wsFrame(9, false, true, []byte("x")), 1002},
		{"oversized ping", wsFrame(9, true, true, make([]byte, 200)), 1002},
		{"length past 2^63", []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, 0},
		{"compressed without deflate agreed", append([]byte{0xc2}, wsFrame(2, true, true, connect)[1:]...), 1002},
		{"bad NATS op", wsFrame(2, true, true, []byte("BOGUS\r\n")), 1002},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRawWS(t, addr, nil)
			r.readText("INFO ")
			r.write(tc.frame)
			got := r.expectClose()
			if tc.want != 0 && got != tc.want {
				t.Errorf("close status %d, want %d", got, tc.want)
			}
			eventually(t, "the connection gone", func() bool { return s.NumConnections() == 2 })
			alive(tc.name)
		})
	}
	// A publish over max_payload inside a legal frame gets nats-server's
	// -ERR, then a close.
	r := dialRawWS(t, addr, nil)
	r.readText("INFO ")
	r.write(wsFrame(2, true, true, []byte("PUB x 2000\r\n")))
	r.readText("Maximum Payload")
	if code, text := r.expectCloseReason(); code != 1009 || text != "Maximum Message Payload Exceeded" {
		t.Errorf("max payload: close %d %q, want nats-server's 1009 \"Maximum Message Payload Exceeded\"", code, text)
	}
	alive("after max payload")
}

// Text frames are read as binary ones, and an operation may be split over
// several frames and messages, as over TCP.
func TestWebsocketTextFramesAndSplitOps(t *testing.T) {
	s := startWSServer(t, nil)
	tcp := connect(t, s)
	sub, _ := tcp.SubscribeSync("split")
	tcp.Flush()
	r := dialRawWS(t, s.WebsocketAddr().String(), nil)
	r.readText("INFO ")
	r.write(wsFrame(1, true, true, []byte("CONNECT {\"verbose\":false}\r\nPI")))
	r.write(wsFrame(1, true, true, []byte("NG\r\n")))
	r.readText("PONG\r\n")
	// One PUB split over a fragmented message (text, continuation) and
	// then a second message.
	r.write(wsFrame(1, false, true, []byte("PUB split 5\r\nhe")))
	r.write(wsFrame(0, true, true, []byte("ll")))
	r.write(wsFrame(2, true, true, []byte("o\r\nPING\r\n")))
	r.readText("PONG\r\n")
	if m := nextMsg(t, sub); string(m.Data) != "hello" {
		t.Fatalf("got %q", m.Data)
	}
	// A ping frame gets a pong frame between the data.
	r.write(wsFrame(9, true, true, []byte("p1")))
	for {
		op, p, err := r.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		if op == 10 {
			if string(p) != "p1" {
				t.Fatalf("pong %q", p)
			}
			break
		}
	}
}

// Per-message deflate is agreed only when the server has compression on
// and the client asks; nats.go's compressed connection works end to end.
func TestWebsocketCompression(t *testing.T) {
	ask := map[string]string{"Sec-WebSocket-Extensions": "permessage-deflate; server_no_context_takeover; client_no_context_takeover"}
	off := startWSServer(t, nil)
	if ext := dialRawWS(t, off.WebsocketAddr().String(), ask).resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Fatalf("compression off, yet agreed %q", ext)
	}
	on := startWSServer(t, func(o *Options) { o.Websocket.Compression = true })
	if ext := dialRawWS(t, on.WebsocketAddr().String(), nil).resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Fatalf("client did not ask, yet agreed %q", ext)
	}
	ext := dialRawWS(t, on.WebsocketAddr().String(), ask).resp.Header.Get("Sec-WebSocket-Extensions")
	if !strings.Contains(ext, "permessage-deflate") || !strings.Contains(ext, "server_no_context_takeover") || !strings.Contains(ext, "client_no_context_takeover") {
		t.Fatalf("agreed %q", ext)
	}
	nc := wsConnect(t, on, nats.Compression(true))
	sub, _ := nc.SubscribeSync("z")
	nc.Flush()
	payload := bytes.Repeat([]byte("compressible "), 20_000)
	for i := 0; i < 3; i++ {
		nc.Publish("z", payload)
		nc.Publish("z", []byte("small"))
	}
	for i := 0; i < 3; i++ {
		if m := nextMsg(t, sub); !bytes.Equal(m.Data, payload) {
			t.Fatalf("big %d: %d bytes", i, len(m.Data))
		}
		if m := nextMsg(t, sub); string(m.Data) != "small" {
			t.Fatalf("small %d: %q", i, m.Data)
		}
	}
}

// /connz lists WebSocket clients with nats-server's kind and type.
func TestWebsocketConnz(t *testing.T) {
	s := startWSServer(t, nil)
	wsConnect(t, s, nats.Name("browser"))
	connect(t, s, nats.Name("service"))
	types := map[string]string{}
	q, err := parseConnz(url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range s.connz(q).Conns {
		types[c.Name] = c.Kind + "/" + c.Type
	}
	if types["browser"] != "Client/websocket" || types["service"] != "Client/nats" {
		t.Fatalf("connz kinds/types %v", types)
	}
}

// Custom upgrade headers are sent; the port's URL is ws://.
func TestWebsocketHeaders(t *testing.T) {
	s := startWSServer(t, func(o *Options) { o.Websocket.Headers = map[string]string{"X-Served-By": "wisp"} })
	r := dialRawWS(t, s.WebsocketAddr().String(), nil)
	if got := r.resp.Header.Get("X-Served-By"); got != "wisp" {
		t.Fatalf("X-Served-By %q", got)
	}
	if u, err := url.Parse(s.WebsocketURL()); err != nil || u.Scheme != "ws" {
		t.Fatalf("URL %s", s.WebsocketURL())
	}
}

// deflated compresses p as one permessage-deflate message: raw deflate,
// flushed, without the final empty block's four bytes.
func deflated(t testing.TB, p []byte) []byte {
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(p)
	fw.Flush()
	return bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// A plain message may be of any size (the parser enforces max_payload);
// a compressed one whose inflated size passes 8 × max_payload is closed
// with 1009, as nats-server does, so a small frame cannot inflate
// without bound. Other clients carry on.
func TestWebsocketMessageLimit(t *testing.T) {
	s := startWSServer(t, func(o *Options) { o.MaxPayload = 1024; o.Websocket.Compression = true })
	addr := s.WebsocketAddr().String()
	tcp := connect(t, s)
	sub, _ := tcp.SubscribeSync("many")
	tcp.Flush()
	ops := []byte("CONNECT {\"verbose\":false}\r\n" + strings.Repeat("PUB many 10\r\n0123456789\r\n", 400) + "PING\r\n")

	plain := dialRawWS(t, addr, nil)
	plain.readText("INFO ")
	plain.write(wsFrame(2, true, true, ops))
	plain.readText("PONG\r\n")
	for i := 0; i < 400; i++ {
		nextMsg(t, sub)
	}

	ask := map[string]string{"Sec-WebSocket-Extensions": "permessage-deflate; server_no_context_takeover; client_no_context_takeover"}
	small := dialRawWS(t, addr, ask)
	small.readText("INFO ")
	small.write(append([]byte{0xc2}, wsFrame(2, true, true, deflated(t, []byte("CONNECT {\"verbose\":false}\r\nPUB many 2\r\nok\r\nPING\r\n")))[1:]...))
	small.readText("PONG\r\n")
	if m := nextMsg(t, sub); string(m.Data) != "ok" {
		t.Fatalf("compressed publish: got %q", m.Data)
	}

	bomb := dialRawWS(t, addr, ask)
	bomb.readText("INFO ")
	bomb.write(append([]byte{0xc2}, wsFrame(2, true, true, deflated(t, ops))[1:]...))
	if got := bomb.expectClose(); got != 1009 {
		t.Errorf("inflated past the limit: close status %d, want 1009", got)
	}
	tcp.Publish("many", []byte("still here"))
	for {
		if m := nextMsg(t, sub); string(m.Data) == "still here" {
			break
		}
	}
}

// /varz describes the WebSocket port with nats-server's field names.
func TestWebsocketVarz(t *testing.T) {
	s := startWSServer(t, func(o *Options) {
		o.Websocket.Compression = true
		o.Websocket.AllowedOrigins = []string{"https://app.example.com"}
	})
	v := s.Varz()
	w := v.Websocket
	if w.Host != "127.0.0.1" || w.Port != s.WebsocketAddr().(*net.TCPAddr).Port || !w.NoTLS || !w.Compression ||
		len(w.AllowedOrigins) != 1 {
		t.Fatalf("varz websocket %+v", w)
	}
	if off := startServer(t, nil).Varz().Websocket; off.Port != 0 {
		t.Fatalf("varz websocket without the port: %+v", off)
	}
}

// Accounts isolate WebSocket clients as they do TCP ones: a ws:// user of
// account A reaches A's TCP clients and nobody in B.
func TestWebsocketAccounts(t *testing.T) {
	s := startWSServer(t, func(o *Options) {
		o.Accounts = []AccountConfig{
			{Name: "A", Users: []User{{Username: "a-ws", Password: "pw"}, {Username: "a-tcp", Password: "pw"}}},
			{Name: "B", Users: []User{{Username: "b-tcp", Password: "pw"}}},
		}
	})
	ws := wsConnect(t, s, nats.UserInfo("a-ws", "pw"))
	aTCP := connect(t, s, nats.UserInfo("a-tcp", "pw"))
	bTCP := connect(t, s, nats.UserInfo("b-tcp", "pw"))
	inA, _ := aTCP.SubscribeSync("shared")
	inB, _ := bTCP.SubscribeSync("shared")
	aTCP.Flush()
	bTCP.Flush()
	ws.Publish("shared", []byte("for A"))
	ws.Flush()
	if m := nextMsg(t, inA); string(m.Data) != "for A" {
		t.Fatalf("A got %q", m.Data)
	}
	if m, err := inB.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("account B got %q from account A", m.Data)
	}
	var acc string
	for _, c := range s.Conns(false) {
		if c.Websocket {
			acc = c.Account
		}
	}
	if acc != "A" {
		t.Fatalf("ws client in account %q, want A", acc)
	}
}

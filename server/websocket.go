package server

import (
	"bufio"
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"
)

// The WebSocket port. An HTTP server takes each connection through its
// upgrade request (and TLS handshake, for wss://), checks the Origin,
// lets github.com/coder/websocket answer the handshake, and hands the
// hijacked socket to the same connection machinery as the TCP port: a
// wsConn (websocket_conn.go) turns the WebSocket messages back into the
// byte stream the parser reads, and the writer's chunks into binary
// messages. After the upgrade nothing differs from a TCP client.

// ListenerWebsocket names the WebSocket listener in a ListenError.
const ListenerWebsocket = "websocket"

// wsServer is the running WebSocket port.
type wsServer struct {
	ln     net.Listener
	hs     *http.Server
	secure bool // wss://
	// origins is the allowed list, by lower-case host, built once.
	origins map[string][]wsOrigin
}

// startWebsocketLocked opens the WebSocket port when it is configured.
// Called by Start with s.mu held.
func (s *Server) startWebsocketLocked() error {
	o := &s.opts.Websocket
	if !o.Enabled() {
		return nil
	}
	port := o.Port
	if port < 0 {
		port = 0
	}
	addr := net.JoinHostPort(o.Host, strconv.Itoa(port))
	ln, err := listen(ListenerWebsocket, addr)
	if err != nil {
		return err
	}
	w := &wsServer{ln: ln, origins: make(map[string][]wsOrigin)}
	for _, ao := range o.AllowedOrigins {
		org, _ := parseAllowedOrigin(ao) // checked by Validate
		w.origins[org.host] = append(w.origins[org.host], org)
	}
	if o.TLS != nil {
		cfg, err := buildTLSConfig(o.TLS)
		if err != nil {
			ln.Close()
			return fmt.Errorf("server: websocket %w", err)
		}
		w.secure = true
		ln = tls.NewListener(ln, cfg)
	}
	w.hs = &http.Server{
		Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { s.wsUpgrade(w, rw, r) }),
		// The handshake timeout bounds the TLS handshake and the upgrade
		// request; the deadline is cleared once the socket is hijacked.
		ReadTimeout:       o.HandshakeTimeout,
		ReadHeaderTimeout: o.HandshakeTimeout,
		ErrorLog:          log.New(slogWriter{s.log}, "websocket: ", 0),
	}
	if o.TLS != nil {
		// The HTTP server bounds the TLS handshake, which it runs on its
		// first read, by the least of its timeouts: so the write timeout
		// (which otherwise bounds only the 101 answer) brings in
		// [websocket.tls] timeout, and handshake_timeout, when shorter,
		// still wins.
		w.hs.WriteTimeout = cmp.Or(o.TLS.Timeout, DefaultTLSTimeout)
	}
	s.ws = w
	scheme := "ws"
	if w.secure {
		scheme = "wss"
	}
	s.log.Info("listening for websocket clients", "addr", scheme+"://"+ln.Addr().String())
	if !w.secure {
		s.log.Warn("websocket not configured with TLS (no_tls): use it only behind a TLS proxy or on a trusted network")
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := w.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("websocket listener stopped", "err", err)
		}
	}()
	return nil
}

// stopWebsocket closes the WebSocket port and every socket still in its
// handshake; connections already upgraded are closed with the others.
func (s *Server) stopWebsocket() {
	s.mu.Lock()
	w := s.ws
	s.mu.Unlock()
	if w != nil {
		w.hs.Close()
	}
}

// WebsocketAddr is the WebSocket listener's address, or nil when the port
// is off or before Start.
func (s *Server) WebsocketAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ws == nil {
		return nil
	}
	return s.ws.ln.Addr()
}

// WebsocketURL is a ws:// or wss:// URL for reaching the WebSocket port
// from the local machine, or "" when it is off.
func (s *Server) WebsocketURL() string {
	s.mu.Lock()
	w := s.ws
	s.mu.Unlock()
	if w == nil {
		return ""
	}
	a := w.ln.Addr().(*net.TCPAddr)
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "ws://"
	if w.secure {
		scheme = "wss://"
	}
	return scheme + net.JoinHostPort(host, strconv.Itoa(a.Port))
}

// wsUpgrade answers one upgrade request: origin check, handshake, then
// the socket becomes a client connection.
func (s *Server) wsUpgrade(w *wsServer, rw http.ResponseWriter, r *http.Request) {
	o := &s.o().Websocket
	if err := w.checkOrigin(o.SameOrigin, r); err != nil {
		s.log.Info("websocket handshake refused", "client", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
		rw.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(rw, http.StatusText(http.StatusForbidden), http.StatusForbidden)
		return
	}
	for k, v := range o.Headers {
		rw.Header().Set(k, v)
	}
	mode := websocket.CompressionDisabled
	if o.Compression {
		mode = websocket.CompressionNoContextTakeover
	}
	hj := &hijackRecorder{ResponseWriter: rw}
	ws, err := websocket.Accept(hj, r, &websocket.AcceptOptions{
		// Origins are checked above, with nats-server's rules.
		InsecureSkipVerify:   true,
		CompressionMode:      mode,
		CompressionThreshold: wsCompressThreshold,
	})
	if err != nil {
		s.log.Info("websocket handshake failed", "client", r.RemoteAddr, "err", err)
		return
	}
	sock := hj.conn
	sock.SetDeadline(time.Time{}) // the handshake timeout no longer applies
	// As in nats-server, a plain message may be of any size (it is
	// streamed to the parser, which enforces max_payload), while a
	// compressed one is bounded, or a small message could inflate into
	// gigabytes.
	ws.SetReadLimit(-1)
	if rw.Header().Get("Sec-WebSocket-Extensions") != "" {
		ws.SetReadLimit(wsMaxMessageSize(s.o().MaxPayload))
	}
	wc := newWSConn(ws, sock)
	c := newConn(s, wc, s.nextCID.Add(1))
	c.ws, c.raw = wc, sock
	wc.c = c
	if tc, ok := sock.(*tls.Conn); ok {
		c.raw, c.tls = tc.NetConn(), true
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			c.cert = certs[0]
		}
	}
	s.register(c)
}

// Beyond nats-server's compression threshold a message is worth
// compressing; and a compressed WebSocket message may carry several
// operations of up to max_payload each, so the limit on its inflated size
// is a multiple of it (capped), as in nats-server.
const (
	wsCompressThreshold  = 64
	wsMaxPayloadMultiple = 8
	wsMaxMessageLimit    = 64 << 20
)

// wsMaxMessageSize is the largest inflated size of a compressed message.
func wsMaxMessageSize(maxPayload int) int64 {
	return min(int64(maxPayload)*wsMaxPayloadMultiple, wsMaxMessageLimit)
}

// hijackRecorder keeps the socket the WebSocket library hijacks, which
// Wisp needs for deadlines and to cut the connection off.
type hijackRecorder struct {
	http.ResponseWriter
	conn net.Conn
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("websocket: the HTTP server cannot hand over the connection")
	}
	nc, brw, err := hj.Hijack()
	h.conn = nc
	return nc, brw, err
}

// slogWriter turns the HTTP server's own log lines (bad requests, TLS
// handshake errors) into debug records.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug(string(trimNewline(p)))
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	if n := len(p); n > 0 && p[n-1] == '\n' {
		return p[:n-1]
	}
	return p
}

// wsInfo adjusts the INFO a WebSocket client gets, as nats-server does:
// the host and port are the WebSocket port's, TLS is what that port
// does (the connection is already secure or plain when INFO arrives),
// and connect_urls lists the cluster's WebSocket URLs instead of its
// client URLs (nats.go dials them with the scheme it connected with).
func (s *Server) wsInfo(si *serverInfo) {
	o := &s.opts.Websocket
	si.Host, si.Port = o.Host, o.Port
	if a, ok := s.WebsocketAddr().(*net.TCPAddr); ok {
		si.Port = a.Port
	}
	si.TLSRequired, si.TLSVerify = false, false
	if o.TLS != nil {
		si.TLSRequired, si.TLSAvailable = true, true
		si.TLSVerify = o.TLS.verifyClients()
	}
	si.ConnectURLs = nil
	if cl := s.cl; cl != nil && !cl.opts.NoAdvertise {
		si.ConnectURLs = cl.websocketURLs()
	}
}

// ownWebsocketURL is host:port where this server accepts WebSocket
// clients, as other servers' WebSocket clients should dial it: the
// advertised address when set. Empty without a WebSocket port and in
// lame-duck mode.
func (s *Server) ownWebsocketURL() string {
	a, ok := s.WebsocketAddr().(*net.TCPAddr)
	if !ok || s.InLameDuckMode() {
		return ""
	}
	o := &s.opts.Websocket
	if adv := o.Advertise; adv != "" {
		if _, _, err := net.SplitHostPort(adv); err != nil {
			return net.JoinHostPort(adv, strconv.Itoa(a.Port))
		}
		return adv
	}
	if ip := net.ParseIP(o.Host); ip != nil && ip.IsUnspecified() {
		return advertisedAddr(a, o.Host)
	}
	return net.JoinHostPort(o.Host, strconv.Itoa(a.Port))
}

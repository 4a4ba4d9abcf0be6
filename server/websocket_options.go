package server

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// WebsocketOptions open a second client port that speaks the NATS protocol
// inside WebSocket messages (websocket.go), for browsers (nats.ws) and for
// nats.go with a ws:// or wss:// URL. It is off while Port is 0. Clients on
// it are ordinary clients: the same parser, limits, users, permissions and
// accounts as on the TCP port.
type WebsocketOptions struct {
	Host string // listen address, default the client Host
	Port int    // 0 = off; -1 picks a free port
	// Advertise is host[:port] that the cluster's other servers give
	// their WebSocket clients to reach this one (ws_connect_urls), when
	// the listen address is not reachable as is (NAT, 0.0.0.0); the port
	// defaults to the one bound.
	Advertise string

	// TLS serves wss://. As with nats-server, WebSocket needs TLS unless
	// NoTLS says that plain ws:// is really meant (behind a proxy that
	// terminates TLS, or on a trusted network).
	TLS   *TLSOptions
	NoTLS bool

	// SameOrigin refuses (403) a browser whose Origin is not the host,
	// port and scheme it connected to. AllowedOrigins, when not empty,
	// refuses one whose Origin is not in the list (absolute http:// or
	// https:// URLs; the port defaults to the scheme's). A request
	// without an Origin header is not a browser's and passes both.
	SameOrigin     bool
	AllowedOrigins []string

	// Compression offers per-message deflate to clients that ask for it
	// (without context takeover, as nats-server does).
	Compression bool

	// HandshakeTimeout bounds the HTTP upgrade request, and the TLS
	// handshake when it is shorter than TLS.Timeout (which bounds it
	// otherwise); 0 leaves the request unbounded, as with nats-server.
	HandshakeTimeout time.Duration

	// Headers are added to every upgrade response (for example a
	// Strict-Transport-Security header). The WebSocket handshake's own
	// headers cannot be set here.
	Headers map[string]string

	// PingInterval, when set, replaces the server's ping_interval for
	// WebSocket clients (browsers behind proxies that cut idle
	// connections may need a shorter one).
	PingInterval time.Duration
}

// Enabled reports whether the WebSocket port is on.
func (w *WebsocketOptions) Enabled() bool { return w.Port != 0 }

func (w *WebsocketOptions) setDefaults(o *Options) {
	if w.Enabled() && w.Host == "" {
		w.Host = o.Host
	}
}

// wsReservedHeaders are the upgrade response's own headers, which
// Headers may not set (nats-server refuses the same ones).
var wsReservedHeaders = map[string]bool{
	"host": true, "content-length": true, "connection": true, "upgrade": true, "nats-no-masking": true,
}

func (w *WebsocketOptions) validate(bad func(name, format string, args ...any)) {
	if !w.Enabled() {
		return
	}
	if w.Port < -1 || w.Port > 65535 {
		bad("websocket.port", "%d is not a TCP port (0-65535, or -1 for any free port)", w.Port)
	}
	if w.TLS == nil && !w.NoTLS {
		bad("websocket", "needs TLS ([websocket.tls]), or no_tls = true for plain ws://")
	}
	if t := w.TLS; t != nil {
		t.validate(func(name, format string, args ...any) { bad("websocket."+name, format, args...) })
		if t.VerifyAndMap {
			bad("websocket.tls.verify_and_map", "is not supported on the WebSocket port (certificates are verified there, not mapped to users)")
		}
		if t.HandshakeFirst {
			bad("websocket.tls.handshake_first", "does not apply: a WebSocket connection always starts with TLS")
		}
	}
	if strings.Contains(w.Advertise, "://") || strings.ContainsAny(w.Advertise, " /") {
		bad("websocket.advertise", "%q is not host or host:port", w.Advertise)
	}
	if w.HandshakeTimeout < 0 || w.PingInterval < 0 {
		bad("websocket", "durations must not be negative")
	}
	for _, ao := range w.AllowedOrigins {
		if _, err := parseAllowedOrigin(ao); err != nil {
			bad("websocket.allowed_origins", "%v", err)
		}
	}
	for k := range w.Headers {
		lk := strings.ToLower(k)
		if wsReservedHeaders[lk] || strings.HasPrefix(lk, "sec-websocket-") {
			bad("websocket.headers", "%q is part of the WebSocket handshake and cannot be set", k)
		}
	}
}

// wsOrigin is a scheme, host and port that an Origin header is compared
// with.
type wsOrigin struct {
	scheme, host, port string
}

// parseAllowedOrigin reads one entry of AllowedOrigins.
func parseAllowedOrigin(s string) (wsOrigin, error) {
	u, err := url.ParseRequestURI(s)
	if err != nil {
		return wsOrigin{}, fmt.Errorf("%q is not a URL: %v", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return wsOrigin{}, fmt.Errorf("%q: allowed origins are absolute http:// or https:// URLs", s)
	}
	if u.Host == "" {
		return wsOrigin{}, fmt.Errorf("%q has no host", s)
	}
	host, port, err := hostAndPort(u.Host, u.Scheme == "https")
	if err != nil {
		return wsOrigin{}, fmt.Errorf("%q: %v", s, err)
	}
	return wsOrigin{scheme: u.Scheme, host: host, port: port}, nil
}

// hostAndPort splits host[:port], with the scheme's default port when
// there is none, and the host in lower case.
func hostAndPort(hostport string, secure bool) (string, string, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		var ae *net.AddrError
		if !errors.As(err, &ae) || !strings.Contains(ae.Err, "missing port") {
			return "", "", err
		}
		host, port = hostport, "80"
		if secure {
			port = "443"
		}
	}
	return strings.ToLower(host), port, nil
}

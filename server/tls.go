package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/wisp-mq/wisp/protocol"
)

// TLSOptions turns on TLS for client connections. Every client must then
// use TLS: INFO says tls_required, and a client that answers in plain text
// gets -ERR 'Secure Connection - TLS Required' and is closed.
//
// Two handshakes are supported, as with nats-server. By default INFO goes
// out in plain text and the client upgrades the connection after reading it
// (what every NATS client does). With HandshakeFirst the TLS handshake
// comes first and INFO is sent encrypted (nats.go's TLSHandshakeFirst
// option); clients that wait for a plain-text INFO cannot connect then,
// unless HandshakeFirstFallback lets the server notice their silence and
// send INFO in plain text after all.
type TLSOptions struct {
	CertFile string // PEM certificate chain presented to clients
	KeyFile  string // PEM private key for CertFile
	CAFile   string // PEM CAs that client certificates must chain to (with Verify)
	// Verify requires every client to present a certificate signed by a CA
	// in CAFile (or the system pool when CAFile is empty).
	Verify bool
	// VerifyAndMap implies Verify and authenticates each client as the
	// user its certificate names, without a password (see auth_cert.go for
	// how a certificate is matched to a user name). It needs users
	// (Options.Users or accounts' users); users without a password can
	// only connect this way.
	VerifyAndMap bool
	// Timeout bounds the TLS handshake (and the wait for its first byte);
	// default 2s.
	Timeout time.Duration
	// HandshakeFirst starts TLS before INFO.
	HandshakeFirst bool
	// HandshakeFirstFallback, with HandshakeFirst, is how long the server
	// waits for the client's first byte: a TLS ClientHello starts the TLS
	// handshake at once, silence makes the server send INFO in plain text
	// and go on as without HandshakeFirst, so both kinds of client can
	// connect. Zero never falls back. nats-server's "auto" is
	// DefaultHandshakeFirstFallback.
	HandshakeFirstFallback time.Duration

	// Config, when set, is used as is instead of the files above (for
	// embedding and tests). MinVersion is still raised to TLS 1.2.
	Config *tls.Config
}

// DefaultTLSTimeout bounds a client's TLS handshake.
const DefaultTLSTimeout = 2 * time.Second

// DefaultHandshakeFirstFallback is the wait for a TLS-first client's
// ClientHello that handshake_first = "auto" means, as in nats-server.
const DefaultHandshakeFirstFallback = 50 * time.Millisecond

// tlsRecordHandshake is the first byte of every TLS ClientHello.
const tlsRecordHandshake = 0x16

// validate checks what can be checked without reading files.
func (t *TLSOptions) validate(bad func(name, format string, args ...any)) {
	if t.Config == nil && (t.CertFile == "" || t.KeyFile == "") {
		bad("tls", "cert_file and key_file are both required")
	}
	if t.Timeout < 0 {
		bad("tls.timeout", "must not be negative")
	}
	if t.VerifyAndMap && t.Config == nil && (t.CertFile == "" || t.KeyFile == "") {
		bad("tls.verify_and_map", "needs TLS: cert_file and key_file are both required")
	}
	if t.HandshakeFirstFallback < 0 {
		bad("tls.handshake_first", "the fallback delay must not be negative")
	} else if t.HandshakeFirstFallback > 0 && !t.HandshakeFirst {
		bad("tls.handshake_first", "a fallback delay needs handshake_first")
	}
}

// verifyClients reports whether client certificates are required and
// checked.
func (t *TLSOptions) verifyClients() bool { return t.Verify || t.VerifyAndMap }

// buildTLSConfig loads the certificate files into a tls.Config. Errors name
// the file that could not be used.
func buildTLSConfig(t *TLSOptions) (*tls.Config, error) {
	var cfg *tls.Config
	if t.Config != nil {
		cfg = t.Config.Clone()
	} else {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: loading cert_file %q and key_file %q: %w", t.CertFile, t.KeyFile, err)
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: ca_file %q holds no PEM certificate", t.CAFile)
		}
		cfg.ClientCAs = pool
	}
	if t.verifyClients() {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// prefixConn gives back the byte that was read to tell TLS from plain
// text before the TLS layer reads the rest.
type prefixConn struct {
	net.Conn
	first byte
	used  bool
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if !p.used && len(b) > 0 {
		p.used = true
		b[0] = p.first
		return 1, nil
	}
	return p.Conn.Read(b)
}

// errPlainText is the reason a plain-text client on a TLS port is closed.
var errPlainText = errors.New("client did not start TLS")

// secure runs the TLS handshake for a new connection, on its own goroutine
// so a slow client never holds up the accept loop. On success the
// connection is registered as any other; on failure the socket is closed.
func (s *Server) secure(c *conn, cfg *tls.Config, t *TLSOptions) {
	defer s.wg.Done()
	defer s.handshakeDone(c.raw)
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = DefaultTLSTimeout
	}
	raw := c.raw
	under, ok := s.tlsOpening(c, t, timeout)
	if !ok {
		raw.Close()
		return
	}
	tc := tls.Server(under, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		s.log.Debug("TLS handshake failed", "cid", c.id, "client", c.host, "err", err)
		raw.Close()
		return
	}
	raw.SetDeadline(time.Time{})
	c.nc = tc
	c.tls = true
	if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
		c.cert = certs[0]
	}
	s.register(c)
}

// tlsOpening sends INFO in plain text when the client expects it and
// returns the connection the TLS handshake reads from, or false when the
// socket must be closed. The socket's deadline bounds everything up to the
// end of the handshake; with a handshake_first fallback, the wait for the
// client's first byte comes before it.
func (s *Server) tlsOpening(c *conn, t *TLSOptions, timeout time.Duration) (net.Conn, bool) {
	raw := c.raw
	if t.HandshakeFirst {
		if t.HandshakeFirstFallback <= 0 {
			raw.SetDeadline(time.Now().Add(timeout))
			return raw, true
		}
		raw.SetDeadline(time.Now().Add(t.HandshakeFirstFallback))
		first, err := readFirstByte(raw)
		if err == nil {
			// The client spoke first: a TLS-first client, whose INFO
			// goes out encrypted after the handshake.
			raw.SetDeadline(time.Now().Add(timeout))
			return s.expectClientHello(c, first)
		}
		if !timedOut(err) {
			s.log.Debug("TLS handshake failed", "cid", c.id, "client", c.host, "err", err)
			return nil, false
		}
		// Silence: the client waits for INFO, as without handshake_first.
	}
	raw.SetDeadline(time.Now().Add(timeout))
	if _, err := raw.Write(c.infoLine()); err != nil {
		return nil, false
	}
	c.infoSent = true
	first, err := readFirstByte(raw)
	if err != nil {
		s.log.Debug("TLS handshake failed", "cid", c.id, "client", c.host, "err", err)
		return nil, false
	}
	return s.expectClientHello(c, first)
}

// readFirstByte reads the client's first byte, which tells a TLS
// ClientHello from plain text.
func readFirstByte(raw net.Conn) (byte, error) {
	var b [1]byte
	_, err := io.ReadFull(raw, b[:])
	return b[0], err
}

// expectClientHello hands the first byte back to the TLS layer when it
// opens a TLS handshake; otherwise it tells the plain-text client that TLS
// is required.
func (s *Server) expectClientHello(c *conn, first byte) (net.Conn, bool) {
	raw := c.raw
	if first == tlsRecordHandshake {
		return &prefixConn{Conn: raw, first: first}, true
	}
	s.log.Info("connection closed", "cid", c.id, "client", c.host, "reason", errPlainText.Error())
	var buf [64]byte
	raw.Write(protocol.AppendErr(buf[:0], protocol.ErrTextTLSRequired))
	// Read what the client already sent before closing, so the close is a
	// FIN and the -ERR is not lost to a reset.
	raw.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	io.Copy(io.Discard, io.LimitReader(raw, 64<<10))
	return nil, false
}

// timedOut reports whether err is a deadline passing.
func timedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// handshakeDone forgets a connection whose handshake has ended.
func (s *Server) handshakeDone(raw net.Conn) {
	s.mu.Lock()
	delete(s.handshaking, raw)
	s.mu.Unlock()
}

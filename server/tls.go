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
// option); clients that wait for a plain-text INFO cannot connect then.
type TLSOptions struct {
	CertFile string // PEM certificate chain presented to clients
	KeyFile  string // PEM private key for CertFile
	CAFile   string // PEM CAs that client certificates must chain to (with Verify)
	// Verify requires every client to present a certificate signed by a CA
	// in CAFile (or the system pool when CAFile is empty).
	Verify bool
	// Timeout bounds the TLS handshake (and the wait for its first byte);
	// default 2s.
	Timeout time.Duration
	// HandshakeFirst starts TLS before INFO.
	HandshakeFirst bool

	// Config, when set, is used as is instead of the files above (for
	// embedding and tests). MinVersion is still raised to TLS 1.2.
	Config *tls.Config
}

// DefaultTLSTimeout bounds a client's TLS handshake.
const DefaultTLSTimeout = 2 * time.Second

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
}

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
	if t.Verify {
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
	raw.SetDeadline(time.Now().Add(timeout))
	under := raw
	if !t.HandshakeFirst {
		// INFO goes out in plain text; the client's first byte must then
		// open a TLS handshake.
		if _, err := raw.Write(c.infoLine()); err != nil {
			raw.Close()
			return
		}
		var b [1]byte
		if _, err := raw.Read(b[:]); err != nil {
			s.log.Debug("TLS handshake failed", "client", c.host, "err", err)
			raw.Close()
			return
		}
		if b[0] != tlsRecordHandshake {
			s.log.Info("connection closed", "cid", c.id, "client", c.host, "reason", errPlainText.Error())
			var buf [64]byte
			raw.Write(protocol.AppendErr(buf[:0], protocol.ErrTextTLSRequired))
			// Read what the client already sent before closing, so the
			// close is a FIN and the -ERR is not lost to a reset.
			raw.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			io.Copy(io.Discard, io.LimitReader(raw, 64<<10))
			raw.Close()
			return
		}
		under = &prefixConn{Conn: raw, first: b[0]}
		c.infoSent = true
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
	s.register(c)
}

// handshakeDone forgets a connection whose handshake has ended.
func (s *Server) handshakeDone(raw net.Conn) {
	s.mu.Lock()
	delete(s.handshaking, raw)
	s.mu.Unlock()
}

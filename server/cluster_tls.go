package server

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"time"
)

// Routes over TLS ([cluster.tls]): both sides start TLS as soon as the
// socket is connected, before any route op, so nothing of the handshake or
// of the traffic is ever sent in plain text. Each server presents its
// certificate as a server to those that dial it and as a client when it
// dials, and checks the other's against ca_file (the system pool without
// one); with verify, a server that dials without a certificate is refused.
type routeTLS struct {
	server  *tls.Config
	client  *tls.Config
	timeout time.Duration
}

func buildRouteTLS(t *TLSOptions) (*routeTLS, error) {
	srv, err := buildTLSConfig(t)
	if err != nil {
		return nil, fmt.Errorf("cluster.%w", err)
	}
	client := &tls.Config{
		Certificates: srv.Certificates,
		RootCAs:      srv.ClientCAs, // nil: the system pool
		MinVersion:   tls.VersionTLS12,
	}
	timeout := t.Timeout
	if timeout == 0 {
		timeout = DefaultTLSTimeout
	}
	return &routeTLS{server: srv, client: client, timeout: timeout}, nil
}

// secure runs the TLS handshake on a route socket: as the server for an
// accepted one (dialed nil), as the client for one this server dialled,
// checking the certificate against the host dialled.
func (rt *routeTLS) secure(nc net.Conn, dialed *url.URL) (net.Conn, error) {
	var tc *tls.Conn
	if dialed == nil {
		tc = tls.Server(nc, rt.server)
	} else {
		cfg := rt.client.Clone()
		cfg.ServerName = dialed.Hostname()
		tc = tls.Client(nc, cfg)
	}
	tc.SetDeadline(time.Now().Add(rt.timeout))
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	tc.SetDeadline(time.Time{})
	return tc, nil
}

// validateRouteTLS refuses what only makes sense for clients.
func validateRouteTLS(t *TLSOptions, bad func(name, format string, args ...any)) {
	if t.Config == nil && (t.CertFile == "" || t.KeyFile == "") {
		bad("cluster.tls", "cert_file and key_file are both required")
	}
	if t.VerifyAndMap {
		bad("cluster.tls.verify_and_map", "maps client certificates to users; routes have no users")
	}
	if t.HandshakeFirst {
		bad("cluster.tls.handshake_first", "routes always start with TLS; leave it out")
	}
	if t.Timeout < 0 {
		bad("cluster.tls.timeout", "must not be negative")
	}
}

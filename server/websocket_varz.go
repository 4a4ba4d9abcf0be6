package server

import (
	"net"
	"time"
)

// WebsocketVarz is /varz's "websocket" object, with nats-server's field
// names; empty while the WebSocket port is off.
type WebsocketVarz struct {
	Host             string        `json:"host,omitempty"`
	Port             int           `json:"port,omitempty"`
	NoTLS            bool          `json:"no_tls,omitempty"`
	SameOrigin       bool          `json:"same_origin,omitempty"`
	AllowedOrigins   []string      `json:"allowed_origins,omitempty"`
	Compression      bool          `json:"compression,omitempty"`
	HandshakeTimeout time.Duration `json:"handshake_timeout,omitempty"` // nanoseconds, as nats-server
}

func (s *Server) websocketVarz() WebsocketVarz {
	a, ok := s.WebsocketAddr().(*net.TCPAddr)
	if !ok {
		return WebsocketVarz{}
	}
	o := &s.opts.Websocket
	return WebsocketVarz{
		Host: o.Host, Port: a.Port, NoTLS: o.NoTLS, SameOrigin: o.SameOrigin,
		AllowedOrigins: o.AllowedOrigins, Compression: o.Compression, HandshakeTimeout: o.HandshakeTimeout,
	}
}

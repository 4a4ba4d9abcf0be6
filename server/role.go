package server

import (
	"context"
	"log/slog"

	"github.com/wisp-mq/wisp/protocol"
)

// connRole is the part of a connection's life, outside the ops its handler
// takes, where a client and a route to another server differ. The
// transport (conn) calls it at those points instead of asking which kind
// it is: clientRole below, or *route (route.go).
type connRole interface {
	// begin runs on the reader goroutine before the first read; false
	// ends the connection at once. rejected is set for a client that
	// arrived when the server was full.
	begin(rejected bool) bool
	// logClosed logs the close, once, at level.
	logClosed(level slog.Level, reason closeReason, errText string)
	// slow accounts for and logs a slow-consumer close.
	slow(why string)
	// logProtocolError adds what the role wants to log of a parse error,
	// after the transport's own debug line.
	logProtocolError(err error)
	// ended runs once the reader has stopped and the transport's
	// subscriptions are gone: the role leaves the server.
	ended()
}

// clientRole is the role of a client connection.
type clientRole struct{ c *conn }

func (r clientRole) begin(rejected bool) bool {
	c := r.c
	if !c.infoSent {
		c.sendInfo()
	}
	if rejected {
		c.close(closeMaxConnections, protocol.ErrTextMaxConnections)
		return false
	}
	return true
}

func (r clientRole) logClosed(level slog.Level, reason closeReason, _ string) {
	c := r.c
	c.srv.log.Log(context.Background(), level, "connection closed", "cid", c.id, "client", c.host, "name", c.clientName(), "reason", reason.String())
}

func (r clientRole) slow(why string) {
	c := r.c
	c.srv.stats.slowConsumers.Add(1)
	c.srv.log.Warn("slow consumer detected, connection closed", "cid", c.id, "client", c.host, "name", c.clientName(), "why", why)
}

func (clientRole) logProtocolError(error) {} // the transport's debug line is enough

func (r clientRole) ended() {
	r.c.srv.removeConn(r.c)
	r.c.sendDisconnectEvent()
}

package server

import (
	"context"
	"log/slog"
	"time"

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
	// logProtocolError logs a protocol error of the peer that ends the
	// connection, with input, the start of the op that caused it (more:
	// cut short), when the server's limiter lets it through.
	logProtocolError(err error, input []byte, more bool)
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

// logProtocolError logs a client's protocol error at Error, the level
// nats-server uses, so that an operator sees a misbehaving client without
// turning on debug logging. The connection closes after it, so a client
// gets one line; many connections share the server's limiter.
func (r clientRole) logProtocolError(err error, input []byte, more bool) {
	c := r.c
	ok, suppressed := c.srv.protoLog.allow(time.Now())
	if !ok {
		return
	}
	attrs := append([]any{"cid", c.id, "client", c.host, "name", c.clientName()}, protocolErrorAttrs(err, input, more, suppressed)...)
	c.srv.log.Error("protocol error", attrs...)
}

func (r clientRole) ended() {
	r.c.srv.removeConn(r.c)
	r.c.sendDisconnectEvent()
}

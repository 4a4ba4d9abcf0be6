package server

import (
	"errors"
	"log/slog"

	"github.com/wisp-mq/wisp/protocol"
)

// closeReason says why a connection ended, for logs and monitoring.
type closeReason uint8

const (
	closeNone closeReason = iota
	closeClientGone
	closeServerShutdown
	closeProtocolError
	closeAuthViolation
	closeAuthTimeout
	closeMaxConnections
	closeMaxPayload
	closeMaxControlLine
	closeSlowConsumerPending
	closeSlowConsumerWrite
	closeStale
	closeWriteError
	closeDuplicateRoute
	closeKicked // by an operator: the console or a $SYS KICK request
)

var closeReasonText = [...]string{
	closeNone:                "",
	closeClientGone:          "Client Closed",
	closeServerShutdown:      "Server Shutdown",
	closeProtocolError:       "Protocol Error",
	closeAuthViolation:       "Authorization Violation",
	closeAuthTimeout:         "Authentication Timeout",
	closeMaxConnections:      "Maximum Connections Exceeded",
	closeMaxPayload:          "Maximum Payload Exceeded",
	closeMaxControlLine:      "Maximum Control Line Exceeded",
	closeSlowConsumerPending: "Slow Consumer (Pending Bytes)",
	closeSlowConsumerWrite:   "Slow Consumer (Write Deadline)",
	closeStale:               "Stale Connection",
	closeWriteError:          "Write Error",
	closeDuplicateRoute:      "Duplicate Route",
	closeKicked:              "Kicked",
}

func (r closeReason) String() string { return closeReasonText[r] }

// Kinds of protocol error, counted for metrics.
type protoErrKind uint8

const (
	protoErrParse protoErrKind = iota
	protoErrUnknownOp
	protoErrMaxPayload
	protoErrMaxControlLine
	protoErrSubject
	numProtoErrKinds
)

var protoErrKindNames = [numProtoErrKinds]string{"parse", "unknown_op", "max_payload", "max_control_line", "invalid_subject"}

func (c *conn) countProtoError(k protoErrKind) { c.srv.stats.protoErrors[k].Add(1) }

// close ends the connection once: errText, when set, is sent as -ERR first,
// then everything queued is flushed and the socket closed by the writer.
// Safe from any goroutine.
func (c *conn) close(reason closeReason, errText string) {
	c.closeOnce.Do(func() {
		c.reason.Store(uint32(reason))
		if errText != "" {
			c.sendErr(errText)
		}
		c.out.startClosing()
		level := slog.LevelDebug
		if reason != closeClientGone && reason != closeServerShutdown && reason != closeDuplicateRoute {
			level = slog.LevelInfo
		}
		c.role.logClosed(level, reason, errText)
	})
}

// slowConsumer cuts off a subscriber that cannot keep up. Like nats-server it
// sends no -ERR: the client library sees the close and reconnects.
func (c *conn) slowConsumer(why string) {
	reason := closeSlowConsumerPending
	if why == "write deadline" {
		reason = closeSlowConsumerWrite
	}
	first := false
	c.closeOnce.Do(func() {
		first = true
		c.reason.Store(uint32(reason))
		c.out.release() // drop the backlog now: it is what made it slow
		c.out.kickWriter()
	})
	if first {
		c.role.slow(why)
		c.raw.Close()
	}
}

// writeFailed handles a failed flush: a timeout is a slow consumer, anything
// else means the client is gone.
func (c *conn) writeFailed(err error) {
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		c.slowConsumer("write deadline")
		return
	}
	c.close(closeWriteError, "")
	c.raw.Close()
}

// handleParseError turns a parser error into nats-server's -ERR and a close.
func (c *conn) handleParseError(err error) {
	if errors.Is(err, errStopParsing) {
		return
	}
	reason, kind := closeProtocolError, protoErrParse
	switch {
	case errors.Is(err, protocol.ErrUnknownOp):
		kind = protoErrUnknownOp
	case errors.Is(err, protocol.ErrMaxPayload):
		reason, kind = closeMaxPayload, protoErrMaxPayload
	case errors.Is(err, protocol.ErrMaxControlLine):
		reason, kind = closeMaxControlLine, protoErrMaxControlLine
	}
	c.countProtoError(kind)
	bad, more := c.parser.BadInput()
	c.role.logProtocolError(err, bad, more)
	c.close(reason, protocol.ErrText(err))
	c.out.kickWriter()
}

// protocolErrorAttrs are the attributes of a protocol error's log line: the
// error, and the start of the op that caused it, what had arrived of it and
// what followed it in the same read (cut at 64 bytes: more says there was
// more). The bytes go in as a string: slog's text handler (the one cmd/wisp
// uses) escapes them as strconv.Quote does, so control bytes and binary
// garbage stay readable on one line. suppressed counts the lines the
// server's limiter held back since the previous one.
func protocolErrorAttrs(err error, input []byte, more bool, suppressed int) []any {
	attrs := []any{"err", err}
	if input != nil {
		attrs = append(attrs, "input", string(input))
	}
	if more {
		attrs = append(attrs, "input_truncated", true)
	}
	if suppressed > 0 {
		attrs = append(attrs, "suppressed_since_last", suppressed)
	}
	return attrs
}

// teardown runs once the reader has stopped: it removes the connection's
// subscriptions and the connection itself from the server.
func (c *conn) teardown() {
	c.close(closeClientGone, "")
	c.stopTimers()
	c.subsMu.Lock()
	subs := make([]*subscription, 0, len(c.subs))
	for _, sub := range c.subs {
		subs = append(subs, sub)
	}
	c.subsMu.Unlock()
	for _, sub := range subs {
		c.removeSub(sub)
	}
	if c.accCounted {
		c.acc.nconns.Add(-1)
	}
	c.role.ended()
	if c.ws != nil {
		c.ws.readerDone()
	}
}

// sendErr queues -ERR 'text' and wakes the writer.
func (c *conn) sendErr(text string) {
	var buf [256]byte
	c.out.enqueue(protocol.AppendErr(buf[:0], text))
	c.out.kickWriter()
}

// enqueueControl queues a fixed protocol line such as PONG or +OK; the
// writer is woken at the end of the read. The line says that everything
// before it was processed, so whatever this read staged (for this client
// or any other) is handed over first: a client that Flushed and then tells
// another to Flush finds its messages ahead of that one's PONG. (A verbose
// client's +OK after every op thus hands over per op; verbose mode is for
// people at a telnet prompt.)
func (c *conn) enqueueControl(enc func([]byte) []byte) {
	var buf [16]byte
	c.flushStaged()
	c.out.enqueue(enc(buf[:0]))
	c.flushSet[c] = struct{}{}
}

package server

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// wsConn is a WebSocket connection seen as the byte stream the NATS
// protocol needs, so that the reader, the parser and the writer work on
// it as on a TCP socket.
//
// Reading concatenates the payloads of the client's messages, binary or
// text (nats-server takes both), in order: an operation may span two
// messages and a message may hold many operations, exactly as with TCP
// reads. Each Write (one outbound chunk of the writer's) goes out as one
// binary message. Both run with a context that is never cancelled, so
// that the library sets up no timer per message; deadlines are set on the
// socket instead, which fails the read or write at the deadline as on TCP.
type wsConn struct {
	ws   *websocket.Conn
	sock net.Conn // the hijacked socket: TLS over TCP for wss://, else TCP
	c    *conn    // for the close status; set before the goroutines start
	cur  io.Reader
	// libClosed is set by the reader when the client sent its close
	// frame (the library answers it) or broke the WebSocket framing (the
	// library may have sent its own): Close sends no second close frame.
	libClosed atomic.Bool
	// closing is set once the close frame is out: the reader drops what
	// the client still sends until its close frame (or the linger) ends
	// the read. readDone is set when the reader has stopped.
	closing    atomic.Bool
	readDone   atomic.Bool
	readFailed bool        // the reader's last Read failed; reader goroutine only
	finished   atomic.Bool // the socket's close is under way

	closeOnce sync.Once
}

func newWSConn(ws *websocket.Conn, sock net.Conn) *wsConn {
	return &wsConn{ws: ws, sock: sock}
}

// Read fills p from the current message, starting the next one when it
// is used up. Reader goroutine only.
func (w *wsConn) Read(p []byte) (int, error) {
	for {
		if w.cur == nil {
			_, r, err := w.ws.Reader(context.Background())
			if err != nil {
				w.readFailed = true
				return 0, w.readError(err)
			}
			if w.closing.Load() {
				if _, err := io.Copy(io.Discard, r); err != nil {
					w.readFailed = true
					return 0, w.readError(err)
				}
				continue
			}
			w.cur = r
		}
		n, err := w.cur.Read(p)
		if errors.Is(err, io.EOF) {
			w.cur = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		if err != nil {
			w.readFailed = true
			err = w.readError(err)
		}
		return n, err
	}
}

// readError turns the client's close frame into io.EOF, the way a TCP
// client's close reads. A message over the size limit, or any breach of
// the framing (unmasked, reserved bits, bad opcode or continuation),
// closes the connection as a protocol error, as nats-server does; a
// socket error is the client gone.
func (w *wsConn) readError(err error) error {
	if st := websocket.CloseStatus(err); st != -1 {
		w.libClosed.Store(true)
		return io.EOF
	}
	var ne net.Error
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || errors.As(err, &ne) {
		return err
	}
	w.libClosed.Store(true)
	if w.c != nil {
		reason := closeProtocolError
		if errors.Is(err, websocket.ErrMessageTooBig) {
			reason = closeMaxPayload
		}
		w.c.srv.log.Debug("websocket framing error", "cid", w.c.id, "client", w.c.host, "err", err)
		w.c.close(reason, "")
	}
	return err
}

// Write sends p as one binary message. Writer goroutine only.
func (w *wsConn) Write(p []byte) (int, error) {
	if err := w.ws.Write(context.Background(), websocket.MessageBinary, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// wsCloseTimeout bounds the write of the close frame and the wait for
// the client's.
const wsCloseTimeout = time.Second

// Close sends a close frame with the status nats-server sends for the
// connection's close reason. Called by the writer once it has flushed
// everything, so no data message is being written meanwhile; a pong the
// library may be sending from the reader goroutine is one socket write,
// which the socket's own lock keeps whole.
//
// The socket is closed once the client has had its say: when its close
// frame arrives, its socket ends or wsCloseTimeout passes, read by the
// reader or, if that has stopped (after a parse error), by finish.
// Closing while the client may still be writing (its PING right after a
// refused CONNECT) would reset the connection and could destroy the -ERR
// and close frame before the client reads them.
func (w *wsConn) Close() error {
	w.closeOnce.Do(func() {
		if !w.libClosed.Load() {
			reason := closeClientGone
			if w.c != nil {
				reason = w.c.closeReason()
			}
			var buf [2 + 125]byte
			w.sock.SetWriteDeadline(time.Now().Add(wsCloseTimeout))
			w.sock.Write(appendCloseFrame(buf[:0], wsCloseStatus(reason), wsCloseText(reason)))
		}
		w.closing.Store(true)
		w.sock.SetReadDeadline(time.Now().Add(wsCloseTimeout))
		// A backstop for a connection whose reader never started (the
		// server shut down as it was being registered).
		time.AfterFunc(2*wsCloseTimeout, func() { w.ws.CloseNow() })
	})
	if w.readDone.Load() {
		w.finish()
	}
	return nil
}

// readerDone is called by the connection's reader when it has stopped
// reading; the socket is closed now if the close frame is already out.
func (w *wsConn) readerDone() {
	w.readDone.Store(true)
	if w.closing.Load() {
		w.finish()
	}
}

// finish closes the socket, once both the close frame is out and the
// reader has stopped. If the reader stopped without the socket failing,
// what the client still sends is read and dropped first, until its close
// frame or the deadline Close set.
func (w *wsConn) finish() {
	if !w.finished.CompareAndSwap(false, true) {
		return
	}
	if !w.readFailed {
		for {
			_, r, err := w.ws.Reader(context.Background())
			if err != nil {
				break
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				break
			}
		}
	}
	w.ws.CloseNow()
}

// appendCloseFrame appends an unmasked close frame (a server's) with a
// status code and a reason of at most 123 bytes.
func appendCloseFrame(b []byte, code websocket.StatusCode, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:120] + "..."
	}
	b = append(b, 0x88, byte(2+len(reason)))
	b = binary.BigEndian.AppendUint16(b, uint16(code))
	return append(b, reason...)
}

// wsCloseStatus is the close frame's status for a close reason, as
// nats-server chooses it.
func wsCloseStatus(r closeReason) websocket.StatusCode {
	switch r {
	case closeClientGone:
		return websocket.StatusNormalClosure
	case closeAuthViolation, closeAuthTimeout, closeMaxConnections, closeMaxControlLine,
		closeSlowConsumerPending, closeSlowConsumerWrite:
		return websocket.StatusPolicyViolation
	case closeProtocolError:
		return websocket.StatusProtocolError
	case closeMaxPayload:
		return websocket.StatusMessageTooBig
	case closeWriteError, closeStale, closeServerShutdown:
		return websocket.StatusGoingAway
	}
	return websocket.StatusInternalError
}

// wsCloseText is the close frame's reason text: nats-server's name for
// the close reason, where it differs from Wisp's.
func wsCloseText(r closeReason) string {
	switch r {
	case closeAuthViolation:
		return "Authentication Failure"
	case closeMaxPayload:
		return "Maximum Message Payload Exceeded"
	case closeProtocolError:
		return "Parse Error"
	}
	return r.String()
}

func (w *wsConn) LocalAddr() net.Addr                { return w.sock.LocalAddr() }
func (w *wsConn) RemoteAddr() net.Addr               { return w.sock.RemoteAddr() }
func (w *wsConn) SetDeadline(t time.Time) error      { return w.sock.SetDeadline(t) }
func (w *wsConn) SetReadDeadline(t time.Time) error  { return w.sock.SetReadDeadline(t) }
func (w *wsConn) SetWriteDeadline(t time.Time) error { return w.sock.SetWriteDeadline(t) }

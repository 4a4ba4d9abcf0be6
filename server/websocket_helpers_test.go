package server

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// startWSServer runs a server with its WebSocket port open on a free
// loopback port, in plain ws:// unless edit sets TLS.
func startWSServer(t testing.TB, edit func(*Options)) *Server {
	t.Helper()
	return startServer(t, func(o *Options) {
		o.Websocket = WebsocketOptions{Host: "127.0.0.1", Port: -1, NoTLS: true}
		if edit != nil {
			edit(o)
		}
	})
}

// wsConnect connects nats.go to the WebSocket port.
func wsConnect(t testing.TB, s *Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	opts = append([]nats.Option{nats.Timeout(5 * time.Second)}, opts...)
	nc, err := nats.Connect(s.WebsocketURL(), opts...)
	if err != nil {
		t.Fatalf("connect to %s: %v", s.WebsocketURL(), err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// rawWS is a hand-driven WebSocket client: it writes frames byte by byte,
// masked or not, so that tests can send what no library would.
type rawWS struct {
	t    testing.TB
	nc   net.Conn
	br   *bufio.Reader
	resp *http.Response
}

// dialRawWS sends an upgrade request with the given extra headers and
// reads the response; on a 101 the connection is ready for frames.
func dialRawWS(t testing.TB, addr string, hdr map[string]string) *rawWS {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return upgradeRawWS(t, nc, addr, hdr)
}

// upgradeRawWS sends the upgrade request over an open connection (a TLS
// one, say) and reads the response.
func upgradeRawWS(t testing.TB, nc net.Conn, addr string, hdr map[string]string) *rawWS {
	t.Helper()
	t.Cleanup(func() { nc.Close() })
	var key [16]byte
	rand.Read(key[:])
	var sb strings.Builder
	fmt.Fprintf(&sb, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", addr)
	fmt.Fprintf(&sb, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", base64.StdEncoding.EncodeToString(key[:]))
	for k, v := range hdr {
		fmt.Fprintf(&sb, "%s: %s\r\n", k, v)
	}
	sb.WriteString("\r\n")
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, sb.String()); err != nil {
		t.Fatalf("write upgrade: %v", err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read upgrade response: %v", err)
	}
	return &rawWS{t: t, nc: nc, br: br, resp: resp}
}

// wsFrame encodes one client frame; masked as clients must unless told.
func wsFrame(op byte, fin, masked bool, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	mbit := byte(0)
	if masked {
		mbit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, mbit|byte(n))
	case n < 1<<16:
		b = append(b, mbit|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, mbit|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if !masked {
		return append(b, payload...)
	}
	key := [4]byte{0x1f, 0x2e, 0x3d, 0x4c}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

func (r *rawWS) write(frames ...[]byte) {
	r.t.Helper()
	for _, f := range frames {
		if _, err := r.nc.Write(f); err != nil {
			r.t.Fatalf("write frame: %v", err)
		}
	}
}

// readFrame reads one server frame (servers do not mask), inflating a
// compressed one.
func (r *rawWS) readFrame() (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(r.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err = io.ReadFull(r.br, l[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err = io.ReadFull(r.br, l[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(l[:])
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r.br, payload); err != nil {
		return 0, nil, err
	}
	if h[0]&0x40 != 0 {
		fr := flate.NewReader(io.MultiReader(bytes.NewReader(payload), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})))
		payload, err = io.ReadAll(fr)
	}
	return h[0] & 0x0f, payload, err
}

// readText reads data frames until their payloads, joined, contain want,
// and returns them; a close frame or an error fails the test.
func (r *rawWS) readText(want string) string {
	r.t.Helper()
	var sb strings.Builder
	for !strings.Contains(sb.String(), want) {
		op, p, err := r.readFrame()
		if err != nil {
			r.t.Fatalf("waiting for %q (have %q): %v", want, sb.String(), err)
		}
		if op == 8 {
			r.t.Fatalf("waiting for %q (have %q): close frame %v", want, sb.String(), closePayload(p))
		}
		sb.Write(p)
	}
	return sb.String()
}

// expectClose reads until the server's close frame, or the socket's end,
// and returns the close status (0 when the socket ended without one).
func (r *rawWS) expectClose() int {
	r.t.Helper()
	code, _ := r.expectCloseReason()
	return code
}

// expectCloseReason is expectClose with the close frame's reason text.
func (r *rawWS) expectCloseReason() (int, string) {
	r.t.Helper()
	for {
		op, p, err := r.readFrame()
		if isTimeout(err) {
			r.t.Fatal("the server neither closed the connection nor sent a close frame")
		}
		if err != nil {
			return 0, ""
		}
		if op == 8 {
			if len(p) < 2 {
				return 1005, ""
			}
			return int(binary.BigEndian.Uint16(p)), string(p[2:])
		}
	}
}

func closePayload(p []byte) string {
	if len(p) < 2 {
		return "(no status)"
	}
	return fmt.Sprintf("%d %q", binary.BigEndian.Uint16(p), p[2:])
}

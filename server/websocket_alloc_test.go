package server

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// The WebSocket layer's part of the message path: reading frames into
// the reader's buffer (wsConn.Read) and sending the writer's chunks as
// frames (wsConn.Write). With the rest of the path measured by
// TestHotPathAllocations, these show that a WebSocket client's messages
// cost no allocation either once the frames are read.

// wsPair accepts one WebSocket connection on a loopback socket as the
// server does and returns its wsConn with a raw client.
func wsPair(t testing.TB, compress bool) (*wsConn, *rawWS) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *wsConn, 1)
	mode := websocket.CompressionDisabled
	if compress {
		mode = websocket.CompressionNoContextTakeover
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		hj := &hijackRecorder{ResponseWriter: rw}
		ws, err := websocket.Accept(hj, r, &websocket.AcceptOptions{InsecureSkipVerify: true, CompressionMode: mode, CompressionThreshold: wsCompressThreshold})
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		ws.SetReadLimit(-1)
		got <- newWSConn(ws, hj.conn)
	})}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	var hdr map[string]string
	if compress {
		hdr = map[string]string{"Sec-WebSocket-Extensions": "permessage-deflate; server_no_context_takeover; client_no_context_takeover"}
	}
	client := dialRawWS(t, ln.Addr().String(), hdr)
	w := <-got
	if w == nil {
		t.FailNow()
	}
	t.Cleanup(func() { w.ws.CloseNow() })
	return w, client
}

// pubFrames is n client frames, each holding one PUB, compressed or not.
func pubFrames(t testing.TB, n int, compress bool) (frames []byte, plainBytes int) {
	op := []byte("PUB bench.subject 64\r\n" + strings.Repeat("x", 64) + "\r\n")
	for i := 0; i < n; i++ {
		if compress {
			f := wsFrame(2, true, true, deflated(t, op))
			f[0] |= 0x40
			frames = append(frames, f...)
		} else {
			frames = append(frames, wsFrame(2, true, true, op)...)
		}
		plainBytes += len(op)
	}
	return frames, plainBytes
}

// readAll reads what the client sent as frames until want bytes of
// payload have arrived.
func readAll(t testing.TB, w *wsConn, buf []byte, want int) {
	for got := 0; got < want; {
		n, err := w.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
}

// skipFrame reads one server frame into buf without allocating (the
// header too, which a local array would not do: it escapes), and returns
// its payload's length.
func skipFrame(t testing.TB, r *rawWS, buf []byte) int {
	h := buf[:10]
	if _, err := io.ReadFull(r.br, h[:2]); err != nil {
		t.Fatal(err)
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		io.ReadFull(r.br, h[2:4])
		n = int(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		io.ReadFull(r.br, h[2:10])
		n = int(binary.BigEndian.Uint64(h[2:10]))
	}
	if _, err := io.ReadFull(r.br, buf[:n]); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWebsocketAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	for _, compress := range []bool{false, true} {
		name := "plain"
		if compress {
			name = "deflate"
		}
		t.Run(name, func(t *testing.T) {
			w, client := wsPair(t, compress)
			const perRun = 16
			frames, plain := pubFrames(t, perRun, compress)
			buf := make([]byte, 4096)
			read := testing.AllocsPerRun(200, func() {
				client.write(frames)
				readAll(t, w, buf, plain)
			}) / perRun
			chunk := bytes.Repeat([]byte("MSG bench.subject 1 64\r\n"+strings.Repeat("y", 64)+"\r\n"), 16)
			out := make([]byte, 64<<10)
			write := testing.AllocsPerRun(200, func() {
				if _, err := w.Write(chunk); err != nil {
					t.Fatal(err)
				}
				skipFrame(t, client, out)
			})
			t.Logf("%s: %.2f allocations per message read, %.2f per chunk written", name, read, write)
			// Compressed messages go through the library's pooled
			// inflaters and deflaters; a pool may allocate now and then
			// after a GC, which is not a per-message cost.
			limit := 0.0
			if compress {
				limit = 0.5
			}
			if read > limit || write > limit {
				t.Fatalf("%s: %.2f allocations per message read, %.2f per chunk written; want at most %.1f", name, read, write, limit)
			}
		})
	}
}

// TestWebsocketHotPathAllocations runs the whole path with WebSocket on
// both ends: PUB frames read from a publisher's wsConn, parsed, matched,
// staged and handed to a subscriber whose writer sends them as frames on
// its own wsConn. Nothing allocates per message.
func TestWebsocketHotPathAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are checked without -race (make test does both)")
	}
	s, err := New(&Options{Host: "127.0.0.1", Port: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pubWS, pubClient := wsPair(t, false)
	subWS, subClient := wsPair(t, false)
	pub := newConn(s, pubWS, 1)
	pub.ws, pub.opts.Verbose = pubWS, false
	sub := newConn(s, subWS, 2)
	sub.ws, sub.opts.Verbose = subWS, false
	if err := s.sl.Insert("ws.path", "", &subscription{conn: sub, subject: "ws.path", sid: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	const perRun = 32
	op := []byte("PUB ws.path 64\r\n" + strings.Repeat("x", 64) + "\r\n")
	var frames []byte
	for range perRun {
		frames = append(frames, wsFrame(2, true, true, op)...)
	}
	delivered := perRun * len("MSG ws.path 1 64\r\n"+strings.Repeat("x", 64)+"\r\n")
	buf := make([]byte, 4096)
	out := make([]byte, 64<<10)
	run := func() {
		pubClient.write(frames)
		for got := 0; got < perRun*len(op); {
			n, err := pub.nc.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			if err := pub.parser.Parse(buf[:n], pub); err != nil {
				t.Fatal(err)
			}
			pub.endOfRead()
			got += n
		}
		drain(t, sub)
		for got := 0; got < delivered; {
			got += skipFrame(t, subClient, out)
		}
	}
	run() // warm up: caches, pools, scratch
	if a := testing.AllocsPerRun(100, run) / perRun; a != 0 {
		t.Fatalf("%v allocations per message over WebSocket, want 0", a)
	}
}

// BenchmarkWebsocketRead measures reading one PUB per frame.
func BenchmarkWebsocketRead(b *testing.B) {
	for _, compress := range []bool{false, true} {
		name := "plain"
		if compress {
			name = "deflate"
		}
		b.Run(name, func(b *testing.B) {
			w, client := wsPair(b, compress)
			const perRun = 64
			frames, plain := pubFrames(b, perRun, compress)
			buf := make([]byte, 4096)
			b.ReportAllocs()
			b.SetBytes(int64(plain))
			for b.Loop() {
				client.write(frames)
				readAll(b, w, buf, plain)
			}
		})
	}
}

// BenchmarkWebsocketWrite measures sending one outbound chunk as a frame.
func BenchmarkWebsocketWrite(b *testing.B) {
	for _, compress := range []bool{false, true} {
		name := "plain"
		if compress {
			name = "deflate"
		}
		b.Run(name, func(b *testing.B) {
			w, client := wsPair(b, compress)
			chunk := bytes.Repeat([]byte("MSG bench.subject 1 64\r\n"+strings.Repeat("y", 64)+"\r\n"), 64)
			out := make([]byte, 64<<10)
			b.ReportAllocs()
			b.SetBytes(int64(len(chunk)))
			for b.Loop() {
				if _, err := w.Write(chunk); err != nil {
					b.Fatal(err)
				}
				skipFrame(b, client, out)
			}
		})
	}
}

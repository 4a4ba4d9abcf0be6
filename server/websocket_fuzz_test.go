package server

import (
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// FuzzWebsocketFrames sends arbitrary bytes after a completed handshake,
// as any client of the WebSocket port could: reading them through the
// wsConn must never panic or hang, and must end in an error once the
// client's side is shut (a close frame reads as io.EOF). What does read
// is the byte stream the NATS parser, fuzzed on its own, gets. Seeds live
// in testdata/fuzz/FuzzWebsocketFrames.
func FuzzWebsocketFrames(f *testing.F) {
	pub := []byte("PUB a 2\r\nhi\r\n")
	f.Add(wsFrame(2, true, true, pub))
	f.Add(append(wsFrame(1, false, true, pub[:4]), wsFrame(0, true, true, pub[4:])...))
	f.Add(append(wsFrame(9, true, true, []byte("ping")), wsFrame(8, true, true, []byte{3, 232})...))
	f.Add(wsFrame(2, true, false, pub))
	f.Add([]byte{0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4})
	f.Add([]byte{0xc2, 0x85, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, compress := range []bool{false, true} {
			w, client := wsPair(t, compress)
			if _, err := client.nc.Write(in); err != nil {
				t.Fatal(err)
			}
			client.nc.(*net.TCPConn).CloseWrite()
			w.sock.SetReadDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, 512)
			for {
				_, err := w.Read(buf)
				if err == nil {
					continue
				}
				if isTimeout(err) {
					t.Fatalf("read of %d bytes did not end", len(in))
				}
				break
			}
		}
	})
}

// FuzzWebsocketOrigin checks any Origin and Host headers against the
// same-origin rule and an allowed list: never a panic, and never a pass
// for an Origin that names another host.
func FuzzWebsocketOrigin(f *testing.F) {
	f.Add("https://app.example.com", "app.example.com")
	f.Add("http://127.0.0.1:8080", "127.0.0.1:8080")
	f.Add("http://[::1]:80", "[::1]")
	f.Add("null", "h")
	f.Add("http://a.example.com:99999", "a.example.com:x")
	f.Add("", "")
	allowed, err := parseAllowedOrigin("https://app.example.com")
	if err != nil {
		f.Fatal(err)
	}
	w := &wsServer{origins: map[string][]wsOrigin{allowed.host: {allowed}}}
	f.Fuzz(func(t *testing.T, origin, host string) {
		r := &http.Request{Host: host, Header: http.Header{}}
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if err := w.checkOrigin(true, r); err == nil && origin != "" {
			oh, _, _ := hostAndPort(host, false)
			if h, _, err := originHost(origin); err != nil || h != oh {
				t.Fatalf("origin %q passed the same-origin check for host %q", origin, host)
			}
		}
		if err := w.checkOrigin(false, r); err == nil && origin != "" {
			if h, _, err := originHost(origin); err != nil || h != "app.example.com" {
				t.Fatalf("origin %q passed the allowed list", origin)
			}
		}
		parseAllowedOrigin(origin)
	})
}

// originHost is the host an Origin header names, as checkOrigin reads it.
func originHost(origin string) (string, string, error) {
	u, err := url.ParseRequestURI(origin)
	if err != nil {
		return "", "", err
	}
	return hostAndPort(u.Host, u.Scheme == "https")
}

package server

import (
	"testing"
)

// FuzzRouteOps feeds arbitrary bytes to a registered route, as a peer (or
// anything that reached the route port) could send them: parsing, interest
// changes and routed deliveries must never panic, and whatever interest the
// bytes added is gone once the route ends. Seeds live in
// testdata/fuzz/FuzzRouteOps.
func FuzzRouteOps(f *testing.F) {
	f.Add([]byte("RS+ $G foo\r\nRMSG $G foo 2\r\nhi\r\nRS- $G foo\r\n"))
	f.Add([]byte("RS+ $G foo q 3\r\nRS+ $G foo q 1\r\nRMSG $G foo + _INBOX.1 q 0\r\n\r\nRS- $G foo q\r\n"))
	f.Add([]byte("HRMSG $G foo | q 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\nRS+ nosuch foo\r\n"))
	f.Add([]byte("RS+ $G foo.* q 65536\r\nRS+ $G >\r\nRS+ $G foo..bar\r\nINFO {}\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		h := newHotPath(t, 1, "foo")
		r := newTestRoute(t, h.srv, 100)
		if err := r.c.parser.Parse(in, r); err == nil {
			r.c.endOfRead()
		}
		for _, c := range h.subs {
			drain(t, c)
		}
		r.dropInterest()
		if n := h.srv.sl.Count(); n != 1 {
			t.Fatalf("%d subscriptions left after the route ended, want the local 1", n)
		}
	})
}

package server

import (
	"bytes"
	"testing"
)

// FuzzDecodeDelivery: a remote delivery's bytes come from another server;
// decoding never panics, and what decodes encodes back to the same bytes.
func FuzzDecodeDelivery(f *testing.F) {
	f.Add(appendDelivery(nil, "$G", "_INBOX.x", "orders.1", "$JS.ACK.S.C.1.1.1.1.0", []byte("NATS/1.0\r\n\r\n"), []byte("data")))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		fields, data, ok := decodeDelivery(b)
		if !ok {
			return
		}
		again := appendDelivery(nil, string(fields[0]), string(fields[1]), string(fields[2]), string(fields[3]), fields[4], data)
		if !bytes.Equal(again, b) {
			// Uvarints have more than one encoding; a canonical one must
			// decode to the same fields.
			f2, d2, ok2 := decodeDelivery(again)
			if !ok2 || !bytes.Equal(d2, data) || !bytes.Equal(f2[2], fields[2]) {
				t.Fatalf("re-encoding %x gave %x", b, again)
			}
		}
	})
}

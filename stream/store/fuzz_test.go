package store

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecodeRecord: any bytes from disk decode or fail with ErrCorrupt,
// never panic, and whatever decodes survives an encode/decode round trip.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(AppendRecord(nil, &Msg{Time: 1, Subject: []byte("a.b"), Data: []byte("hi")}))
	f.Add(AppendRecord(nil, &Msg{Time: 2, Subject: []byte("x"), Header: []byte("NATS/1.0\r\nK: v\r\n\r\n")}))
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, rec []byte) {
		var m Msg
		err := DecodeRecord(rec, &m)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error not ErrCorrupt: %v", err)
			}
			return
		}
		var back Msg
		if err := DecodeRecord(AppendRecord(nil, &m), &back); err != nil ||
			back.Time != m.Time || !bytes.Equal(back.Subject, m.Subject) ||
			!bytes.Equal(back.Header, m.Header) || !bytes.Equal(back.Data, m.Data) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzKeys: key parsers accept any bytes.
func FuzzKeys(f *testing.F) {
	f.Add(msgKey(nil, 1, 2))
	f.Add(subjKey(nil, 1, "a.b", 3))
	f.Fuzz(func(t *testing.T, k []byte) {
		seqOfMsgKey(k)
		seqOfSubjKey(k)
	})
}

package store

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
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

// FuzzUnseal: any bytes read as any kind of sealed value either open or
// fail with ErrCorrupt, never panic; a value that opens as sealed seals
// back to the same bytes.
func FuzzUnseal(f *testing.F) {
	f.Add(seal(nil, []byte(`{"id":1}`)))
	f.Add(seal(nil, make([]byte, 16)))
	f.Add(seal(nil, nil))
	f.Add([]byte{sealTag, 0, 0, 0})
	f.Add(make([]byte, 24))
	f.Add([]byte(`{"legacy":true}`))
	rules := []legacyRule{legacyMeta, legacyConsumerMeta, legacyState, legacyPending, legacyNextID, legacyConsumerState, nil}
	f.Fuzz(func(t *testing.T, v []byte) {
		for _, rule := range rules {
			p, err := unseal(v, rule)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error not ErrCorrupt: %v", err)
				}
				continue
			}
			if len(v) > 0 && v[0] == sealTag && !bytes.Equal(seal(nil, p), v) {
				t.Fatalf("sealed value %x does not round trip", v)
			}
		}
	})
}

// FuzzDecodeManifest: any bytes read as a manifest decode or fail with
// ErrCorrupt, never panic; whatever decodes survives a round trip.
func FuzzDecodeManifest(f *testing.F) {
	m := &Manifest{Generation: 3, Streams: []ManifestStream{{
		ID: 1, Name: "S", Meta: []byte(`{"id":1}`), LastSeq: 9, LastTime: 5,
		Consumers: []ManifestConsumer{{Name: "D", Meta: []byte(`{}`)}},
		Lost:      []LostRange{{First: 4, Last: 6, LastTime: 5, Noted: 7}},
	}}}
	good, err := EncodeManifest(m)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(manifestMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error not ErrCorrupt: %v", err)
			}
			return
		}
		again, err := EncodeManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeManifest(again); err != nil {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzConsumerRecords: any bytes stored under a consumer key (definition,
// state, pending entry, or a kind never written) are read back by
// Consumers and by the open-time check without a panic, and a bad one is
// counted, never returned as a value.
func FuzzConsumerRecords(f *testing.F) {
	f.Add(byte('c'), []byte(`{"config":{}}`))
	f.Add(byte('s'), seal(nil, make([]byte, 48)))
	f.Add(byte('p'), make([]byte, 24))
	f.Add(byte('p'), seal(nil, make([]byte, 24)))
	f.Add(byte('x'), []byte{sealTag})
	s, err := Open(Options{Dir: "db", FS: vfs.NewMem()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, kind byte, v []byte) {
		err := s.Do(func(b *Batch) error {
			if err := b.DropRawConsumer(1, "F"); err != nil {
				return err
			}
			key := consumerKey(nil, 1, "F", kind)
			if kind == consumerPendingKind {
				key = pendingKey(nil, 1, "F", 9)
			}
			return b.b.Set(key, v, nil)
		})
		if err != nil {
			t.Fatal(err)
		}
		cs, err := s.Reader().Consumers(1)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.Meta != nil && !legacyJSON(c.Meta) && (len(v) == 0 || v[0] != sealTag) {
				t.Fatalf("unsealed non-JSON definition returned: %q", c.Meta)
			}
		}
		observe(s.Reader(), nil)
	})
}

package consensus

import (
	"encoding/binary"
	"testing"
)

// FuzzDecodeRecord feeds arbitrary keys and values to every record decoder:
// none may panic, and whatever decodes must re-encode to the same bytes
// (a record verifies only as written).
func FuzzDecodeRecord(f *testing.F) {
	k := entryKey(1, 2)
	f.Add(k, encodeEntry(k, ent(2, 1, "hello")))
	sk := kindKey(1, kindState)
	f.Add(sk, encodeState(sk, stateRecord{term: 3, vote: 1, commit: 2, lastIndex: 2, lastTerm: 1}))
	tk := kindKey(1, kindTrunc)
	f.Add(tk, encodeTrunc(tk, truncRecord{9, 2}))
	ak := kindKey(1, kindStreamed)
	f.Add(ak, encodeStreamed(ak, streamedRecord{snap: 40, state: 49}))
	f.Add([]byte("short"), []byte{1, 2})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		if e, err := decodeEntry(key, value); err == nil {
			if idx := binary.BigEndian.Uint64(key[len(key)-8:]); idx != e.GetIndex() {
				t.Fatalf("entry %d decoded under key index %d", e.GetIndex(), idx)
			}
		}
		if s, err := decodeState(key, value); err == nil {
			if string(encodeState(key, s)) != string(value) {
				t.Fatal("state record does not round-trip")
			}
		}
		if tr, err := decodeTrunc(key, value); err == nil {
			if string(encodeTrunc(key, tr)) != string(value) {
				t.Fatal("truncation record does not round-trip")
			}
		}
		if a, err := decodeStreamed(key, value); err == nil {
			if string(encodeStreamed(key, a)) != string(value) {
				t.Fatal("streamed state record does not round-trip")
			}
		}
		if p, err := openRecord(key, value); err == nil {
			if string(sealRecord(key, p)) != string(value) {
				t.Fatal("record does not round-trip")
			}
		}
	})
}

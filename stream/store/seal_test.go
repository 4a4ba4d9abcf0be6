package store

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
)

// TestLegacyValuesStillRead: values written before seals (no tag, the old
// shape) still read, so an upgraded server keeps its consumers.
func TestLegacyValuesStillRead(t *testing.T) {
	s := openMem(t, vfs.NewMem())
	defer s.Close()
	err := s.Do(func(b *Batch) error {
		if err := b.PutRawConsumerValue(1, "OLD", consumerMetaKind, []byte(`{"config":{}}`)); err != nil {
			return err
		}
		return b.PutRawConsumerValue(1, "OLD", consumerStateKind, make([]byte, 48))
	})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := s.Reader().Consumers(1)
	if err != nil || len(cs) != 1 || string(cs[0].Meta) != `{"config":{}}` || len(cs[0].State) != 48 {
		t.Fatalf("legacy consumer: %+v, %v", cs, err)
	}
	if s.CorruptRecords() != 0 {
		t.Fatalf("legacy values counted corrupt")
	}
}

// TestSealedValueDamageIsCaught: one flipped bit in a sealed consumer
// state, pending entry or stream state is an error, counted, never a wrong
// value handed on.
func TestSealedValueDamageIsCaught(t *testing.T) {
	s := openMem(t, vfs.NewMem())
	defer s.Close()
	state := seal(nil, bytes.Repeat([]byte{7}, 48))
	state[10] ^= 0x04
	mark := seal(nil, make([]byte, 16))
	mark[3] ^= 0x01
	err := s.Do(func(b *Batch) error {
		if err := b.PutConsumerMeta(1, "C", []byte(`{"config":{}}`)); err != nil {
			return err
		}
		if err := b.PutRawConsumerValue(1, "C", consumerStateKind, state); err != nil {
			return err
		}
		return b.b.Set(stateKey(1), mark, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := s.Reader().Consumers(1)
	if err != nil || len(cs) != 1 || cs[0].State != nil || cs[0].Meta == nil {
		t.Fatalf("damaged state handed on: %+v, %v", cs, err)
	}
	if _, _, err := s.Reader().LastSeqMark(1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged stream state: %v", err)
	}
	if s.CorruptRecords() != 2 {
		t.Fatalf("corrupt records %d, want 2", s.CorruptRecords())
	}
}

package store

import (
	"strings"
	"testing"
)

// TestVerifyNamesCorruptRecords: Verify lists a message record failing its
// checksum by sequence, and a damaged consumer record by consumer and
// kind, and calls the store damaged; on the intact store it finds nothing.
func TestVerifyNamesCorruptRecords(t *testing.T) {
	dir := t.TempDir()
	writeDamageStore(t, dir, false)
	rep, err := Verify(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Damaged() || len(rep.Streams) != 1 || rep.Streams[0].Messages != damageMsgs ||
		len(rep.Streams[0].Ranges) != 1 || rep.Streams[0].Consumers[0] != "DUR" {
		t.Fatalf("intact store: %+v", rep)
	}
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	state := seal(nil, make([]byte, 48))
	state[7] ^= 0x20
	err = s.Do(func(b *Batch) error {
		if err := b.PutRawMsg(damageStream, 77, []byte("not a record at all")); err != nil {
			return err
		}
		return b.PutRawConsumerValue(damageStream, "DUR", consumerStateKind, state)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	vs := rep.Streams[0]
	if !rep.Damaged() || len(vs.Corrupt) != 1 || vs.Corrupt[0] != 77 || len(vs.Ranges) != 2 {
		t.Fatalf("corrupt message not named: %+v", vs)
	}
	if len(vs.Problems) != 1 || !strings.Contains(vs.Problems[0], `consumer "DUR" state`) {
		t.Fatalf("corrupt consumer state not named: %q", vs.Problems)
	}
}

package store

import (
	"testing"
)

// TestRestoredMsgsClaimNothing: messages written for a restore that never
// got its definition (the server stopped first) are not reported at the
// next open as a stream that lost its definition, as messages written
// with PutMsg would be.
func TestRestoredMsgsClaimNothing(t *testing.T) {
	for _, c := range []struct {
		name       string
		put        func(b *Batch, id uint32, m *Msg) error
		wantDamage bool
	}{
		{"PutMsg", (*Batch).PutMsg, true},
		{"PutRestoredMsg", (*Batch).PutRestoredMsg, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(Options{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Do(func(b *Batch) error {
				id, err := b.NextStreamID()
				if err != nil {
					return err
				}
				return c.put(b, id, &Msg{Seq: 1, Time: 1, Subject: []byte("a"), Data: []byte("x")})
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err = Open(Options{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := len(s.OpenReport().Damage) > 0; got != c.wantDamage {
				t.Fatalf("damage reported: %v, want %v (%+v)", got, c.wantDamage, s.OpenReport())
			}
		})
	}
}

// TestSnapshotReaderIsFrozen: a snapshot reader does not see what is
// written after it was taken.
func TestSnapshotReaderIsFrozen(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	put := func(seq uint64) {
		t.Helper()
		if err := s.Do(func(b *Batch) error {
			return b.PutMsg(1, &Msg{Seq: seq, Time: int64(seq), Subject: []byte("a"), Data: []byte("x")})
		}); err != nil {
			t.Fatal(err)
		}
	}
	put(1)
	r, release, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	put(2)
	n := 0
	if err := r.Scan(1, 0, func(*Msg) bool { n++; return true }); err != nil || n != 1 {
		t.Fatalf("snapshot saw %d messages (%v), want 1", n, err)
	}
}

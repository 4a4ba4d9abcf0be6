package store

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
)

func TestConsumerKeys(t *testing.T) {
	s := openMem(t, vfs.NewMem())
	defer s.Close()
	err := s.Do(func(b *Batch) error {
		for _, name := range []string{"a", "ab"} {
			if err := b.PutConsumerMeta(7, name, []byte("meta-"+name)); err != nil {
				return err
			}
			if err := b.PutConsumerState(7, name, []byte("state-"+name)); err != nil {
				return err
			}
			for seq := uint64(1); seq <= 3; seq++ {
				if err := b.PutPending(7, name, Pending{Seq: seq, DSeq: seq + 10, Count: seq, TS: int64(seq) * 100, Due: int64(seq) * 1000}); err != nil {
					return err
				}
			}
		}
		// A record from before Due was stored: 24 bytes, read with Due 0.
		var v [24]byte
		v[7], v[15], v[23] = 14, 4, 200
		if err := b.b.Set(pendingKey(nil, 7, "a", 4), seal(nil, v[:]), nil); err != nil {
			return err
		}
		// Another stream's consumer must not show up under stream 7.
		return b.PutConsumerMeta(8, "a", []byte("other"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Do(func(b *Batch) error { return b.DeletePending(7, "a", 2) }); err != nil {
		t.Fatal(err)
	}
	got, err := s.Reader().Consumers(7)
	if err != nil || len(got) != 2 {
		t.Fatalf("%d consumers, %v", len(got), err)
	}
	a := got[0]
	if a.Name != "a" || string(a.Meta) != "meta-a" || string(a.State) != "state-a" ||
		!reflect.DeepEqual(a.Pending, []Pending{{1, 11, 1, 100, 1000}, {3, 13, 3, 300, 3000}, {4, 14, 4, 200, 0}}) {
		t.Fatalf("a: %+v", a)
	}
	if got[1].Name != "ab" || len(got[1].Pending) != 3 {
		t.Fatalf("ab: %+v", got[1])
	}
	// Dropping "a" leaves "ab" alone; DeleteAllPending empties the set.
	if err := s.Do(func(b *Batch) error {
		if err := b.DropConsumer(7, "a"); err != nil {
			return err
		}
		return b.DeleteAllPending(7, "ab")
	}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Reader().Consumers(7)
	if len(got) != 1 || got[0].Name != "ab" || len(got[0].Pending) != 0 || string(got[0].Meta) != "meta-ab" {
		t.Fatalf("after drop: %+v", got)
	}
	// DropStream takes the consumers with it.
	if err := s.Do(func(b *Batch) error { return b.DropStream("x", 7) }); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.Reader().Consumers(7); len(got) != 0 {
		t.Fatalf("after drop stream: %+v", got)
	}
	if got, _ = s.Reader().Consumers(8); len(got) != 1 {
		t.Fatalf("stream 8: %+v", got)
	}
}

func TestMsgsAndCounts(t *testing.T) {
	s := openMem(t, vfs.NewMem())
	defer s.Close()
	err := s.Do(func(b *Batch) error {
		for seq := uint64(1); seq <= 20; seq++ {
			if seq == 5 || seq == 6 || seq == 12 {
				continue // gaps
			}
			if err := b.PutMsg(1, &Msg{Seq: seq, Subject: []byte(fmt.Sprint("s.", seq%2))}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var seen []uint64
	err = s.Reader().Msgs(1, []uint64{2, 3, 4, 5, 6, 7, 12, 13, 19, 25}, func(m *Msg) bool {
		seen = append(seen, m.Seq)
		return true
	})
	if err != nil || fmt.Sprint(seen) != "[2 3 4 7 13 19]" {
		t.Fatalf("Msgs: %v %v", seen, err)
	}
	if n, _ := s.Reader().CountMsgs(1, 4); n != 14 {
		t.Fatalf("CountMsgs %d", n)
	}
	if n, _ := s.Reader().CountSubject(1, "s.0", 10); n != 5 {
		t.Fatalf("CountSubject %d", n)
	}
}

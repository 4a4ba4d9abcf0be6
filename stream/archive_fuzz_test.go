package stream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/wisp-mq/wisp/stream/store"
)

// sampleArchive builds a small archive: msgs messages (every third with a
// header) and one consumer with two pending entries.
func sampleArchive(t testing.TB, msgs int) []byte {
	var buf bytes.Buffer
	aw := newArchiveWriter(&buf)
	h := &archiveHeader{Config: Config{Name: "S", Subjects: []string{"s.>"}}, FirstSeq: 1, LastSeq: uint64(msgs) + 2, Msgs: uint64(msgs)}
	if err := aw.header(h); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= msgs; i++ {
		m := &store.Msg{Seq: uint64(i), Time: int64(i) * 1000, Subject: fmt.Appendf(nil, "s.%d", i), Data: fmt.Appendf(nil, "data %d", i)}
		if i%3 == 0 {
			m.Header = []byte("NATS/1.0\r\nA: b\r\n\r\n")
		}
		if err := aw.msg(m); err != nil {
			t.Fatal(err)
		}
	}
	c := &archiveConsumer{Name: "C", Meta: []byte(`{"created":"2026-01-01T00:00:00Z","config":{"durable_name":"C","name":"C","ack_policy":"explicit"}}`), State: []byte{1, 2, 3}}
	if err := aw.consumer(c, []store.Pending{{Seq: 1, DSeq: 1, Count: 1, TS: 5}, {Seq: 2, DSeq: 2, Count: 2, TS: 6}}); err != nil {
		t.Fatal(err)
	}
	if err := aw.finish(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readArchive reads a whole archive, returning how many messages,
// consumers and pending entries it held.
func readArchive(data []byte) (msgs, cons, pending int, err error) {
	ar := newArchiveReader(bytes.NewReader(data))
	if _, err := ar.header(); err != nil {
		return 0, 0, 0, err
	}
	for {
		it, err := ar.next()
		if err != nil {
			return msgs, cons, pending, err
		}
		switch {
		case it.msg != nil:
			msgs++
		case it.consumer != nil:
			cons++
		case it.pending != nil:
			pending += len(it.pending)
		case it.end != nil:
			return msgs, cons, pending, nil
		}
	}
}

func TestArchiveRoundTrip(t *testing.T) {
	msgs, cons, pending, err := readArchive(sampleArchive(t, 50))
	if err != nil || msgs != 50 || cons != 1 || pending != 2 {
		t.Fatalf("read %d messages, %d consumers, %d pending: %v", msgs, cons, pending, err)
	}
}

// TestArchiveRefusesEveryCut: every prefix of an archive is refused as
// damaged, and so is every single changed byte, unless the change left
// the decompressed contents as they were (s2 encodings have a little
// slack, and the block checksums cover what they decode to).
func TestArchiveRefusesEveryCut(t *testing.T) {
	a := sampleArchive(t, 20)
	for i := range len(a) {
		if _, _, _, err := readArchive(a[:i]); !errors.Is(err, errArchive) {
			t.Fatalf("prefix of %d of %d bytes: %v", i, len(a), err)
		}
		b := bytes.Clone(a)
		b[i] ^= 0x01
		if _, _, _, err := readArchive(b); !errors.Is(err, errArchive) && !sameContents(t, a, b) {
			t.Fatalf("byte %d changed: %v", i, err)
		}
	}
}

func sameContents(t *testing.T, a, b []byte) bool {
	da, err := io.ReadAll(s2.NewReader(bytes.NewReader(a)))
	if err != nil {
		t.Fatal(err)
	}
	db, err := io.ReadAll(s2.NewReader(bytes.NewReader(b)))
	return err == nil && bytes.Equal(da, db)
}

// FuzzArchiveReader: the reader never panics and never accepts an archive
// it did not fully check, whatever the bytes.
func FuzzArchiveReader(f *testing.F) {
	valid := sampleArchive(f, 10)
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(sampleArchive(f, 0))
	f.Add([]byte{})
	f.Add([]byte("WISPARC\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, _, _, err := readArchive(data)
		if err != nil && !errors.Is(err, errArchive) {
			t.Fatalf("error not marked as a damaged archive: %v", err)
		}
		if msgs > len(data) {
			t.Fatalf("%d messages from %d bytes", msgs, len(data))
		}
	})
}

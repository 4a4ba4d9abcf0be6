package stream

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/wisp-mq/wisp/stream/store"
)

// TestArchivePendingDue: an archive (a snapshot a replica installs, or a
// backup) carries each pending entry's redelivery as the consumer held
// it, and still reads the pending records of archives written before,
// which have none.
func TestArchivePendingDue(t *testing.T) {
	var buf bytes.Buffer
	aw := newArchiveWriter(&buf)
	if err := aw.header(&archiveHeader{Config: Config{Name: "S", Subjects: []string{"s"}}, FirstSeq: 1, LastSeq: 9}); err != nil {
		t.Fatal(err)
	}
	meta := []byte(`{"created":"2026-01-01T00:00:00Z","config":{"durable_name":"C","name":"C","ack_policy":"explicit"}}`)
	want := []store.Pending{{Seq: 1, DSeq: 1, Count: 1, TS: 5, Due: 77}, {Seq: 2, DSeq: 2, Count: 2, TS: 6, Due: dueQueued},
		{Seq: 3, DSeq: 3, Count: 3, TS: 7, Due: dueHeld}}
	if err := aw.consumer(&archiveConsumer{Name: "C", Meta: meta}, want); err != nil {
		t.Fatal(err)
	}
	// An older writer's consumer: 'P' records without due.
	if err := aw.consumer(&archiveConsumer{Name: "OLD", Meta: meta}, nil); err != nil {
		t.Fatal(err)
	}
	var old []byte
	for _, v := range []uint64{4, 4, 1, 8} {
		old = binary.BigEndian.AppendUint64(old, v)
	}
	if err := aw.record(recPending, old); err != nil {
		t.Fatal(err)
	}
	if err := aw.finish(); err != nil {
		t.Fatal(err)
	}
	ar := newArchiveReader(bytes.NewReader(buf.Bytes()))
	if _, err := ar.header(); err != nil {
		t.Fatal(err)
	}
	var got [][]store.Pending
	for {
		it, err := ar.next()
		if err != nil {
			t.Fatal(err)
		}
		if it.pending != nil {
			got = append(got, it.pending)
		}
		if it.end != nil {
			break
		}
	}
	if len(got) != 2 || !reflect.DeepEqual(got[0], want) ||
		!reflect.DeepEqual(got[1], []store.Pending{{Seq: 4, DSeq: 4, Count: 1, TS: 8}}) {
		t.Fatalf("read %+v", got)
	}
}

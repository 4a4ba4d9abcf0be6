package stream

import (
	"testing"

	"github.com/wisp-mq/wisp/stream/store"
)

// TestSnapshotHealthCheckRefusesUnreadable: with jsck, a stream holding a
// message that no longer decodes is refused with 10064 before anything
// is sent; without it, the snapshot goes ahead without that message.
func TestSnapshotHealthCheckRefusesUnreadable(t *testing.T) {
	h := newHarness(t)
	h.create(Config{Name: "S", Subjects: []string{"s"}})
	for range 3 {
		h.pub("s", "x")
	}
	id := h.svc.lookup("S").id
	if err := h.svc.file.Do(func(b *store.Batch) error {
		return b.PutRawMsg(id, 2, []byte("not a record"))
	}); err != nil {
		t.Fatal(err)
	}
	var r snapshotResponse
	if e := h.b.api(t, "STREAM.SNAPSHOT.S", map[string]any{"deliver_subject": "d", "jsck": true}, &r); e == nil ||
		e.ErrCode != 10064 || e.Description != "snapshot failed: 1 of 3 messages are unreadable" {
		t.Fatalf("snapshot with jsck answered %+v", e)
	}
	if e := h.b.api(t, "STREAM.SNAPSHOT.S", map[string]any{"deliver_subject": "d"}, &r); e != nil {
		t.Fatalf("snapshot without jsck answered %+v", e)
	}
}

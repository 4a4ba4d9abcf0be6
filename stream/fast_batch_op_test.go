package stream

import (
	"testing"
	"time"

	"github.com/wisp-mq/wisp/stream/store"
)

// TestFastPublishApplyKeepsBatchOrder: the state machine decides, from
// the operations alone, which messages of a fast batch are stored: a
// "gap: fail" batch stops at its first refused message, and every later
// operation of it is refused even though its proposer had queued it; a
// "gap: ok" batch goes on; an unknown batch, or one forgotten after the
// batch timeout without a message, is refused, as is every message once
// allow_batched is off.
func TestFastPublishApplyKeepsBatchOrder(t *testing.T) {
	h, clock := newClockHarness(t)
	h.create(Config{Name: "F", Subjects: []string{"f.>"}, AllowBatched: true})
	s := h.svc.streams["F"]
	apply := func(o opFastPublish) *APIError {
		t.Helper()
		o.Now = clock.Now().UnixNano()
		o.Subject = []byte("f.a")
		var res opResult
		enc := encodeOp(nil, "", &o)
		if err := s.st.Do(func(b *store.Batch) error { return s.apply(b, enc, nil, &res) }); err != nil && res.err == nil {
			t.Fatal(err)
		}
		return res.err
	}
	ok := func(e *APIError) {
		t.Helper()
		if e != nil {
			t.Fatalf("refused: %v", e)
		}
	}
	bad := makeHdr(hdrExpLastSeq, "999")
	ok(apply(opFastPublish{ID: "a", Seq: 1}))
	wantErr(t, apply(opFastPublish{ID: "a", Seq: 2, Header: bad}), 10071)
	wantErr(t, apply(opFastPublish{ID: "a", Seq: 3}), 10208)
	wantErr(t, apply(opFastPublish{ID: "a", Seq: 4, Commit: true}), 10208)
	wantErr(t, apply(opFastPublish{ID: "nobody", Seq: 2}), 10208)

	ok(apply(opFastPublish{ID: "b", Seq: 1}))
	wantErr(t, apply(opFastPublish{ID: "b", Seq: 3}), 10208) // a gap in "gap: fail" mode

	ok(apply(opFastPublish{ID: "c", Seq: 1, GapOK: true}))
	wantErr(t, apply(opFastPublish{ID: "c", Seq: 2, GapOK: true, Header: bad}), 10071)
	ok(apply(opFastPublish{ID: "c", Seq: 4, GapOK: true, Commit: true}))
	wantErr(t, apply(opFastPublish{ID: "c", Seq: 5, GapOK: true}), 10208) // committed

	ok(apply(opFastPublish{ID: "d", Seq: 1}))
	clock.Advance(11 * time.Second)
	ok(apply(opFastPublish{ID: "e", Seq: 1})) // forgets d, idle past the timeout
	wantErr(t, apply(opFastPublish{ID: "d", Seq: 2}), 10208)
	wantState(t, h.info("F"), 6, 1, 6) // a1 b1 c1 c4 d1 e1

	cfg := h.info("F").Config
	cfg.AllowBatched = false
	var r streamInfoResponse
	if e := h.b.api(t, "STREAM.UPDATE.F", cfg, &r); e != nil {
		t.Fatal(e)
	}
	wantErr(t, apply(opFastPublish{ID: "e", Seq: 2}), 10205)
}

package stream

import (
	"testing"

	"github.com/wisp-mq/wisp/stream/store"
)

// TestConsumerCorruptStateRecovers: a consumer whose state record does not
// decode comes back positioned by its deliver policy (redelivering rather
// than losing), and one whose definition does not decode is skipped while
// the others load.
func TestConsumerCorruptStateRecovers(t *testing.T) {
	h := newHarness(t)
	h.create(Config{Name: "C", Subjects: []string{"c"}})
	for i := 0; i < 3; i++ {
		h.pub("c", "x")
	}
	for _, name := range []string{"A", "B", "OK"} {
		var r consumerInfoResponse
		if e := h.b.api(t, "CONSUMER.CREATE.C."+name, map[string]any{"config": map[string]any{"durable_name": name, "ack_policy": "explicit", "deliver_policy": "new"}}, &r); e != nil {
			t.Fatal(e)
		}
	}
	s := h.svc.lookup("C")
	if err := h.svc.file.Do(func(b *store.Batch) error {
		if err := b.PutConsumerState(s.id, "A", []byte("torn")); err != nil {
			return err
		}
		return b.PutConsumerMeta(s.id, "B", []byte("{not json"))
	}); err != nil {
		t.Fatal(err)
	}
	h.restart()
	var a consumerInfoResponse
	if e := h.b.api(t, "CONSUMER.INFO.C.A", nil, &a); e != nil {
		t.Fatal(e)
	}
	if a.Delivered.Stream != 3 || a.NumPending != 0 {
		t.Fatalf("A after restart %+v", a.ConsumerInfo)
	}
	wantErr(t, h.b.api(t, "CONSUMER.INFO.C.B", nil, nil), 10014)
	if e := h.b.api(t, "CONSUMER.INFO.C.OK", nil, nil); e != nil {
		t.Fatal(e)
	}
	if si := h.info("C"); si.State.Consumers != 2 {
		t.Fatalf("consumer count %d", si.State.Consumers)
	}
}

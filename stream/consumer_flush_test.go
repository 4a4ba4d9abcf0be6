package stream

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"
)

// pullN pulls n messages of consumer cons on stream S through the broker
// and returns their ack reply subjects, in order.
func pullN(t *testing.T, h *harness, cons string, n int) []string {
	t.Helper()
	var mu sync.Mutex
	var acks []string
	got := make(chan struct{}, n)
	inbox := "_INBOX.pull." + cons
	cancel, _ := h.b.Subscribe(inbox, "", func(_, reply, _, _ []byte) {
		if len(reply) == 0 {
			return // a status message
		}
		mu.Lock()
		acks = append(acks, string(reply))
		mu.Unlock()
		got <- struct{}{}
	})
	defer cancel()
	req, _ := json.Marshal(map[string]any{"batch": n, "expires": int64(5 * time.Second)})
	_ = h.b.Publish("$JS.API.CONSUMER.MSG.NEXT.S."+cons, inbox, nil, req)
	for i := 0; i < n; i++ {
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatalf("pulled %d of %d", i, n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return append([]string(nil), acks...)
}

// storedPending reads the consumer's committed pending records.
func storedPending(t *testing.T, h *harness, cons string) (pending []uint64, state []byte) {
	t.Helper()
	s := h.svc.lookup("S")
	all, err := h.svc.file.Reader().Consumers(s.id)
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range all {
		if sc.Name == cons {
			for _, p := range sc.Pending {
				pending = append(pending, p.Seq)
			}
			return pending, sc.State
		}
	}
	t.Fatalf("consumer %s not stored", cons)
	return nil, nil
}

func makeConsumer(t *testing.T, h *harness, name string) *consumer {
	t.Helper()
	if e := h.b.api(t, "CONSUMER.CREATE.S."+name, map[string]any{"config": map[string]any{
		"durable_name": name, "ack_policy": "explicit", "ack_wait": int64(time.Hour)}}, nil); e != nil {
		t.Fatal(e)
	}
	return h.svc.lookup("S").cons.byName[name]
}

// TestConsumerFlushGathers: consumer state changes wait for the flush
// delay; a delivery acked within it leaves nothing to write; a DoubleAck
// writes everything gathered at once and answers after the commit.
func TestConsumerFlushGathers(t *testing.T) {
	h := newHarnessWith(t, Options{ConsumerFlushDelay: time.Hour})
	h.create(Config{Name: "S", Subjects: []string{"s"}})
	for i := 0; i < 10; i++ {
		h.pub("s", fmt.Sprint(i))
	}
	c := makeConsumer(t, h, "C")
	_, state0 := storedPending(t, h, "C")
	acks := pullN(t, h, "C", 10)
	for _, a := range acks[:5] {
		_ = h.b.Publish(a, "", nil, []byte("+ACK"))
	}
	c.mu.Lock()
	dirty, armed := len(c.dirty), c.flushArmed
	c.mu.Unlock()
	if dirty != 5 || !armed {
		t.Fatalf("%d dirty entries (want the 5 unacked), flush armed %v", dirty, armed)
	}
	if p, st := storedPending(t, h, "C"); len(p) != 0 || string(st) != string(state0) {
		t.Fatalf("written before the flush delay: pending %v", p)
	}
	// A DoubleAck does not wait for the delay.
	if r := h.b.request(t, acks[5], nil, []byte("+ACK")); len(r.data) != 0 {
		t.Fatalf("double ack reply %q", r.data)
	}
	p, st := storedPending(t, h, "C")
	if fmt.Sprint(p) != "[7 8 9 10]" || string(st) == string(state0) {
		t.Fatalf("after a DoubleAck: pending %v, state changed %v", p, string(st) != string(state0))
	}
}

// TestConsumerFlushTimer: a plain ack is written within the flush delay,
// with nothing else happening.
func TestConsumerFlushTimer(t *testing.T) {
	h := newHarnessWith(t, Options{ConsumerFlushDelay: 30 * time.Millisecond})
	h.create(Config{Name: "S", Subjects: []string{"s"}})
	for i := 0; i < 3; i++ {
		h.pub("s", fmt.Sprint(i))
	}
	makeConsumer(t, h, "C")
	acks := pullN(t, h, "C", 3)
	waitFor(t, func() bool { p, _ := storedPending(t, h, "C"); return len(p) == 3 })
	_ = h.b.Publish(acks[1], "", nil, []byte("+ACK"))
	waitFor(t, func() bool { p, _ := storedPending(t, h, "C"); return fmt.Sprint(p) == "[1 3]" })
}

package stream_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// fetchSeqs fetches until want messages came (or 5s passed), acking each
// when ack is set, and returns their stream sequences and delivery
// counts.
func fetchSeqs(t *testing.T, c jetstream.Consumer, want int, ack bool) (seqs, counts []uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(seqs) < want && time.Now().Before(deadline) {
		for _, m := range fetchAll(t, c, want-len(seqs), time.Second) {
			md := meta(t, m)
			seqs = append(seqs, md.Sequence.Stream)
			counts = append(counts, md.NumDelivered)
			if ack {
				m.Ack()
			}
		}
	}
	return seqs, counts
}

func wantSeqs(t *testing.T, got []uint64, from, to uint64) {
	t.Helper()
	if len(got) != int(to-from+1) {
		t.Fatalf("got %v, want %d..%d", got, from, to)
	}
	for i, s := range got {
		if s != from+uint64(i) {
			t.Fatalf("got %v, want %d..%d", got, from, to)
		}
	}
}

// TestE2EResetConsumer: a reset without a sequence delivers again from the
// ack floor + 1, with fresh delivery counts and consumer sequences; a reset
// to a sequence moves the consumer there, forwards or back; the new state
// is on disk when the reply comes.
func TestE2EResetConsumer(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	c := ctx(t)
	s := mkStream(t, n, jetstream.StreamConfig{Name: "RS", Subjects: []string{"rs.*"}}, 10)
	cons := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "D"})
	got := fetchAll(t, cons, 5, time.Second)
	if len(got) != 5 {
		t.Fatalf("fetched %d", len(got))
	}
	for _, m := range got[:2] {
		if err := m.DoubleAck(c); err != nil {
			t.Fatal(err)
		}
	}
	got[3].Nak() // 4 waits for redelivery; 3 and 5 stay pending
	waitFor(t, func() bool { ci := info(t, cons); return ci.AckFloor.Stream == 2 && ci.NumAckPending == 3 })

	r, err := n.js.ResetConsumer(c, "RS", "D")
	if err != nil {
		t.Fatal(err)
	}
	if r.ResetSeq != 3 || r.ConsumerInfo == nil || r.Name != "D" || r.NumAckPending != 0 || r.NumRedelivered != 0 ||
		r.AckFloor.Stream != 2 || r.AckFloor.Consumer != 0 || r.Delivered.Stream != 2 || r.Delivered.Consumer != 0 ||
		r.NumPending != 8 {
		t.Fatalf("reset reply seq %d info %+v", r.ResetSeq, r.ConsumerInfo)
	}
	seqs, counts := fetchSeqs(t, cons, 8, false)
	wantSeqs(t, seqs, 3, 10)
	for i, n := range counts {
		if n != 1 {
			t.Fatalf("delivery %d of %d counted %d after reset", i, seqs[i], n)
		}
	}
	if ci := info(t, cons); ci.Delivered.Consumer != 8 || ci.NumAckPending != 8 {
		t.Fatalf("after redelivery %+v", ci)
	}
	time.Sleep(200 * time.Millisecond) // let the gathered flush write the 8 pending records

	// Forwards past pending messages, then a restart: the pending records
	// are gone from disk, the position is kept.
	r, err = n.js.ResetConsumerToSequence(c, "RS", "D", 7)
	if err != nil {
		t.Fatal(err)
	}
	if r.ResetSeq != 7 || r.AckFloor.Stream != 6 || r.NumAckPending != 0 || r.NumPending != 4 {
		t.Fatalf("reset to 7: seq %d info %+v", r.ResetSeq, r.ConsumerInfo)
	}
	n.stop()
	n = startNode(t, dir)
	cons, err = n.js.Consumer(ctx(t), "RS", "D")
	if err != nil {
		t.Fatal(err)
	}
	if ci := info(t, cons); ci.AckFloor.Stream != 6 || ci.NumAckPending != 0 || ci.Delivered.Consumer != 0 || ci.NumPending != 4 {
		t.Fatalf("after restart %+v", ci)
	}
	seqs, counts = fetchSeqs(t, cons, 4, true)
	wantSeqs(t, seqs, 7, 10)
	if counts[0] != 1 {
		t.Fatalf("delivery counts after restart %v", counts)
	}

	// Backwards, below everything acknowledged.
	if r, err = n.js.ResetConsumerToSequence(ctx(t), "RS", "D", 1); err != nil || r.ResetSeq != 1 || r.NumPending != 10 {
		t.Fatalf("reset to 1: %v %+v", err, r)
	}
	seqs, _ = fetchSeqs(t, cons, 10, true)
	wantSeqs(t, seqs, 1, 10)
	waitFor(t, func() bool { ci := info(t, cons); return ci.NumAckPending == 0 && ci.AckFloor.Stream == 10 })
}

// TestE2EResetInvalidSequence: a reset to a sequence the deliver policy
// does not allow is ErrConsumerInvalidReset (10204); a reset without one
// is always allowed.
func TestE2EResetInvalidSequence(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := ctx(t)
	s := mkStream(t, n, jetstream.StreamConfig{Name: "RI", Subjects: []string{"ri"}}, 3)
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	time.Sleep(50 * time.Millisecond)
	for i := 0; i < 3; i++ {
		if _, err := n.js.Publish(c, "ri", []byte("late")); err != nil {
			t.Fatal(err)
		}
	}
	pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "BYSEQ", DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: 3})
	pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "BYTIME", DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start})
	pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "NEW", DeliverPolicy: jetstream.DeliverNewPolicy})
	pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "ALL"})

	for _, tc := range []struct {
		consumer string
		seq      uint64
		ok       bool
	}{
		{"BYSEQ", 2, false}, {"BYSEQ", 3, true}, {"BYSEQ", 6, true},
		{"BYTIME", 3, false}, {"BYTIME", 4, true},
		{"NEW", 2, false},
		{"ALL", 5, true}, {"ALL", 100, true},
	} {
		r, err := n.js.ResetConsumerToSequence(c, "RI", tc.consumer, tc.seq)
		switch {
		case tc.ok && (err != nil || r.ResetSeq != tc.seq):
			t.Fatalf("%s to %d: %v", tc.consumer, tc.seq, err)
		case !tc.ok && !errors.Is(err, jetstream.ErrConsumerInvalidReset):
			t.Fatalf("%s to %d: want ErrConsumerInvalidReset, got %v", tc.consumer, tc.seq, err)
		}
	}
	if r, err := n.js.ResetConsumer(c, "RI", "NEW"); err != nil || r.ResetSeq != 7 {
		t.Fatalf("NEW without a sequence: %v %+v", err, r)
	}
	if _, err := n.js.ResetConsumer(c, "RI", "NOPE"); apiErrCode(err) != 10014 {
		t.Fatalf("unknown consumer: %v", err)
	}
	if _, err := n.js.ResetConsumer(c, "NOSTREAM", "D"); apiErrCode(err) != 10059 {
		t.Fatalf("unknown stream: %v", err)
	}
}

// TestE2EResetInterestStream: on an interest stream, messages a reset
// skips forwards that no consumer holds any more are removed.
func TestE2EResetInterestStream(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := ctx(t)
	s, err := n.js.CreateStream(c, jetstream.StreamConfig{Name: "RIS", Subjects: []string{"ris"}, Retention: jetstream.InterestPolicy})
	if err != nil {
		t.Fatal(err)
	}
	cons := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "D"})
	for i := 0; i < 5; i++ {
		if _, err := n.js.Publish(c, "ris", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if got := fetchAll(t, cons, 2, time.Second); len(got) != 2 {
		t.Fatalf("fetched %d", len(got))
	}
	if _, err := n.js.ResetConsumerToSequence(c, "RIS", "D", 4); err != nil {
		t.Fatal(err)
	}
	si, err := s.Info(c)
	if err != nil {
		t.Fatal(err)
	}
	if si.State.Msgs != 2 || si.State.FirstSeq != 4 {
		t.Fatalf("after reset %+v", si.State)
	}
	seqs, _ := fetchSeqs(t, cons, 2, true)
	wantSeqs(t, seqs, 4, 5)
}

package stream_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/wisp-mq/wisp/stream"
)

func seqs(t *testing.T, msgs []jetstream.Msg) []uint64 {
	var out []uint64
	for _, m := range msgs {
		out = append(out, meta(t, m).Sequence.Stream)
	}
	return out
}

func TestE2EDeliverPoliciesAndFilters(t *testing.T) {
	n := startNode(t, t.TempDir())
	// seq: 1 a.0, 2 a.1, 3 a.2, 4 a.0, ... 9 a.2
	s := mkStream(t, n, jetstream.StreamConfig{Name: "DP", Subjects: []string{"a.*"}}, 9)
	mid := time.Now()
	time.Sleep(10 * time.Millisecond)
	for i := 9; i < 12; i++ {
		n.js.Publish(ctx(t), fmt.Sprintf("a.%d", i%3), nil)
	}
	start := mid
	cases := []struct {
		name string
		cfg  jetstream.ConsumerConfig
		want []uint64
		pend uint64
	}{
		{"all", jetstream.ConsumerConfig{}, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 12},
		{"last", jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverLastPolicy}, []uint64{12}, 1},
		{"new", jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy}, nil, 0},
		{"by seq", jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: 8}, []uint64{8, 9, 10, 11, 12}, 5},
		{"by time", jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start}, []uint64{10, 11, 12}, 3},
		{"last per subject", jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy, FilterSubject: "a.*"}, []uint64{10, 11, 12}, 3},
		{"filter", jetstream.ConsumerConfig{FilterSubject: "a.1"}, []uint64{2, 5, 8, 11}, 4},
		{"filters", jetstream.ConsumerConfig{FilterSubjects: []string{"a.0", "a.2"}}, []uint64{1, 3, 4, 6, 7, 9, 10, 12}, 8},
		{"last filtered", jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverLastPolicy, FilterSubject: "a.0"}, []uint64{10}, 1},
		{"by seq filtered", jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: 6, FilterSubject: "a.*"}, []uint64{6, 7, 8, 9, 10, 11, 12}, 7},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Durable = fmt.Sprint("C", i)
			c := pullConsumer(t, s, tc.cfg)
			if ci := info(t, c); ci.NumPending != tc.pend {
				t.Fatalf("num_pending %d want %d", ci.NumPending, tc.pend)
			}
			got := seqs(t, fetchAll(t, c, 20, 200*time.Millisecond))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v want %v", got, tc.want)
			}
			if ci := info(t, c); ci.NumPending != 0 || ci.NumAckPending != len(tc.want) {
				t.Fatalf("after: %+v", ci)
			}
		})
	}
	// A new message on a filtered subject counts and arrives.
	c := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "NEWF", DeliverPolicy: jetstream.DeliverNewPolicy, FilterSubject: "a.2"})
	n.js.Publish(ctx(t), "a.1", nil)
	n.js.Publish(ctx(t), "a.2", nil)
	if ci := info(t, c); ci.NumPending != 1 {
		t.Fatalf("pending %d", ci.NumPending)
	}
	if got := seqs(t, fetchAll(t, c, 5, 200*time.Millisecond)); fmt.Sprint(got) != "[14]" {
		t.Fatalf("new filtered %v", got)
	}
}

func TestE2EHeadersOnly(t *testing.T) {
	n := startNode(t, t.TempDir())
	s, _ := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "HO", Subjects: []string{"h"}})
	m := nats.NewMsg("h")
	m.Header.Set("X-Key", "v")
	m.Data = []byte("hello world")
	if _, err := n.js.PublishMsg(ctx(t), m); err != nil {
		t.Fatal(err)
	}
	c := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "D", HeadersOnly: true})
	got := fetchAll(t, c, 1, time.Second)
	if len(got) != 1 || len(got[0].Data()) != 0 || got[0].Headers().Get("X-Key") != "v" || got[0].Headers().Get("Nats-Msg-Size") != "11" {
		t.Fatalf("headers only: %v %q", got[0].Headers(), got[0].Data())
	}
}

func TestE2EWorkQueueAndInterest(t *testing.T) {
	n := startNode(t, t.TempDir())
	wq := mkStream(t, n, jetstream.StreamConfig{Name: "WQ", Subjects: []string{"wq.*"}, Retention: jetstream.WorkQueuePolicy}, 6)
	c := pullConsumer(t, wq, jetstream.ConsumerConfig{Durable: "W", FilterSubject: "wq.*"})
	if _, err := wq.CreateOrUpdateConsumer(ctx(t), jetstream.ConsumerConfig{Durable: "W2", FilterSubject: "wq.1"}); apiErrCode(err) != 10100 {
		t.Fatalf("overlapping wq consumer: %v", err)
	}
	if _, err := wq.CreateOrUpdateConsumer(ctx(t), jetstream.ConsumerConfig{Durable: "W3", AckPolicy: jetstream.AckNonePolicy, FilterSubject: "wq.9"}); apiErrCode(err) != 10098 {
		t.Fatalf("ack none on wq: %v", err)
	}
	got := fetchAll(t, c, 4, time.Second)
	for _, m := range got[:3] {
		m.DoubleAck(ctx(t))
	}
	si, _ := wq.Info(ctx(t))
	if si.State.Msgs != 3 || si.State.FirstSeq != 4 || si.State.Consumers != 1 {
		t.Fatalf("workqueue state %+v", si.State)
	}

	in := mkStream(t, n, jetstream.StreamConfig{Name: "IN", Subjects: []string{"in.>"}, Retention: jetstream.InterestPolicy}, 0)
	a := pullConsumer(t, in, jetstream.ConsumerConfig{Durable: "A", FilterSubject: "in.*"})
	b := pullConsumer(t, in, jetstream.ConsumerConfig{Durable: "B", FilterSubject: "in.x"})
	n.js.Publish(ctx(t), "in.z.z", nil) // nobody wants it: not kept (seq 1)
	n.js.Publish(ctx(t), "in.x", nil)   // both want it
	n.js.Publish(ctx(t), "in.y", nil)   // only A
	ga := fetchAll(t, a, 2, time.Second)
	for _, m := range ga {
		m.DoubleAck(ctx(t))
	}
	si, _ = in.Info(ctx(t))
	if si.State.Msgs != 1 || si.State.FirstSeq != 2 || si.State.LastSeq != 3 {
		t.Fatalf("interest after A acked: %+v", si.State)
	}
	gb := fetchAll(t, b, 1, time.Second)
	gb[0].DoubleAck(ctx(t))
	si, _ = in.Info(ctx(t))
	if si.State.Msgs != 0 {
		t.Fatalf("interest after both acked: %+v", si.State)
	}
	// Deleting a consumer lets go of what only it held.
	n.js.Publish(ctx(t), "in.x", nil)
	fetchAll(t, a, 1, time.Second)[0].DoubleAck(ctx(t))
	if si, _ = in.Info(ctx(t)); si.State.Msgs != 1 {
		t.Fatalf("held by B: %+v", si.State)
	}
	in.DeleteConsumer(ctx(t), "B")
	if si, _ = in.Info(ctx(t)); si.State.Msgs != 0 {
		t.Fatalf("after deleting B: %+v", si.State)
	}
}

func TestE2EConsumerAPIErrors(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "E", Subjects: []string{"e.>"}}, 1)
	c := ctx(t)
	bad := []struct {
		name string
		cfg  jetstream.ConsumerConfig
		code jetstream.ErrorCode
	}{
		{"lps without filter", jetstream.ConsumerConfig{Durable: "X", DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy}, 10094},
		{"by seq without seq", jetstream.ConsumerConfig{Durable: "X", DeliverPolicy: jetstream.DeliverByStartSequencePolicy}, 10094},
		{"filter outside stream", jetstream.ConsumerConfig{Durable: "X", FilterSubject: "zzz"}, 10093},
		{"overlapping filters", jetstream.ConsumerConfig{Durable: "X", FilterSubjects: []string{"e.a", "e.*"}}, 10138},
		{"backoff vs max deliver", jetstream.ConsumerConfig{Durable: "X", MaxDeliver: 1, BackOff: []time.Duration{time.Second}}, 10116},
		{"max ack pending with ack none", jetstream.ConsumerConfig{Durable: "X", AckPolicy: jetstream.AckNonePolicy, MaxAckPending: 3}, 10082},
	}
	for _, b := range bad {
		if _, err := s.CreateOrUpdateConsumer(c, b.cfg); apiErrCode(err) != b.code {
			t.Errorf("%s: %v, want %d", b.name, err, b.code)
		}
	}
	if _, err := s.CreateConsumer(c, jetstream.ConsumerConfig{Durable: "D"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateConsumer(c, jetstream.ConsumerConfig{Durable: "D"}); err != nil {
		t.Fatalf("identical create: %v", err)
	}
	if _, err := s.CreateConsumer(c, jetstream.ConsumerConfig{Durable: "D", Description: "other"}); !errors.Is(err, jetstream.ErrConsumerExists) {
		t.Fatalf("conflicting create: %v", err)
	}
	if _, err := s.UpdateConsumer(c, jetstream.ConsumerConfig{Durable: "NOPE"}); !errors.Is(err, jetstream.ErrConsumerDoesNotExist) {
		t.Fatalf("update missing: %v", err)
	}
	up, err := s.UpdateConsumer(c, jetstream.ConsumerConfig{Durable: "D", Description: "updated", MaxAckPending: 5})
	if err != nil || up.CachedInfo().Config.Description != "updated" || up.CachedInfo().Config.MaxAckPending != 5 {
		t.Fatalf("update: %v", err)
	}
	if _, err := s.UpdateConsumer(c, jetstream.ConsumerConfig{Durable: "D", DeliverPolicy: jetstream.DeliverNewPolicy}); apiErrCode(err) != 10012 {
		t.Fatalf("update deliver policy: %v", err)
	}
	if _, err := s.Consumer(c, "NOPE"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("info missing: %v", err)
	}
	if err := s.DeleteConsumer(c, "NOPE"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("delete missing: %v", err)
	}
	if _, err := n.js.CreateOrUpdateConsumer(c, "NOSTREAM", jetstream.ConsumerConfig{Durable: "D"}); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("missing stream: %v", err)
	}
	// Consumer counts in stream and account info.
	si, _ := s.Info(c)
	ai, _ := n.js.AccountInfo(c)
	if si.State.Consumers != 1 || ai.Consumers != 1 {
		t.Fatalf("counts %d %d", si.State.Consumers, ai.Consumers)
	}
	// Deleting the stream deletes its consumers.
	n.js.DeleteStream(c, "E")
	mkStream(t, n, jetstream.StreamConfig{Name: "E", Subjects: []string{"e.>"}}, 0)
	if _, err := n.js.Consumer(c, "E", "D"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("consumer outlived its stream: %v", err)
	}
}

func TestE2EPullLimitsAndDelete(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "L", Subjects: []string{"l"}}, 0)
	c := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "D", MaxWaiting: 1})
	// One request waits; a second is refused with 409.
	b1, _ := c.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
	waitFor(t, func() bool { return info(t, c).NumWaiting == 1 })
	b2, _ := c.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
	for range b2.Messages() {
	}
	if b2.Error() == nil {
		t.Fatal("second waiting request was not refused")
	}
	// Deleting the consumer ends the waiting request with 409 Consumer Deleted.
	s.DeleteConsumer(ctx(t), "D")
	for range b1.Messages() {
	}
	if !errors.Is(b1.Error(), jetstream.ErrConsumerDeleted) {
		t.Fatalf("waiting request after delete: %v", b1.Error())
	}
	// max_bytes: a message bigger than the request ends it without error.
	n.js.Publish(ctx(t), "l", make([]byte, 2000))
	c = pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "B"})
	bb, err := c.FetchBytes(100, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	cnt := 0
	for range bb.Messages() {
		cnt++
	}
	if cnt != 0 || bb.Error() != nil {
		t.Fatalf("fetch bytes: %d %v", cnt, bb.Error())
	}
	bb, _ = c.FetchBytes(5000, jetstream.FetchMaxWait(time.Second))
	for range bb.Messages() {
		cnt++
	}
	if cnt != 1 {
		t.Fatalf("fetch bytes big: %d %v", cnt, bb.Error())
	}
}

func TestE2EEphemeralInactive(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "EPH", Subjects: []string{"eph"}}, 1)
	c, err := s.CreateOrUpdateConsumer(ctx(t), jetstream.ConsumerConfig{InactiveThreshold: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	name := c.CachedInfo().Name
	if len(name) == 0 || c.CachedInfo().Config.Durable != "" {
		t.Fatalf("ephemeral %+v", c.CachedInfo())
	}
	waitFor(t, func() bool {
		_, err := s.Consumer(ctx(t), name)
		return errors.Is(err, jetstream.ErrConsumerNotFound)
	})
	if si, _ := s.Info(ctx(t)); si.State.Consumers != 0 {
		t.Fatalf("consumer count %d", si.State.Consumers)
	}
}

func TestE2EReplayOriginal(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "RO", Subjects: []string{"ro"}}, 1)
	time.Sleep(400 * time.Millisecond)
	n.js.Publish(ctx(t), "ro", nil)
	c := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "D", ReplayPolicy: jetstream.ReplayOriginalPolicy})
	start := time.Now()
	got := fetchAll(t, c, 2, 2*time.Second)
	if len(got) != 2 {
		t.Fatalf("got %d", len(got))
	}
	if el := time.Since(start); el < 350*time.Millisecond {
		t.Fatalf("replayed in %v, stored 400ms apart", el)
	}
}

func TestE2EPurgeMovesConsumers(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "PU", Subjects: []string{"pu"}}, 5)
	c := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "D"})
	if got := fetchAll(t, c, 2, time.Second); len(got) != 2 {
		t.Fatalf("got %d", len(got))
	}
	if err := s.Purge(ctx(t)); err != nil {
		t.Fatal(err)
	}
	ci := info(t, c)
	if ci.NumAckPending != 0 || ci.NumPending != 0 || ci.AckFloor.Stream != 5 {
		t.Fatalf("after purge %+v", ci)
	}
	n.js.Publish(ctx(t), "pu", nil)
	if got := seqs(t, fetchAll(t, c, 5, 300*time.Millisecond)); fmt.Sprint(got) != "[6]" {
		t.Fatalf("after purge got %v", got)
	}
}

func TestE2ELastPerSubjectAckFloor(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "LF", Subjects: []string{"lf.*"}}, 9) // last: 7 lf.0, 8 lf.1, 9 lf.2
	c := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "D", DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy,
		FilterSubject: "lf.*", AckPolicy: jetstream.AckAllPolicy})
	got := fetchAll(t, c, 3, time.Second)
	if fmt.Sprint(seqs(t, got)) != "[7 8 9]" {
		t.Fatalf("got %v", seqs(t, got))
	}
	if ci := info(t, c); ci.AckFloor.Stream != 6 || ci.NumAckPending != 3 {
		t.Fatalf("before ack %+v", ci)
	}
	got[1].DoubleAck(ctx(t)) // ack all: 7 and 8
	if ci := info(t, c); ci.AckFloor.Stream != 8 || ci.NumAckPending != 1 {
		t.Fatalf("after ack all %+v", ci)
	}
}

// TestE2EPendingMessagesRolledOff: pending messages that limits removed
// are not redelivered; the consumer forgets them and moves on.
func TestE2EPendingMessagesRolledOff(t *testing.T) {
	clock := stream.NewFakeClock(time.Now())
	n := startNodeWith(t, stream.Options{StoreDir: t.TempDir(), Clock: clock})
	s := mkStream(t, n, jetstream.StreamConfig{Name: "RO2", Subjects: []string{"ro"}, MaxMsgs: 5}, 5)
	c := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "D", AckWait: 300 * time.Millisecond})
	if got := fetchAll(t, c, 5, time.Second); len(got) != 5 {
		t.Fatalf("got %d", len(got))
	}
	for i := 0; i < 5; i++ {
		n.js.Publish(ctx(t), "ro", nil)
	}
	clock.Advance(400 * time.Millisecond) // past ack_wait
	got := seqs(t, fetchAll(t, c, 5, time.Second))
	if fmt.Sprint(got) != "[6 7 8 9 10]" {
		t.Fatalf("got %v", got)
	}
	if ci := info(t, c); ci.NumAckPending != 5 || ci.AckFloor.Stream != 5 || ci.NumRedelivered != 0 {
		t.Fatalf("info %+v", ci)
	}
}

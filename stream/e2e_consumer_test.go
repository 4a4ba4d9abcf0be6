package stream_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// mkStream creates a stream with the given subjects and publishes n
// messages round robin over them.
func mkStream(t *testing.T, n *node, cfg jetstream.StreamConfig, msgs int) jetstream.Stream {
	t.Helper()
	s, err := n.js.CreateStream(ctx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < msgs; i++ {
		subj := cfg.Subjects[i%len(cfg.Subjects)]
		subj = strings.NewReplacer("*", fmt.Sprint(i%3), ">", fmt.Sprint(i%3)).Replace(subj)
		if _, err := n.js.Publish(ctx(t), subj, []byte(fmt.Sprint(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// fetchAll fetches up to batch messages, waiting at most wait.
func fetchAll(t *testing.T, c jetstream.Consumer, batch int, wait time.Duration) []jetstream.Msg {
	t.Helper()
	b, err := c.Fetch(batch, jetstream.FetchMaxWait(wait))
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for m := range b.Messages() {
		out = append(out, m)
	}
	if b.Error() != nil {
		t.Fatalf("fetch: %v", b.Error())
	}
	return out
}

func info(t *testing.T, c jetstream.Consumer) *jetstream.ConsumerInfo {
	t.Helper()
	ci, err := c.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return ci
}

func TestE2EPullExplicitAck(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "P", Subjects: []string{"p.a", "p.b"}}, 10)
	c, err := s.CreateOrUpdateConsumer(ctx(t), jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	ci := info(t, c)
	if ci.NumPending != 10 || ci.Delivered.Stream != 0 || ci.Config.AckWait != 30*time.Second || ci.Config.MaxAckPending != 1000 {
		t.Fatalf("fresh info %+v", ci)
	}
	msgs := fetchAll(t, c, 4, time.Second)
	if len(msgs) != 4 {
		t.Fatalf("got %d", len(msgs))
	}
	for i, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		if md.Sequence.Stream != uint64(i+1) || md.Sequence.Consumer != uint64(i+1) || md.NumDelivered != 1 ||
			md.NumPending != uint64(10-i-1) || md.Stream != "P" || md.Consumer != "D" {
			t.Fatalf("meta %d: %+v", i, md)
		}
	}
	ci = info(t, c)
	if ci.NumAckPending != 4 || ci.NumPending != 6 || ci.Delivered.Consumer != 4 || ci.Delivered.Stream != 4 || ci.AckFloor.Stream != 0 {
		t.Fatalf("after fetch %+v", ci)
	}
	// Ack out of order: the floor moves only past contiguous acks.
	if err := msgs[1].Ack(); err != nil {
		t.Fatal(err)
	}
	if err := msgs[0].DoubleAck(ctx(t)); err != nil {
		t.Fatal(err)
	}
	ci = info(t, c)
	if ci.NumAckPending != 2 || ci.AckFloor.Stream != 2 || ci.AckFloor.Consumer != 2 {
		t.Fatalf("after acks %+v", ci)
	}
	msgs[2].Ack()
	msgs[3].DoubleAck(ctx(t))
	ci = info(t, c)
	if ci.NumAckPending != 0 || ci.AckFloor.Stream != 4 || ci.AckFloor.Consumer != 4 {
		t.Fatalf("all acked %+v", ci)
	}
	// The rest, then an empty fetch returns at its expiry with no error.
	rest := fetchAll(t, c, 100, 300*time.Millisecond)
	if len(rest) != 6 {
		t.Fatalf("rest %d", len(rest))
	}
	start := time.Now()
	if got := fetchAll(t, c, 5, 300*time.Millisecond); len(got) != 0 || time.Since(start) > 900*time.Millisecond {
		t.Fatalf("empty fetch: %d after %v", len(got), time.Since(start))
	}
	b, err := c.FetchNoWait(5)
	if err != nil {
		t.Fatal(err)
	}
	cnt := 0
	for range b.Messages() {
		cnt++
	}
	if cnt != 0 || b.Error() != nil {
		t.Fatalf("nowait %d %v", cnt, b.Error())
	}
	// Names, list, delete.
	names := s.ConsumerNames(ctx(t))
	var all []string
	for nm := range names.Name() {
		all = append(all, nm)
	}
	if len(all) != 1 || all[0] != "D" {
		t.Fatalf("names %v", all)
	}
	if err := s.DeleteConsumer(ctx(t), "D"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Consumer(ctx(t), "D"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

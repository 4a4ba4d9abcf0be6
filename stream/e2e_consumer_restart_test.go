package stream_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/stream"
)

// consumeHalf publishes 20 messages, fetches 10 on durable D (ack_wait
// 1s), acks 1..5 and leaves 6..10 unacked, NAKs nothing; 8 gets a second
// delivery before the restart.
func consumeHalf(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	c := ctx(t)
	s, err := js.CreateStream(c, jetstream.StreamConfig{Name: "CR", Subjects: []string{"cr.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		if _, err := js.Publish(c, fmt.Sprintf("cr.%d", i%3), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := s.CreateOrUpdateConsumer(c, jetstream.ConsumerConfig{Durable: "D", AckWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got := fetchAll(t, cons, 10, time.Second)
	if len(got) != 10 {
		t.Fatalf("fetched %d", len(got))
	}
	got[7].Nak()
	again := fetchAll(t, cons, 1, time.Second)
	if len(again) != 1 || meta(t, again[0]).Sequence.Stream != 8 {
		t.Fatal("no redelivery of 8")
	}
	for _, m := range got[:5] {
		if err := m.DoubleAck(c); err != nil { // the reply comes after the commit
			t.Fatal(err)
		}
	}
}

// checkResumed checks the state a restart must keep, then that the
// unacked messages come back with their counts and the rest follow.
func checkResumed(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	c := ctx(t)
	cons, err := js.Consumer(c, "CR", "D")
	if err != nil {
		t.Fatal(err)
	}
	ci := info(t, cons)
	if ci.AckFloor.Stream != 5 || ci.AckFloor.Consumer != 5 || ci.NumAckPending != 5 || ci.Delivered.Stream != 10 ||
		ci.Delivered.Consumer != 11 || ci.NumPending != 10 || ci.NumRedelivered != 1 {
		t.Fatalf("after restart %+v", ci)
	}
	seen := map[uint64]uint64{}
	deadline := time.Now().Add(5 * time.Second)
	for len(seen) < 15 && time.Now().Before(deadline) {
		for _, m := range fetchAll(t, cons, 15, 500*time.Millisecond) {
			md := meta(t, m)
			if md.Sequence.Stream <= 5 {
				t.Fatalf("acked message %d redelivered", md.Sequence.Stream)
			}
			// The first delivery after the restart carries the count the
			// restart kept; a later one is a fresh redelivery of a message
			// that reached a fetch after it expired on a loaded machine.
			if _, ok := seen[md.Sequence.Stream]; !ok {
				seen[md.Sequence.Stream] = md.NumDelivered
			}
			m.Ack()
		}
	}
	for seq := uint64(6); seq <= 20; seq++ {
		want := uint64(1)
		switch {
		case seq == 8:
			want = 3
		case seq <= 10:
			want = 2
		}
		if seen[seq] != want {
			t.Fatalf("seq %d delivered count %d, want %d (all %v)", seq, seen[seq], want, seen)
		}
	}
}

func TestE2EConsumerSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	consumeHalf(t, n.js)
	n.stop()
	n = startNode(t, dir)
	checkResumed(t, n.js)
}

// TestE2EConsumerSurvivesPowerLoss drops everything not fsynced, as a
// power cut would: consumer state committed through the group commit is
// there afterwards.
func TestE2EConsumerSurvivesPowerLoss(t *testing.T) {
	fs := vfs.NewStrictMem()
	n := startNodeWith(t, stream.Options{StoreDir: "/data", FS: fs})
	consumeHalf(t, n.js)
	fs.SetIgnoreSyncs(true)
	n.stop()
	fs.ResetToSyncedState()
	fs.SetIgnoreSyncs(false)
	n = startNodeWith(t, stream.Options{StoreDir: "/data", FS: fs})
	checkResumed(t, n.js)
}

// TestProcessConsumerKillAndTerm runs the real binary: a durable consumer
// resumes after SIGKILL and after SIGTERM.
func TestProcessConsumerKillAndTerm(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildWisp()
	if err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			dir, port := t.TempDir(), freePort(t)
			cmd, js, nc := runWisp(t, bin, dir, port)
			consumeHalf(t, js)
			nc.Close()
			cmd.Process.Signal(sig)
			cmd.Wait()
			_, js, _ = runWisp(t, bin, dir, port)
			checkResumed(t, js)
		})
	}
}

// TestE2EConsumerKindsAcrossRestart: a push durable, a filtered durable
// and an ephemeral come back; the ephemeral then times out as it would
// have, and memory-storage consumers do not come back.
func TestE2EConsumerKindsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	c := ctx(t)
	s := mkStream(t, n, jetstream.StreamConfig{Name: "KR", Subjects: []string{"kr.*"}}, 6)
	if _, err := s.CreateOrUpdatePushConsumer(c, jetstream.ConsumerConfig{Durable: "PUSH", DeliverSubject: "d.kr"}); err != nil {
		t.Fatal(err)
	}
	f := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "F", FilterSubject: "kr.1", AckPolicy: jetstream.AckAllPolicy})
	fetchAll(t, f, 1, time.Second)[0].DoubleAck(c)
	eph := pullConsumer(t, s, jetstream.ConsumerConfig{InactiveThreshold: time.Second})
	mem := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "MEM", MemoryStorage: true})
	ephName, memName := eph.CachedInfo().Name, mem.CachedInfo().Name
	n.stop()
	n = startNode(t, dir)
	s, _ = n.js.Stream(c, "KR")
	ps, err := s.PushConsumer(c, "PUSH")
	if err != nil || ps.CachedInfo().Config.DeliverSubject != "d.kr" {
		t.Fatalf("push durable: %v", err)
	}
	fi, err := s.Consumer(c, "F")
	if err != nil {
		t.Fatal(err)
	}
	if ci := info(t, fi); ci.AckFloor.Stream != 2 || ci.NumPending != 1 || ci.Config.AckPolicy != jetstream.AckAllPolicy {
		t.Fatalf("filtered durable %+v", ci)
	}
	if got := seqs(t, fetchAll(t, fi, 5, 300*time.Millisecond)); fmt.Sprint(got) != "[5]" {
		t.Fatalf("filtered after restart %v", got)
	}
	if _, err := s.Consumer(c, ephName); err != nil {
		t.Fatalf("ephemeral gone at once: %v", err)
	}
	if _, err := s.Consumer(c, memName); err == nil {
		t.Fatal("memory consumer came back")
	}
	waitFor(t, func() bool { _, err := s.Consumer(c, ephName); return err != nil })
}

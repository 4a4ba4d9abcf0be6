package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// killLedger is what the clients of TestBinaryReplicatedStreamRepeatedKills
// saw: the publishes the cluster acknowledged (message id -> sequence), the
// stream sequences delivered, and the deliveries whose AckSync the cluster
// confirmed. An AckSync that fails may still have been applied, so a
// delivery is acked "for sure" only when confirmed; every delivery is acked.
type killLedger struct {
	mu        sync.Mutex
	acked     map[int]uint64
	delivered map[uint64]bool
	confirmed map[uint64]bool
	ackErrs   int
	problems  []string
}

func (l *killLedger) numAcked() int { l.mu.Lock(); defer l.mu.Unlock(); return len(l.acked) }

func (l *killLedger) maxAcked() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var m uint64
	for _, seq := range l.acked {
		m = max(m, seq)
	}
	return m
}

func (l *killLedger) problem(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.problems) < 20 {
		l.problems = append(l.problems, fmt.Sprintf(format, args...))
	}
}

// TestBinaryReplicatedStreamRepeatedKills: three wisp processes started with
// nats-server's cluster flags; an R3 stream with a durable pull consumer.
// One client publishes with message ids and another consumes and acks with
// AckSync while the stream's leader is killed with SIGKILL three times and a
// follower once, each victim restarted and caught up before the next kill.
// Then two of three servers stop (one SIGKILL, one SIGTERM) and the lone
// leader must not acknowledge a publish. After the restart: every
// acknowledged publish is at its sequence with its data on every server, no
// delivery whose ack was confirmed is delivered again, and every message in
// the stream is delivered and acked in the end.
func TestBinaryReplicatedStreamRepeatedKills(t *testing.T) {
	bin := buildWisp(t)
	nodes := startBinaryCluster(t, bin, "rk", "RK")
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range nodes {
				out := n.log.String()
				t.Logf("log of %s (last run, tail):\n%s", n.name, out[max(0, len(out)-6000):])
			}
		}
	})
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.url())
	}
	meshed := func() bool {
		for _, n := range nodes {
			if n.numRoutes() != 2 {
				return false
			}
		}
		return true
	}
	waitLong(t, "a full mesh", meshed)
	ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
	defer cancel()
	reconnect := []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond)}
	_, pubJS := jsConnect(t, strings.Join(urls, ","), reconnect...)
	_, subJS := jsConnect(t, strings.Join([]string{urls[2], urls[1], urls[0]}, ","), reconnect...)

	var s jetstream.Stream
	waitLong(t, "the R3 stream created", func() bool {
		c, cc := context.WithTimeout(ctx, 5*time.Second)
		defer cc()
		var err error
		s, err = pubJS.CreateStream(c, jetstream.StreamConfig{Name: "RKILL", Subjects: []string{"rkill.>"}, Replicas: 3, AllowDirect: true})
		return err == nil
	})
	var cons jetstream.Consumer
	waitLong(t, "the durable consumer created", func() bool {
		c, cc := context.WithTimeout(ctx, 5*time.Second)
		defer cc()
		var err error
		cons, err = subJS.CreateOrUpdateConsumer(c, "RKILL", jetstream.ConsumerConfig{
			Durable: "C", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 3 * time.Second, Replicas: 3})
		return err == nil
	})

	l := &killLedger{acked: map[int]uint64{}, delivered: map[uint64]bool{}, confirmed: map[uint64]bool{}}
	stopPub, stopSub := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	// The publisher: one message id per attempt, never retried, so an
	// acknowledgement names exactly one message. The short pause keeps the
	// count small enough to read every message back from every server.
	go func() {
		defer wg.Done()
		seqs := map[uint64]int{}
		for i := 0; i < 20000 && ctx.Err() == nil; i++ {
			select {
			case <-stopPub:
				return
			case <-time.After(5 * time.Millisecond):
			}
			c, cc := context.WithTimeout(ctx, 2*time.Second)
			ack, err := pubJS.Publish(c, fmt.Sprintf("rkill.%d", i), []byte(strconv.Itoa(i)), jetstream.WithMsgID(strconv.Itoa(i)))
			cc()
			if err != nil {
				continue
			}
			if ack.Duplicate {
				l.problem("publish %d, sent once, acknowledged as a duplicate of seq %d", i, ack.Sequence)
			}
			if j, ok := seqs[ack.Sequence]; ok {
				l.problem("publishes %d and %d both acknowledged at seq %d", j, i, ack.Sequence)
			}
			seqs[ack.Sequence] = i
			l.mu.Lock()
			l.acked[i] = ack.Sequence
			l.mu.Unlock()
		}
	}()
	// The consumer: fetch a batch, then AckSync each message. A fetch starts
	// after every earlier AckSync has returned, so a message whose ack was
	// confirmed before the fetch began must not be in it.
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			select {
			case <-stopSub:
				return
			default:
			}
			l.mu.Lock()
			before := len(l.confirmed)
			l.mu.Unlock()
			batch, err := cons.Fetch(100, jetstream.FetchMaxWait(time.Second))
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			var msgs []jetstream.Msg
			for m := range batch.Messages() {
				msgs = append(msgs, m)
			}
			for _, m := range msgs {
				md, err := m.Metadata()
				if err != nil {
					l.problem("delivery without metadata: %v", err)
					continue
				}
				seq := md.Sequence.Stream
				l.mu.Lock()
				again := l.confirmed[seq]
				l.delivered[seq] = true
				l.mu.Unlock()
				if again {
					l.problem("seq %d delivered again (delivery %d) after its AckSync was confirmed (%d confirmed before this fetch)", seq, md.NumDelivered, before)
				}
			}
			for _, m := range msgs {
				md, _ := m.Metadata()
				if md == nil {
					continue
				}
				c, cc := context.WithTimeout(ctx, 2*time.Second)
				err := m.DoubleAck(c)
				cc()
				l.mu.Lock()
				if err == nil {
					l.confirmed[md.Sequence.Stream] = true
				} else {
					l.ackErrs++
				}
				l.mu.Unlock()
			}
		}
	}()
	var pubOnce, subOnce sync.Once
	endPub := func() { pubOnce.Do(func() { close(stopPub) }) }
	endSub := func() { subOnce.Do(func() { close(stopSub) }) }
	defer wg.Wait()
	defer endSub()
	defer endPub()

	byName := func(name string) *clusterNode {
		for _, n := range nodes {
			if n.name == name {
				return n
			}
		}
		return nil
	}
	leaderOf := func() (leader *clusterNode, followers []*clusterNode) {
		waitLong(t, "the stream's leader", func() bool {
			c, cc := context.WithTimeout(ctx, 2*time.Second)
			defer cc()
			info, err := s.Info(c)
			if err != nil || info.Cluster == nil {
				return false
			}
			leader = byName(info.Cluster.Leader)
			return leader != nil
		})
		for _, n := range nodes {
			if n != leader {
				followers = append(followers, n)
			}
		}
		return leader, followers
	}
	// caughtUp: the node's own replica answers a direct get for seq.
	caughtUp := func(n *clusterNode, seq uint64) bool {
		nc, err := nats.Connect(n.url(), nats.NoReconnect())
		if err != nil {
			return false
		}
		defer nc.Close()
		m, err := nc.Request("$JS.API.DIRECT.GET.RKILL", []byte(fmt.Sprintf(`{"seq":%d}`, seq)), 2*time.Second)
		return err == nil && m.Header.Get("Nats-Sequence") == fmt.Sprint(seq)
	}
	progress := func(what string) {
		t.Helper()
		before := l.numAcked()
		waitLong(t, what, func() bool { return l.numAcked() >= before+100 })
	}
	kill := func(n *clusterNode, sig syscall.Signal) {
		t.Helper()
		if err := n.cmd.Process.Signal(sig); err != nil {
			t.Fatalf("signal %s: %v", n.name, err)
		}
		if err := waitExit(n.cmd, 30*time.Second); err != nil && sig == syscall.SIGTERM {
			t.Logf("%s after SIGTERM: %v", n.name, err)
		}
	}
	restart := func(ns ...*clusterNode) {
		t.Helper()
		for _, n := range ns {
			n.start(t, bin)
		}
		waitLong(t, "the full mesh again", meshed)
		want := l.maxAcked()
		for _, n := range ns {
			waitLong(t, n.name+" caught up", func() bool { return caughtUp(n, want) })
		}
	}

	progress("publishes acknowledged")
	var kills []string
	for round := 0; round < 4; round++ {
		leader, followers := leaderOf()
		victim := leader
		if round == 2 {
			victim = followers[0] // one follower among the leader kills
		}
		kills = append(kills, fmt.Sprintf("%s(leader=%v)", victim.name, victim == leader))
		kill(victim, syscall.SIGKILL)
		progress("publishes acknowledged with " + victim.name + " down")
		restart(victim)
		progress("publishes acknowledged with " + victim.name + " back")
	}

	// A majority down: the leader is left alone and must not acknowledge.
	leader, followers := leaderOf()
	kill(followers[0], syscall.SIGKILL)
	kill(followers[1], syscall.SIGTERM)
	func() {
		nc, js := jsConnect(t, leader.url(), nats.NoReconnect())
		defer nc.Close()
		for i := 0; i < 3; i++ {
			c, cc := context.WithTimeout(ctx, 3*time.Second)
			ack, err := js.Publish(c, "rkill.alone", []byte("alone"), jetstream.WithMsgID(fmt.Sprint("alone-", i)))
			cc()
			if err == nil {
				t.Fatalf("publish acknowledged (seq %d) with two of three servers down", ack.Sequence)
			}
		}
	}()
	restart(followers...)
	progress("publishes acknowledged after the majority is back")
	endPub()

	// Every message in the stream delivered and acked: the consumer keeps
	// going until it has been handed every message of the stream and the
	// consumer has nothing pending. The consumer acks every delivery, so a
	// message the server counts as acked but never delivered was skipped.
	var last uint64
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, cc := context.WithTimeout(ctx, 2*time.Second)
		info, err := s.Info(c)
		ci, cerr := cons.Info(c)
		cc()
		if err == nil && cerr == nil {
			last = info.State.LastSeq
			l.mu.Lock()
			all := true
			for seq := info.State.FirstSeq; seq <= last && all; seq++ {
				all = l.delivered[seq]
			}
			l.mu.Unlock()
			if all && ci.NumPending == 0 && ci.NumAckPending == 0 && ci.AckFloor.Stream == last {
				break
			}
		}
		if time.Now().After(deadline) {
			l.mu.Lock()
			for _, p := range l.problems {
				t.Error(p)
			}
			var missing []uint64
			for seq := uint64(1); seq <= last && len(missing) < 20; seq++ {
				if !l.delivered[seq] {
					missing = append(missing, seq)
				}
			}
			l.mu.Unlock()
			t.Fatalf("messages never delivered and acked (stream last seq %d, consumer %+v): %v", last, ci, missing)
		}
		time.Sleep(100 * time.Millisecond)
	}
	endPub()
	endSub()
	wg.Wait()

	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.problems {
		t.Error(p)
	}
	for i, seq := range l.acked {
		if !l.delivered[seq] {
			t.Errorf("acknowledged publish %d (seq %d) never delivered", i, seq)
		}
	}
	// Every acknowledged publish on every server's own replica.
	want := uint64(0)
	for _, seq := range l.acked {
		want = max(want, seq)
	}
	ids := make([]int, 0, len(l.acked))
	for i := range l.acked {
		ids = append(ids, i)
	}
	slices.Sort(ids)
	for _, n := range nodes {
		waitLong(t, n.name+" holds every acknowledged message", func() bool { return caughtUp(n, want) })
		nc, err := nats.Connect(n.url(), nats.NoReconnect())
		if err != nil {
			t.Fatal(err)
		}
		bad := 0
		for _, i := range ids {
			seq := l.acked[i]
			m, err := nc.Request("$JS.API.DIRECT.GET.RKILL", []byte(fmt.Sprintf(`{"seq":%d}`, seq)), 5*time.Second)
			switch {
			case err != nil:
				err = fmt.Errorf("direct get: %w", err)
			case m.Header.Get("Nats-Sequence") != fmt.Sprint(seq):
				err = fmt.Errorf("answered seq %q, status %q", m.Header.Get("Nats-Sequence"), m.Header.Get("Status"))
			case string(m.Data) != strconv.Itoa(i) || m.Header.Get(nats.MsgIdHdr) != strconv.Itoa(i):
				err = fmt.Errorf("holds %q with id %q", m.Data, m.Header.Get(nats.MsgIdHdr))
			}
			if err != nil {
				if bad++; bad <= 10 {
					t.Errorf("%s: acknowledged publish %d at seq %d: %v", n.name, i, seq, err)
				}
			}
		}
		nc.Close()
	}
	if len(l.acked) == 0 {
		t.Fatal("nothing acknowledged")
	}
	t.Logf("%d publishes acknowledged, %d messages delivered, %d acks confirmed (%d AckSync errors), stream last seq %d, kills %v, majority stopped around leader %s",
		len(l.acked), len(l.delivered), len(l.confirmed), l.ackErrs, last, kills, leader.name)
}

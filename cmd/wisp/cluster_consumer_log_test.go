package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/wisp-mq/wisp/stream"
)

// A replicated stream's consumers change only by applying committed log
// entries (stream/consumer_replicated.go). These tests hold the promise
// that follows, through leader changes: an acknowledgement whose AckSync
// was answered is never undone (the message is not delivered again),
// and no message that was not acknowledged is skipped.

// ackLedger is what a test's client knows: which messages it was told
// were acknowledged (their AckSync answered), and which it received.
type ackLedger struct {
	confirmed map[uint64]bool
	seen      map[uint64]bool
}

// fetchAndAck fetches up to n messages from consumer D of stream name
// through js and acknowledges with AckSync those ack selects. A message
// whose acknowledgement was confirmed before the request was made must
// never answer it.
func (l *ackLedger) fetchAndAck(t *testing.T, js jetstream.JetStream, name string, n int, ack func(seq uint64) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, name, "D")
	if err != nil {
		return // no leader yet: asked again later
	}
	before := maps.Clone(l.confirmed)
	batch, err := c.Fetch(n, jetstream.FetchMaxWait(3*time.Second))
	if err != nil {
		return
	}
	for m := range batch.Messages() {
		md, err := m.Metadata()
		if err != nil {
			t.Fatalf("metadata: %v", err)
		}
		seq := md.Sequence.Stream
		if before[seq] {
			t.Fatalf("message %d delivered again (delivery %d) after its acknowledgement was confirmed", seq, md.NumDelivered)
		}
		l.seen[seq] = true
		if ack(seq) {
			actx, acancel := context.WithTimeout(ctx, 5*time.Second)
			if m.DoubleAck(actx) == nil {
				l.confirmed[seq] = true
			}
			acancel()
		}
	}
}

// consumerStepDown asks the leader of stream name's consumer D to hand
// over, through nc, and waits for another leader.
func consumerStepDown(t *testing.T, nodes []*streamNode, nc *nats.Conn, js jetstream.JetStream, name, old string) {
	t.Helper()
	waitLong(t, "the consumer's leader to step down", func() bool {
		if l := streamLeader(nodes, js, name); l != "" && l != old {
			return true
		}
		_, _ = nc.Request(fmt.Sprintf("$JS.API.CONSUMER.LEADER.STEPDOWN.%s.D", name), nil, 5*time.Second)
		time.Sleep(200 * time.Millisecond)
		l := streamLeader(nodes, js, name)
		return l != "" && l != old
	})
}

// TestReplicatedConsumerAckedNeverRedelivered: a durable pull consumer
// on an R3 stream is fetched and partly acknowledged (AckSync) while its
// leader steps down and is killed and restarted, round after round.
// No request made after an acknowledgement was confirmed gets that
// message; in the end every message was delivered and acknowledged, and
// the consumer's state says so.
func TestReplicatedConsumerAckedNeverRedelivered(t *testing.T) {
	nodes := startStreamCluster(t, "ra", 3)
	waitMetaLeader(t, nodes)
	_, js := jsConnect(t, nodes[0].url())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
	defer cancel()
	const name, total = "ACKD", 60
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"ackd.>"}, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	publishAcked(t, js, "ackd", 1, total)
	if _, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "D",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	l := &ackLedger{confirmed: map[uint64]bool{}, seen: map[uint64]bool{}}
	running := func() *streamNode {
		for _, n := range nodes {
			if n.running {
				return n
			}
		}
		return nil
	}
	for round := range 4 {
		nc, rjs := jsConnect(t, running().url())
		// Every other message of what comes is acknowledged.
		l.fetchAndAck(t, rjs, name, 12, func(seq uint64) bool { return seq%2 == 0 })
		var leader string
		waitLong(t, "a stream leader", func() bool { leader = streamLeader(nodes, rjs, name); return leader != "" })
		if round%2 == 0 {
			consumerStepDown(t, nodes, nc, rjs, name, leader)
			continue
		}
		old := nodeNamed(nodes, leader)
		old.stop()
		_, ojs := jsConnect(t, running().url())
		waitLong(t, "a new stream leader", func() bool {
			now := streamLeader(nodes, ojs, name)
			return now != "" && now != leader
		})
		l.fetchAndAck(t, ojs, name, 12, func(seq uint64) bool { return seq%3 == 0 })
		old.start(t)
	}
	_, djs := jsConnect(t, running().url())
	deadline := time.Now().Add(120 * time.Second)
	for len(l.confirmed) < total {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages acknowledged; seen %d", len(l.confirmed), total, len(l.seen))
		}
		l.fetchAndAck(t, djs, name, 20, func(uint64) bool { return true })
	}
	c, err := djs.Consumer(ctx, name, "D")
	if err != nil {
		t.Fatal(err)
	}
	ci := c.CachedInfo()
	if ci.AckFloor.Stream != total || ci.NumAckPending != 0 || ci.NumPending != 0 {
		t.Fatalf("consumer after draining: ack floor %d, ack pending %d, pending %d", ci.AckFloor.Stream, ci.NumAckPending, ci.NumPending)
	}
	// Every replica applied the same entries: a leader that applied its
	// own operations ahead of the log, and again when it replayed the log
	// after its restart, would count deliveries the others do not.
	waitReplicaConsumersAlike(t, nodes, name, "D")
}

// replicaConsumer is what a server's own replica holds of a consumer.
type replicaConsumer struct {
	Delivered, AckFloor           stream.SequenceInfo
	NumAckPending, NumRedelivered int
}

// waitReplicaConsumersAlike waits until every server's replica holds
// consumer cons of stream name in the same state.
func waitReplicaConsumersAlike(t *testing.T, nodes []*streamNode, name, cons string) {
	t.Helper()
	layers := map[string]*streamLayers{}
	for _, n := range nodes {
		layers[n.name] = n.layers
	}
	waitLayersConsumersAlike(t, layers, name, cons)
}

// waitLayersConsumersAlike is waitReplicaConsumersAlike over the stream
// layers of servers by name.
func waitLayersConsumersAlike(t *testing.T, layers map[string]*streamLayers, name, cons string) {
	t.Helper()
	var states map[string]replicaConsumer
	deadline := time.Now().Add(60 * time.Second)
	for {
		states = map[string]replicaConsumer{}
		for server, l := range layers {
			l.mu.Lock()
			svc := l.all[0].svc
			l.mu.Unlock()
			for _, cs := range svc.ConsumerStats() {
				if cs.Stream == name && cs.Name == cons {
					cs.Delivered.Last, cs.AckFloor.Last = nil, nil
					states[server] = replicaConsumer{cs.Delivered, cs.AckFloor, cs.NumAckPending, cs.NumRedelivered}
				}
			}
		}
		alike := len(states) == len(layers)
		for _, st := range states {
			for _, other := range states {
				if st.Delivered != other.Delivered || st.AckFloor != other.AckFloor ||
					st.NumAckPending != other.NumAckPending || st.NumRedelivered != other.NumRedelivered {
					alike = false
				}
			}
		}
		if alike {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replicas hold consumer %s differently: %+v", cons, states)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReplicatedConsumerDeposedLeaderDropsLostState: the stream's leader
// is cut off from the others; a client on its server fetches and
// acknowledges what it is given (nothing can commit there); the others
// elect a leader; the links heal and the old leader is made leader
// again. It must hold the consumer as the log does, not as its own
// drivers changed it while cut off: nothing acknowledged, nothing
// delivered, and every message still to come.
func TestReplicatedConsumerDeposedLeaderDropsLostState(t *testing.T) {
	c := startChaosCluster(t, 3)
	_, js := jsConnect(t, c.urls())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
	defer cancel()
	const name, total = "DEP", 20
	var s jetstream.Stream
	waitLong(t, "the stream created", func() bool {
		var err error
		s, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"dep.>"}, Replicas: 3})
		return err == nil
	})
	publishAcked(t, js, "dep", 1, total)
	if _, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "D",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	leader := chaosStreamLeader(t, js, name)
	li := -1
	for i, srv := range c.servers {
		if srv.name == leader {
			li = i
		}
	}
	if li < 0 {
		t.Fatalf("leader %q is none of the servers", leader)
	}
	lnc, ljs := jsConnect(t, fmt.Sprintf("nats://127.0.0.1:%d", c.servers[li].port))
	lc, err := ljs.Consumer(ctx, name, "D")
	if err != nil {
		t.Fatal(err)
	}

	c.isolate(li, true)
	// What the cut-off leader hands out is acknowledged at once: these
	// acknowledgements can never commit.
	if batch, err := lc.Fetch(5, jetstream.FetchMaxWait(2*time.Second)); err == nil {
		got := 0
		for m := range batch.Messages() {
			got++
			_ = m.Ack()
		}
		t.Logf("the cut-off leader handed out %d messages", got)
	}
	// The others elect a leader of their own.
	var other jetstream.JetStream
	for i, srv := range c.servers {
		if i != li {
			_, other = jsConnect(t, fmt.Sprintf("nats://127.0.0.1:%d", srv.port))
			break
		}
	}
	waitLong(t, "a leader among the others", func() bool {
		l := chaosStreamLeaderNow(other, name)
		return l != "" && l != leader
	})
	c.isolate(li, false)

	// Make the old leader lead again: cut off the third server, so that
	// a step-down can only elect it.
	third := -1
	for i := range c.servers {
		if i != li && c.servers[i].name != chaosStreamLeaderNow(other, name) {
			third = i
		}
	}
	if third >= 0 {
		c.isolate(third, true)
	}
	waitLong(t, "the old leader leading again", func() bool {
		if chaosStreamLeaderNow(ljs, name) == leader {
			return true
		}
		// Through the old leader's server, which the cut leaves linked.
		_, _ = lnc.Request(fmt.Sprintf("$JS.API.STREAM.LEADER.STEPDOWN.%s", name), nil, 5*time.Second)
		time.Sleep(500 * time.Millisecond)
		return chaosStreamLeaderNow(ljs, name) == leader
	})
	if third >= 0 {
		c.isolate(third, false)
	}
	var ci *jetstream.ConsumerInfo
	waitLong(t, "consumer info from the old leader", func() bool {
		var err error
		ci, err = lc.Info(ctx)
		return err == nil && ci.Cluster != nil && ci.Cluster.Leader == leader
	})
	if ci.AckFloor.Stream != 0 || ci.NumAckPending != 0 || ci.Delivered.Stream != 0 {
		t.Fatalf("the old leader kept what the log lost: ack floor %d, ack pending %d, delivered up to %d",
			ci.AckFloor.Stream, ci.NumAckPending, ci.Delivered.Stream)
	}
	seen := map[uint64]bool{}
	deadline := time.Now().Add(60 * time.Second)
	for len(seen) < total {
		if time.Now().After(deadline) {
			t.Fatalf("after healing got %d of the %d unacknowledged messages", len(seen), total)
		}
		batch, err := lc.Fetch(total, jetstream.FetchMaxWait(3*time.Second))
		if err != nil {
			continue
		}
		for m := range batch.Messages() {
			md, _ := m.Metadata()
			seen[md.Sequence.Stream] = true
			_ = m.DoubleAck(ctx)
		}
	}
	layers := map[string]*streamLayers{}
	for _, srv := range c.servers {
		layers[srv.name] = srv.layers
	}
	waitLayersConsumersAlike(t, layers, name, "D")
}

// chaosStreamLeader waits for stream name's leader and returns it.
func chaosStreamLeader(t *testing.T, js jetstream.JetStream, name string) string {
	t.Helper()
	var l string
	waitLong(t, "a stream leader", func() bool { l = chaosStreamLeaderNow(js, name); return l != "" })
	return l
}

// chaosStreamLeaderNow is stream name's leader as stream info gives it
// through js, "" if none answers.
func chaosStreamLeaderNow(js jetstream.JetStream, name string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if err != nil {
		return ""
	}
	if info := s.CachedInfo(); info.Cluster != nil {
		return info.Cluster.Leader
	}
	return ""
}

// TestReplicatedConsumerReset: a reset of a replicated consumer is
// answered once its entry applied, and the consumer then delivers from
// the new position on its leader, with every replica alike.
func TestReplicatedConsumerReset(t *testing.T) {
	nodes := startStreamCluster(t, "rr", 3)
	waitMetaLeader(t, nodes)
	nc, js := jsConnect(t, nodes[0].url())
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const name, total = "RST", 10
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"rst.>"}, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	publishAcked(t, js, "rst", 1, total)
	c, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "D",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l := &ackLedger{confirmed: map[uint64]bool{}, seen: map[uint64]bool{}}
	deadline := time.Now().Add(60 * time.Second)
	for len(l.confirmed) < total {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged", len(l.confirmed), total)
		}
		l.fetchAndAck(t, js, name, total, func(uint64) bool { return true })
	}
	r, err := nc.Request(fmt.Sprintf("$JS.API.CONSUMER.RESET.%s.D", name), []byte(`{"seq":3}`), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		ResetSeq uint64 `json:"reset_seq"`
		Error    *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Data, &resp); err != nil || resp.Error != nil || resp.ResetSeq != 3 {
		t.Fatalf("reset: %s", r.Data)
	}
	var got []uint64
	deadline = time.Now().Add(60 * time.Second)
	for len(got) < total-2 {
		if time.Now().After(deadline) {
			t.Fatalf("after the reset got %v", got)
		}
		batch, err := c.Fetch(total, jetstream.FetchMaxWait(3*time.Second))
		if err != nil {
			continue
		}
		for m := range batch.Messages() {
			md, _ := m.Metadata()
			got = append(got, md.Sequence.Stream)
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatalf("ack %d: %v", md.Sequence.Stream, err)
			}
		}
	}
	for i, seq := range got {
		if seq != uint64(i+3) {
			t.Fatalf("after the reset to 3 got %v", got)
		}
	}
	waitReplicaConsumersAlike(t, nodes, name, "D")
}

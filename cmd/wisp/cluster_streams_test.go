package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// nodeNamed returns the node called name.
func nodeNamed(nodes []*streamNode, name string) *streamNode {
	for _, n := range nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// publishAcked publishes count messages subj.<i> from first, retrying
// each until acknowledged (a failover may refuse a few), and returns the
// acknowledged sequences by message.
func publishAcked(t *testing.T, js jetstream.JetStream, subj string, first, count int) map[int]uint64 {
	t.Helper()
	acked := map[int]uint64{}
	for i := first; i < first+count; i++ {
		deadline := time.Now().Add(60 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			ack, err := js.Publish(ctx, fmt.Sprintf("%s.%d", subj, i), []byte(fmt.Sprint(i)), jetstream.WithMsgID(fmt.Sprint(i)))
			cancel()
			if err == nil {
				acked[i] = ack.Sequence
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %d never acknowledged: %v", i, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return acked
}

// TestReplicatedStreamFailover: an R3 stream created through a follower
// of the meta group; acknowledged publishes; the stream's leader stops;
// the new leader holds every acknowledged message and takes publishes;
// the old leader restarts and catches up to the same messages.
func TestReplicatedStreamFailover(t *testing.T) {
	nodes := startStreamCluster(t, "rf", 3)
	meta := waitMetaLeader(t, nodes)
	var via *streamNode
	for _, n := range nodes {
		if n.name != meta {
			via = n
			break
		}
	}
	_, js := jsConnect(t, via.url())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	info := s.CachedInfo()
	if info.Config.Replicas != 3 || info.Cluster == nil || info.Cluster.Leader == "" || info.Cluster.Name != "RC" {
		t.Fatalf("create answered %+v, cluster %+v", info.Config, info.Cluster)
	}

	acked := publishAcked(t, js, "orders", 0, 50)
	leader := streamLeader(nodes, js, "ORDERS")
	if leader == "" {
		t.Fatal("no stream leader")
	}
	old := nodeNamed(nodes, leader)
	old.stop()

	// A client of a surviving node sees every acknowledged message, and
	// publishes go on.
	var other *streamNode
	for _, n := range nodes {
		if n.running {
			other = n
			break
		}
	}
	_, js2 := jsConnect(t, other.url())
	waitLong(t, "a new stream leader", func() bool {
		l := streamLeader(nodes, js2, "ORDERS")
		return l != "" && l != leader
	})
	for i, seq := range publishAcked(t, js2, "orders", 50, 50) {
		acked[i] = seq
	}
	checkHolds(t, js2, "ORDERS", acked)

	// The old leader comes back and catches up: asked directly (its
	// replica's state is read through a stream info sent to the leader,
	// so read its local state instead).
	old.start(t)
	waitLong(t, "the restarted replica caught up", func() bool {
		svc := old.layers.global()
		for _, st := range svc.Stats().Streams {
			if st.Name == "ORDERS" {
				return st.Messages == uint64(len(acked))
			}
		}
		return false
	})
}

// checkHolds checks that stream holds exactly the acknowledged messages,
// each at the sequence its ack gave.
func checkHolds(t *testing.T, js jetstream.JetStream, name string, acked map[int]uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CachedInfo().State.Msgs; n != uint64(len(acked)) {
		t.Errorf("stream holds %d messages, %d were acknowledged", n, len(acked))
	}
	for i, seq := range acked {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("acknowledged message %d (seq %d): %v", i, seq, err)
		}
		if string(m.Data) != fmt.Sprint(i) {
			t.Fatalf("seq %d holds %q, want %d", seq, m.Data, i)
		}
	}
}

// TestReplicatedStreamRefusals: more replicas than servers is refused
// with nats-server's error, so is a change of num_replicas; a stream with
// one replica stays local to its server, with no cluster section.
func TestReplicatedStreamRefusals(t *testing.T) {
	nodes := startStreamCluster(t, "rr", 3)
	waitMetaLeader(t, nodes)
	_, js := jsConnect(t, nodes[0].url())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R5", Subjects: []string{"r5"}, Replicas: 5})
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10005 || apiErr.Description != "no suitable peers for placement" {
		t.Fatalf("R5 on 3 servers: %v", err)
	}
	local, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R1", Subjects: []string{"r1"}})
	if err != nil {
		t.Fatal(err)
	}
	// As in nats-server, a one-replica stream in a cluster names the
	// cluster and its server as leader.
	if c := local.CachedInfo().Cluster; c == nil || c.Name != "RC" || c.Leader != nodes[0].name || len(c.Replicas) != 0 {
		t.Fatalf("a local stream's cluster section: %+v", c)
	}
	if _, err := js.Publish(ctx, "r1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	_, err = js.UpdateStream(ctx, jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3"}, Replicas: 1})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10061 {
		t.Fatalf("changing num_replicas: %v", err)
	}
}

// TestReplicatedConsumerFailover: a durable consumer of an R3 stream;
// some messages acknowledged (with the server's confirmation), some
// delivered and not; the stream's leader stops. The new leader delivers
// every unacknowledged message (again, or for the first time) and never
// one that was acknowledged.
func TestReplicatedConsumerFailover(t *testing.T) {
	nodes := startStreamCluster(t, "rc", 3)
	waitMetaLeader(t, nodes)
	_, js := jsConnect(t, nodes[0].url())
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "WORK", Subjects: []string{"work.>"}, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	publishAcked(t, js, "work", 1, 20)
	c, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if ci := c.CachedInfo(); ci.Cluster == nil || ci.Cluster.Leader == "" {
		t.Fatalf("consumer info has no cluster section: %+v", ci.Cluster)
	}
	batch, err := c.Fetch(10, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for m := range batch.Messages() {
		got++
		md, _ := m.Metadata()
		if md.Sequence.Stream <= 6 {
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatalf("ack %d: %v", md.Sequence.Stream, err)
			}
		}
	}
	if got != 10 {
		t.Fatalf("fetched %d of 10", got)
	}

	leader := streamLeader(nodes, js, "WORK")
	nodeNamed(nodes, leader).stop()
	var other *streamNode
	for _, n := range nodes {
		if n.running {
			other = n
			break
		}
	}
	_, js2 := jsConnect(t, other.url())
	waitLong(t, "a new stream leader", func() bool {
		l := streamLeader(nodes, js2, "WORK")
		return l != "" && l != leader
	})
	var c2 jetstream.Consumer
	waitLong(t, "the consumer on the new leader", func() bool {
		c2, err = js2.Consumer(ctx, "WORK", "D")
		return err == nil
	})
	if f := c2.CachedInfo().AckFloor.Stream; f != 6 {
		t.Fatalf("ack floor after failover %d, want 6", f)
	}
	seen := map[uint64]bool{}
	deadline := time.Now().Add(60 * time.Second)
	for len(seen) < 14 {
		if time.Now().After(deadline) {
			t.Fatalf("after failover got %d of the 14 unacknowledged messages", len(seen))
		}
		batch, err := c2.Fetch(20, jetstream.FetchMaxWait(3*time.Second))
		if err != nil {
			continue
		}
		for m := range batch.Messages() {
			md, _ := m.Metadata()
			if md.Sequence.Stream <= 6 {
				t.Fatalf("acknowledged message %d delivered again", md.Sequence.Stream)
			}
			seen[md.Sequence.Stream] = true
			m.DoubleAck(ctx)
		}
	}
}

// TestReplicatedStreamStepDownAndInfo: stream info's cluster section as
// nats-server gives it (cluster name, leader, the other replicas, current),
// the stream and consumer leader step-downs asked from a follower's
// client move the leadership, and the new leader announces itself.
func TestReplicatedStreamStepDownAndInfo(t *testing.T) {
	nodes := startStreamCluster(t, "rs", 3)
	waitMetaLeader(t, nodes)
	nc, js := jsConnect(t, nodes[0].url())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SD", Subjects: []string{"sd.>"}, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "C", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	var info *jetstream.StreamInfo
	waitLong(t, "both replicas current", func() bool {
		info, err = s.Info(ctx)
		if err != nil || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			return false
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current || r.Name == info.Cluster.Leader {
				return false
			}
		}
		return true
	})
	if info.Cluster.Name != "RC" || info.Cluster.Leader == "" {
		t.Fatalf("cluster section %+v", info.Cluster)
	}

	elected, err := nc.SubscribeSync("$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.SD")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	stepDown := func(subject, wantType string) string {
		t.Helper()
		old := streamLeader(nodes, js, "SD")
		// Ask through a client of a server that does not lead.
		var via *streamNode
		for _, n := range nodes {
			if n.name != old {
				via = n
				break
			}
		}
		vc, _ := jsConnect(t, via.url())
		m, err := vc.Request(subject, nil, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		want := `{"type":"` + wantType + `","success":true}`
		if string(m.Data) != want {
			t.Fatalf("%s answered %s", subject, m.Data)
		}
		var now string
		waitLong(t, "another leader", func() bool { now = streamLeader(nodes, js, "SD"); return now != "" && now != old })
		return now
	}
	leader := stepDown("$JS.API.STREAM.LEADER.STEPDOWN.SD", "io.nats.jetstream.api.v1.stream_leader_stepdown_response")
	m, err := elected.NextMsg(20 * time.Second)
	if err != nil {
		t.Fatal("no leader elected advisory")
	}
	var adv struct {
		Type, Stream, Leader string
	}
	json.Unmarshal(m.Data, &adv)
	if adv.Type != "io.nats.jetstream.advisory.v1.stream_leader_elected" || adv.Stream != "SD" || adv.Leader != leader {
		t.Fatalf("advisory %s, leader %s", m.Data, leader)
	}
	stepDown("$JS.API.CONSUMER.LEADER.STEPDOWN.SD.C", "io.nats.jetstream.api.v1.consumer_leader_stepdown_response")

	r, err := nc.Request("$JS.API.STREAM.LEADER.STEPDOWN.NOPE", nil, 10*time.Second)
	if err != nil || !strings.Contains(string(r.Data), `"err_code":10059`) {
		t.Fatalf("step-down of no stream: %s %v", r.Data, err)
	}
}

// TestReplicatedStreamCatchUpFromSnapshot: a replica stopped while the
// others went far past the log they keep (they snapshot every 32
// entries) comes back through a snapshot of the stream (the archive of
// its messages and consumers) and then follows the log: it holds every
// message, and leads with the consumer where it was.
func TestReplicatedStreamCatchUpFromSnapshot(t *testing.T) {
	nodes := startStreamClusterWith(t, "rp", 3, 32)
	waitMetaLeader(t, nodes)
	// Every server's URL: the test stops one, maybe this client's.
	_, js := jsConnect(t, nodes[0].url()+","+nodes[1].url()+","+nodes[2].url())
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SNAP", Subjects: []string{"snap.>"}, Replicas: 3, AllowDirect: true})
	if err != nil {
		t.Fatal(err)
	}
	acked := publishAcked(t, js, "snap", 0, 10)
	c, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "C", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	leader := streamLeader(nodes, js, "SNAP")
	var away *streamNode
	for _, n := range nodes {
		if n.name != leader {
			away = n
			break
		}
	}
	away.stop()
	for i, seq := range publishAcked(t, js, "snap", 10, 200) {
		acked[i] = seq
	}
	batch, err := c.Fetch(5, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	away.start(t)
	waitLong(t, "the replica caught up", func() bool {
		for _, st := range away.layers.global().Stats().Streams {
			if st.Name == "SNAP" {
				return st.Messages == uint64(len(acked))
			}
		}
		return false
	})
	nc, err := nats.Connect(away.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for i, seq := range acked {
		m, err := nc.Request("$JS.API.DIRECT.GET.SNAP", []byte(fmt.Sprintf(`{"seq":%d}`, seq)), 5*time.Second)
		if err != nil || string(m.Data) != fmt.Sprint(i) {
			t.Fatalf("the caught-up replica's seq %d: %v %q", seq, err, m.Data)
		}
	}
	// Lead from the caught-up replica: the consumer resumes after the
	// five acknowledged messages.
	waitLong(t, "the caught-up replica leads", func() bool {
		l := streamLeader(nodes, js, "SNAP")
		if l == away.name {
			return true
		}
		if l != "" {
			nodeNamed(nodes, l).node.StepDown(ctx, 2)
		}
		return false
	})
	ci, err := c.Info(ctx)
	if err != nil || ci.AckFloor.Stream != 5 || ci.NumPending != uint64(len(acked)-5) {
		t.Fatalf("consumer on the caught-up leader: %+v %v", ci, err)
	}
}

// TestReplicatedPushConsumer: a push consumer of an R3 stream, with flow
// control, delivering to a client of a server that does not lead the
// stream: every message arrives under its own subject, the flow control
// answers reach the leader, and acks from there count.
func TestReplicatedPushConsumer(t *testing.T) {
	nodes := startStreamCluster(t, "rpc", 3)
	waitMetaLeader(t, nodes)
	_, js := jsConnect(t, nodes[0].url())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PUSH", Subjects: []string{"push.>"}, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	leader := streamLeader(nodes, js, "PUSH")
	var far *streamNode
	for _, n := range nodes {
		if n.name != leader {
			far = n
			break
		}
	}
	nc, _ := jsConnect(t, far.url())
	sub, err := nc.SubscribeSync("deliver.push")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	r, err := nc.Request("$JS.API.CONSUMER.CREATE.PUSH.P", []byte(`{"stream_name":"PUSH","config":{"durable_name":"P","deliver_subject":"deliver.push","ack_policy":"explicit","flow_control":true,"idle_heartbeat":1000000000}}`), 10*time.Second)
	if err != nil || strings.Contains(string(r.Data), `"error"`) {
		t.Fatalf("create push consumer: %v %s", err, r.Data)
	}
	// 16 KiB each: 300 of them pass the 1 MiB flow control window
	// several times, so delivery stalls unless the answers reach the
	// leader.
	const n = 300
	big := make([]byte, 16<<10)
	for i := 0; i < n; i++ {
		if _, err := js.Publish(ctx, fmt.Sprintf("push.%d", i), big); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]bool{}
	deadline := time.Now().Add(60 * time.Second)
	for len(got) < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d of %d pushed messages", len(got), n)
		}
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			continue
		}
		if m.Header.Get("Status") == "100" {
			if m.Reply != "" {
				m.Respond(nil) // a flow control request
			}
			continue
		}
		if !strings.HasPrefix(m.Subject, "push.") {
			t.Fatalf("a delivery under %q", m.Subject)
		}
		got[m.Subject] = true
		m.Ack()
	}
	nc.Flush()
	_ = s
	waitLong(t, "every ack counted on the leader", func() bool {
		r, err := nc.Request("$JS.API.CONSUMER.INFO.PUSH.P", nil, 5*time.Second)
		if err != nil {
			return false
		}
		var ci jetstream.ConsumerInfo
		return json.Unmarshal(r.Data, &ci) == nil && ci.AckFloor.Stream == n && ci.Cluster != nil
	})
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// scaleReply is STREAM.UPDATE's answer, as far as these tests read it.
type scaleReply struct {
	Config *struct {
		Replicas int `json:"num_replicas"`
	} `json:"config"`
	Error *struct {
		Code    int `json:"code"`
		ErrCode int `json:"err_code"`
	} `json:"error"`
}

// setReplicas asks, as `nats stream edit --replicas N` does, for stream
// (subjects subject) to have replicas replicas.
func setReplicas(t *testing.T, nc *nats.Conn, stream, subject string, replicas int) scaleReply {
	t.Helper()
	body := fmt.Sprintf(`{"name":%q,"subjects":[%q],"num_replicas":%d,"storage":"file","allow_direct":true}`, stream, subject, replicas)
	m, err := nc.Request("$JS.API.STREAM.UPDATE."+stream, []byte(body), 30*time.Second)
	if err != nil {
		t.Fatalf("update %s to R%d: %v", stream, replicas, err)
	}
	var r scaleReply
	if err := json.Unmarshal(m.Data, &r); err != nil {
		t.Fatalf("update answer %q: %v", m.Data, err)
	}
	return r
}

func wantScaled(t *testing.T, r scaleReply, replicas int) {
	t.Helper()
	if r.Error != nil || r.Config == nil || r.Config.Replicas != replicas {
		t.Fatalf("update to R%d answered error %+v config %+v", replicas, r.Error, r.Config)
	}
}

func wantScaleError(t *testing.T, r scaleReply, code int, what string) {
	t.Helper()
	if r.Error == nil || r.Error.ErrCode != code {
		t.Fatalf("%s: answered error %+v config %+v, want error %d", what, r.Error, r.Config, code)
	}
}

// publisher publishes to subj.<i> with message ids in the background
// until stopped, retrying each message until it is acknowledged, and
// keeps what was acknowledged at which sequence.
type publisher struct {
	mu    sync.Mutex
	acked map[int]uint64
	stop  chan struct{}
	done  chan struct{}
}

func startPublisher(js jetstream.JetStream, subj string, first int) *publisher {
	p := &publisher{acked: map[int]uint64{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for i := first; i < first+100000; i++ {
			for try := 0; try < 600; try++ {
				select {
				case <-p.stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				ack, err := js.Publish(ctx, fmt.Sprintf("%s.%d", subj, i), []byte(fmt.Sprint(i)), jetstream.WithMsgID(fmt.Sprint(i)))
				cancel()
				if err == nil {
					p.mu.Lock()
					p.acked[i] = ack.Sequence
					p.mu.Unlock()
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return p
}

// finish stops the publisher and adds what it got acknowledged to acked.
func (p *publisher) finish(acked map[int]uint64) {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, seq := range p.acked {
		acked[i] = seq
	}
}

func (p *publisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked)
}

// replicaHolds reports whether node's own replica of stream holds every
// acknowledged message at its sequence (direct gets, answered by the
// replica of the server the client is on) and nothing more.
func replicaHolds(n *streamNode, stream, subj string, acked map[int]uint64) error {
	nc, err := nats.Connect(n.url())
	if err != nil {
		return err
	}
	defer nc.Close()
	if got := localCount(n, stream); got != len(acked) {
		return fmt.Errorf("%s holds %d messages, %d were acknowledged", n.name, got, len(acked))
	}
	for i, seq := range acked {
		m, err := nc.Request("$JS.API.DIRECT.GET."+stream, fmt.Appendf(nil, `{"seq":%d}`, seq), 5*time.Second)
		if err != nil {
			return fmt.Errorf("%s: seq %d: %w", n.name, seq, err)
		}
		if string(m.Data) != fmt.Sprint(i) || m.Header.Get("Nats-Subject") != fmt.Sprintf("%s.%d", subj, i) {
			return fmt.Errorf("%s: seq %d holds %q on %q, want message %d", n.name, seq, m.Data, m.Header.Get("Nats-Subject"), i)
		}
	}
	return nil
}

// waitReplicasHold waits until every server of names holds every
// acknowledged message.
func waitReplicasHold(t *testing.T, nodes []*streamNode, names []string, stream, subj string, acked map[int]uint64) {
	t.Helper()
	var last error
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		last = nil
		for _, name := range names {
			if err := replicaHolds(nodeNamed(nodes, name), stream, subj, acked); err != nil {
				last = err
				break
			}
		}
		if last == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas never held every acknowledged message: %v", last)
		}
	}
}

// directR3 is an R3 stream whose replicas answer direct gets.
func directR3(name, subject string) jetstream.StreamConfig {
	c := jetstreamR3(name, subject)
	c.AllowDirect = true
	return c
}

// jszGroup is stream's leader and replicas as node's /jsz stream_detail
// shows them, sorted.
// scaleLoad is an ORDERS stream being published to, its clients on a
// server that does not lead it (the leader-killed scale tests).
type scaleLoad struct {
	leader string
	other  *streamNode
	nc     *nats.Conn
	js     jetstream.JetStream
	acked  map[int]uint64
	pub    *publisher
}

// startScaleLoad creates ORDERS with replicas replicas, publishes 30
// acknowledged messages and leaves a publisher running.
func startScaleLoad(t *testing.T, nodes []*streamNode, replicas int) scaleLoad {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, js0 := jsConnect(t, nodes[0].url())
	cfg := directR3("ORDERS", "orders.>")
	cfg.Replicas = replicas
	if _, err := js0.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	var l scaleLoad
	waitLong(t, "the stream's leader", func() bool { l.leader = streamLeader(nodes, js0, "ORDERS"); return l.leader != "" })
	for _, n := range nodes {
		if n.name != l.leader {
			l.other = n
			break
		}
	}
	l.nc, l.js = jsConnect(t, l.other.url())
	l.acked = publishAcked(t, l.js, "orders", 0, 30)
	l.pub = startPublisher(l.js, "orders", 1000)
	waitLong(t, "publishing under way", func() bool { return l.pub.count() > 5 })
	return l
}

// askReplicasAsync asks for ORDERS to have replicas replicas without
// waiting; the channel closes once the request is answered or timed out
// (its answer may be lost with a leader the test stops).
func askReplicasAsync(nc *nats.Conn, replicas int) <-chan struct{} {
	asked := make(chan struct{})
	go func() {
		defer close(asked)
		body := fmt.Sprintf(`{"name":"ORDERS","subjects":["orders.>"],"num_replicas":%d,"storage":"file","allow_direct":true}`, replicas)
		_, _ = nc.Request("$JS.API.STREAM.UPDATE.ORDERS", []byte(body), 10*time.Second)
	}()
	return asked
}

// askUntilScaled asks for ORDERS to have replicas replicas until a
// leader answers the change done.
func askUntilScaled(t *testing.T, nc *nats.Conn, replicas int) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		r := setReplicas(t, nc, "ORDERS", "orders.>", replicas)
		if r.Error == nil && r.Config != nil && r.Config.Replicas == replicas {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the change to R%d asked again never completed: %+v", replicas, r.Error)
		}
	}
}

func jszGroup(n *streamNode, stream string) []string {
	resp, err := http.Get("http://" + n.srv.MonitorAddr().String() + "/jsz")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var jz struct {
		Streams []struct {
			Name    string `json:"name"`
			Cluster *struct {
				Leader   string `json:"leader"`
				Replicas []struct {
					Name string `json:"name"`
				} `json:"replicas"`
			} `json:"cluster"`
		} `json:"stream_detail"`
	}
	if json.NewDecoder(resp.Body).Decode(&jz) != nil {
		return nil
	}
	for _, sd := range jz.Streams {
		if sd.Name != stream || sd.Cluster == nil || sd.Cluster.Leader == "" {
			continue
		}
		out := []string{sd.Cluster.Leader}
		for _, r := range sd.Cluster.Replicas {
			out = append(out, r.Name)
		}
		slices.Sort(out)
		return out
	}
	return nil
}

func allNames(nodes []*streamNode) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.name)
	}
	slices.Sort(out)
	return out
}

// TestStreamScaleReplicas: five servers, an R3 stream written to before,
// during and after each change. Going to R5 adds the two other servers,
// which catch up and become current; going back to R3 removes two
// servers, never the leader, which drop their copies. Every acknowledged
// message is on every replica after each change, and the meta group and
// stream info show the new peers.
func TestStreamScaleReplicas(t *testing.T) {
	// Snapshots every few entries: the servers added catch up from a
	// snapshot taken at a membership change.
	nodes := startStreamClusterWith(t, "sc", 5, 16)
	waitMetaLeader(t, nodes)
	nc, js := jsConnect(t, nodes[0].url())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, directR3("ORDERS", "orders.>")); err != nil {
		t.Fatal(err)
	}
	acked := publishAcked(t, js, "orders", 0, 40)
	var before []string
	waitLong(t, "the stream's group", func() bool { before, _ = groupOf(nc, "ORDERS"); return len(before) == 3 })

	// A consumer asking for the stream's three replicas, asked again
	// with its config once the stream has five.
	cc := jetstream.ConsumerConfig{Durable: "C", AckPolicy: jetstream.AckExplicitPolicy, Replicas: 3}
	if _, err := js.CreateOrUpdateConsumer(ctx, "ORDERS", cc); err != nil {
		t.Fatal(err)
	}
	pub := startPublisher(js, "orders", 1000)
	waitLong(t, "publishing under way", func() bool { return pub.count() > 5 })
	wantScaled(t, setReplicas(t, nc, "ORDERS", "orders.>", 5), 5)
	if _, err := js.CreateOrUpdateConsumer(ctx, "ORDERS", cc); err != nil {
		t.Fatalf("the consumer's config again on R5: %v", err)
	}
	all := allNames(nodes)
	waitLong(t, "five peers, all current", func() bool {
		got, current := groupOf(nc, "ORDERS")
		return slices.Equal(got, all) && current
	})
	for _, n := range nodes {
		if peers, _ := n.node.Assignment("ORDERS"); !slices.Equal(peers, all) {
			t.Fatalf("%s's meta group assigns %v, want %v", n.name, peers, all)
		}
	}
	leader := nodeNamed(nodes, streamLeader(nodes, js, "ORDERS"))
	waitLong(t, "/jsz with five peers", func() bool { return slices.Equal(jszGroup(leader, "ORDERS"), all) })
	waitLong(t, "publishing after the change", func() bool { return pub.count() > 40 })
	pub.finish(acked)
	for i, seq := range publishAcked(t, js, "orders", 5000, 10) {
		acked[i] = seq
	}
	checkHolds(t, js, "ORDERS", acked)
	waitReplicasHold(t, nodes, all, "ORDERS", "orders", acked)

	// Back to three, the leader kept.
	leaderName := streamLeader(nodes, js, "ORDERS")
	pub = startPublisher(js, "orders", 10000)
	waitLong(t, "publishing under way", func() bool { return pub.count() > 5 })
	wantScaled(t, setReplicas(t, nc, "ORDERS", "orders.>", 3), 3)
	var after []string
	waitLong(t, "three peers, all current", func() bool {
		var current bool
		after, current = groupOf(nc, "ORDERS")
		return len(after) == 3 && current
	})
	if !slices.Contains(after, leaderName) {
		t.Fatalf("the scale down removed the leader %s: peers %v", leaderName, after)
	}
	waitLong(t, "/jsz with three peers", func() bool { return slices.Equal(jszGroup(nodeNamed(nodes, leaderName), "ORDERS"), after) })
	waitLong(t, "publishing after the change", func() bool { return pub.count() > 40 })
	pub.finish(acked)
	for _, n := range nodes {
		if !slices.Contains(after, n.name) {
			waitLong(t, n.name+" dropped its copy", func() bool { return localCount(n, "ORDERS") == -1 })
		}
		if peers, _ := n.node.Assignment("ORDERS"); !slices.Equal(peers, after) {
			t.Fatalf("%s's meta group assigns %v, want %v", n.name, peers, after)
		}
	}
	checkHolds(t, js, "ORDERS", acked)
	waitReplicasHold(t, nodes, after, "ORDERS", "orders", acked)
	s, err := js.Stream(ctx, "ORDERS")
	if err != nil || s.CachedInfo().Config.Replicas != 3 {
		t.Fatalf("stream info after the change: %v", err)
	}

	// Up again: the two servers removed held the stream before, and
	// recover their replicas from the others before they take part.
	pub = startPublisher(js, "orders", 20000)
	waitLong(t, "publishing under way", func() bool { return pub.count() > 5 })
	wantScaled(t, setReplicas(t, nc, "ORDERS", "orders.>", 5), 5)
	waitLong(t, "five peers again, all current", func() bool {
		got, current := groupOf(nc, "ORDERS")
		return slices.Equal(got, all) && current
	})
	waitLong(t, "publishing after the change", func() bool { return pub.count() > 40 })
	pub.finish(acked)
	checkHolds(t, js, "ORDERS", acked)
	waitReplicasHold(t, nodes, all, "ORDERS", "orders", acked)
}

// TestStreamScaleRefusals: more replicas than servers is refused as a
// create asking for them is (10005), as is going to or from one replica
// (10061), and nothing changes.
func TestStreamScaleRefusals(t *testing.T) {
	nodes := startStreamCluster(t, "sr", 3)
	waitMetaLeader(t, nodes)
	nc, js := jsConnect(t, nodes[0].url())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstreamR3("ORDERS", "orders.>")); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstreamR1("LOCAL", "local.>")); err != nil {
		t.Fatal(err)
	}
	wantScaleError(t, setReplicas(t, nc, "ORDERS", "orders.>", 5), 10005, "R3 to R5 on three servers")
	wantScaleError(t, setReplicas(t, nc, "ORDERS", "orders.>", 7), 10052, "R3 to R7")
	wantScaleError(t, setReplicas(t, nc, "ORDERS", "orders.>", 1), 10061, "R3 to R1")
	wantScaleError(t, setReplicas(t, nc, "LOCAL", "local.>", 3), 10061, "R1 to R3")
	if got, _ := groupOf(nc, "ORDERS"); !slices.Equal(got, allNames(nodes)) {
		t.Fatalf("a refused change changed the group: %v", got)
	}
	// A consumer may ask for up to its stream's replicas (it has the
	// stream's), not more.
	m, err := nc.Request("$JS.API.CONSUMER.CREATE.ORDERS.C5", []byte(`{"stream_name":"ORDERS","config":{"durable_name":"C5","ack_policy":"explicit","num_replicas":5}}`), 10*time.Second)
	if err != nil || !strings.Contains(string(m.Data), `"err_code":10126`) {
		t.Fatalf("a consumer with more replicas than its stream: %v %s", err, m.Data)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{Durable: "C2", AckPolicy: jetstream.AckExplicitPolicy, Replicas: 2}); err != nil {
		t.Fatalf("a consumer with fewer replicas than its stream: %v", err)
	}
	s, err := js.Stream(ctx, "ORDERS")
	if err != nil || s.CachedInfo().Config.Replicas != 3 {
		t.Fatalf("stream info after refusals: %v", err)
	}
}

// TestStreamScaleLeaderKilled: the stream's leader is stopped as soon as
// the meta group recorded the stream's new peers on the way from R3 to
// R5, with a publisher writing throughout. A new leader finishes bringing
// the new servers in, the change asked again completes, and once the old
// leader is back every acknowledged message is on all five replicas.
func TestStreamScaleLeaderKilled(t *testing.T) {
	nodes := startStreamCluster(t, "sk", 5)
	waitMetaLeader(t, nodes)
	l := startScaleLoad(t, nodes, 3)
	asked := askReplicasAsync(l.nc, 5)
	waitLong(t, "five peers recorded", func() bool {
		peers, _ := l.other.node.Assignment("ORDERS")
		return len(peers) == 5
	})
	nodeNamed(nodes, l.leader).stop()

	askUntilScaled(t, l.nc, 5)
	<-asked // its answer may have been lost with the leader
	waitLong(t, "publishing under the new leader", func() bool { return l.pub.count() > 60 })
	nodeNamed(nodes, l.leader).start(t)
	all := allNames(nodes)
	waitLong(t, "five peers, all current", func() bool {
		got, current := groupOf(l.nc, "ORDERS")
		return slices.Equal(got, all) && current
	})
	l.pub.finish(l.acked)
	checkHolds(t, l.js, "ORDERS", l.acked)
	waitReplicasHold(t, nodes, all, "ORDERS", "orders", l.acked)
}

// TestStreamScaleInSteps: an R4 stream on four servers goes to R2, then
// back to R4. Both servers added back held the stream before and recover
// their replicas, which needs a majority of the other assigned peers to
// answer: from two peers the stream grows in two steps (to three, whose
// new server is a voter before the last is added). Every acknowledged
// message ends up on all four.
func TestStreamScaleInSteps(t *testing.T) {
	nodes := startStreamCluster(t, "ss", 4)
	waitMetaLeader(t, nodes)
	nc, js := jsConnect(t, nodes[0].url())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := directR3("ORDERS", "orders.>")
	cfg.Replicas = 4
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	acked := publishAcked(t, js, "orders", 0, 30)
	wantScaled(t, setReplicas(t, nc, "ORDERS", "orders.>", 2), 2)
	waitLong(t, "two peers, current", func() bool {
		got, current := groupOf(nc, "ORDERS")
		return len(got) == 2 && current
	})
	pub := startPublisher(js, "orders", 1000)
	waitLong(t, "publishing under way", func() bool { return pub.count() > 5 })
	wantScaled(t, setReplicas(t, nc, "ORDERS", "orders.>", 4), 4)
	all := allNames(nodes)
	waitLong(t, "four peers, all current", func() bool {
		got, current := groupOf(nc, "ORDERS")
		return slices.Equal(got, all) && current
	})
	waitLong(t, "publishing after the change", func() bool { return pub.count() > 40 })
	pub.finish(acked)
	checkHolds(t, js, "ORDERS", acked)
	waitReplicasHold(t, nodes, all, "ORDERS", "orders", acked)
}

// TestStreamScaleMetaLeaderKilled: the meta group's leader (not the
// stream's) is stopped as an R3 stream is asked to go to R5, with a
// publisher writing throughout. The change completes through the new
// meta leader, or, refused or cut short, completes when asked again once
// the old one is back; then every acknowledged message is on all five
// replicas.
func TestStreamScaleMetaLeaderKilled(t *testing.T) {
	nodes := startStreamCluster(t, "sm", 5)
	waitMetaLeader(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nc0, js0 := jsConnect(t, nodes[0].url())
	if _, err := js0.CreateStream(ctx, directR3("ORDERS", "orders.>")); err != nil {
		t.Fatal(err)
	}
	// The stream's leadership moves until another server leads the meta
	// group.
	var leader, meta string
	for tries := 0; ; tries++ {
		waitLong(t, "the stream's leader", func() bool { leader = streamLeader(nodes, js0, "ORDERS"); return leader != "" })
		if meta = waitMetaLeader(t, nodes); meta != leader {
			break
		}
		if tries == 20 {
			t.Fatalf("the meta leader %s stays the stream's leader", meta)
		}
		_, _ = nc0.Request("$JS.API.STREAM.LEADER.STEPDOWN.ORDERS", nil, 5*time.Second)
		waitLong(t, "another stream leader", func() bool { l := streamLeader(nodes, js0, "ORDERS"); return l != "" && l != leader })
	}
	nc, js := jsConnect(t, nodeNamed(nodes, leader).url())
	acked := publishAcked(t, js, "orders", 0, 30)
	pub := startPublisher(js, "orders", 1000)
	waitLong(t, "publishing under way", func() bool { return pub.count() > 5 })

	answered := make(chan scaleReply, 1)
	go func() {
		body := `{"name":"ORDERS","subjects":["orders.>"],"num_replicas":5,"storage":"file","allow_direct":true}`
		var r scaleReply
		if m, err := nc.Request("$JS.API.STREAM.UPDATE.ORDERS", []byte(body), 30*time.Second); err == nil {
			_ = json.Unmarshal(m.Data, &r)
		}
		answered <- r
	}()
	nodeNamed(nodes, meta).stop()
	r := <-answered
	// Back before asking again: five replicas need every server (a
	// change that found it stopped before it picked the servers was
	// refused, 10005, and changed nothing).
	nodeNamed(nodes, meta).start(t)
	if r.Error != nil || r.Config == nil || r.Config.Replicas != 5 {
		t.Logf("the change with the meta leader stopped answered %+v: asking again", r.Error)
		askUntilScaled(t, nc, 5)
	}
	all := allNames(nodes)
	waitLong(t, "five peers, all current", func() bool {
		got, current := groupOf(nc, "ORDERS")
		return slices.Equal(got, all) && current
	})
	waitLong(t, "publishing after the change", func() bool { return pub.count() > 60 })
	pub.finish(acked)
	checkHolds(t, js, "ORDERS", acked)
	waitReplicasHold(t, nodes, all, "ORDERS", "orders", acked)
	for _, n := range nodes {
		if peers, _ := n.node.Assignment("ORDERS"); !slices.Equal(peers, all) {
			t.Fatalf("%s's meta group assigns %v, want %v", n.name, peers, all)
		}
	}
}

// TestStreamScaleDownLeaderKilled: an R5 stream asked to go to R3 loses
// its leader once the first server's removal is recorded, with a
// publisher writing throughout. Asked again, the new leader removes one
// more (the stopped one, which it does not hear from): three servers
// hold every acknowledged message, the others dropped their copies.
func TestStreamScaleDownLeaderKilled(t *testing.T) {
	nodes := startStreamCluster(t, "sd", 5)
	waitMetaLeader(t, nodes)
	l := startScaleLoad(t, nodes, 5)
	asked := askReplicasAsync(l.nc, 3)
	waitLong(t, "a removal recorded", func() bool {
		peers, _ := l.other.node.Assignment("ORDERS")
		return len(peers) < 5
	})
	nodeNamed(nodes, l.leader).stop()
	askUntilScaled(t, l.nc, 3)
	<-asked
	waitLong(t, "publishing under the new leader", func() bool { return l.pub.count() > 60 })
	nodeNamed(nodes, l.leader).start(t)
	var after []string
	waitLong(t, "three peers, all current", func() bool {
		var current bool
		after, current = groupOf(l.nc, "ORDERS")
		return len(after) == 3 && current
	})
	l.pub.finish(l.acked)
	checkHolds(t, l.js, "ORDERS", l.acked)
	waitReplicasHold(t, nodes, after, "ORDERS", "orders", l.acked)
	for _, n := range nodes {
		if !slices.Contains(after, n.name) {
			waitLong(t, n.name+" dropped its copy", func() bool { return localCount(n, "ORDERS") == -1 })
		}
	}
}

// TestStreamScaleDownWithServerDown: an R5 stream with one follower
// stopped goes to R3. The stopped server, which the leader does not hear
// from, is among those removed; started again, it finds the stream no
// longer its own and drops its copy, which it never ran in this run.
func TestStreamScaleDownWithServerDown(t *testing.T) {
	// Snapshots every few entries: the meta group's state reaches the
	// restarted server as a snapshot taken after its removal, without
	// the entries that assigned it the stream first.
	nodes := startStreamClusterWith(t, "sw", 5, 4)
	waitMetaLeader(t, nodes)
	nc, js := jsConnect(t, nodes[0].url())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := directR3("ORDERS", "orders.>")
	cfg.Replicas = 5
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	acked := publishAcked(t, js, "orders", 0, 20)
	leader := streamLeader(nodes, js, "ORDERS")
	var down *streamNode
	for _, n := range nodes[1:] {
		if n.name != leader {
			down = n
			break
		}
	}
	waitLong(t, down.name+" holds the messages", func() bool { return localCount(down, "ORDERS") == len(acked) })
	down.stop()
	for i, seq := range publishAcked(t, js, "orders", 100, 10) {
		acked[i] = seq
	}
	wantScaled(t, setReplicas(t, nc, "ORDERS", "orders.>", 3), 3)
	var after []string
	waitLong(t, "three peers, all current", func() bool {
		var current bool
		after, current = groupOf(nc, "ORDERS")
		return len(after) == 3 && current
	})
	if slices.Contains(after, down.name) {
		t.Fatalf("the stopped server %s was kept: peers %v", down.name, after)
	}
	// Back to five needs the stopped server: refused, nothing changed.
	wantScaleError(t, setReplicas(t, nc, "ORDERS", "orders.>", 5), 10005, "R5 with a server down")
	if got, _ := groupOf(nc, "ORDERS"); !slices.Equal(got, after) {
		t.Fatalf("a refused change changed the group: %v, want %v", got, after)
	}
	down.start(t)
	waitLong(t, down.name+" dropped its copy", func() bool { return localCount(down, "ORDERS") == -1 })
	checkHolds(t, js, "ORDERS", acked)
	waitReplicasHold(t, nodes, after, "ORDERS", "orders", acked)
}

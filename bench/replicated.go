package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The replicated-stream scenarios run on a 3-node cluster whose nodes all
// have the stream layer (-js -sd DIR each), against a file-storage stream
// of three replicas created for the run. A publish is acknowledged once
// the stream's leader has the message committed by a majority, so what
// they measure is the consensus round trip as a client sees it. Where the
// client sits matters: on a follower's node every publish and its ack
// cross a route to the leader and back; on the leader's node they do not.
// The stream's leader is read from stream info (its cluster section names
// it by server name, n1..n3) after the create.
const replicas = 3

var replicatedScenarios = []*Scenario{
	{Name: "r3-pub", Unit: "msgs/s", Cluster: clusterNodes, JetStream: true, Desc: "R3 stream, 3-node cluster: synchronous publish from a follower's node; ack latency", run: r3Pub(false)},
	{Name: "r3-pub-leader", Unit: "msgs/s", Cluster: clusterNodes, JetStream: true, Desc: "as r3-pub, the publisher on the stream leader's node", run: r3Pub(true)},
	{Name: "r3-pub-async", Unit: "msgs/s", Cluster: clusterNodes, JetStream: true, Desc: "R3 stream: async publish from a follower's node, 256 acks in flight", run: r3PubAsync(false)},
	{Name: "r3-pub-async-leader", Unit: "msgs/s", Cluster: clusterNodes, JetStream: true, Desc: "as r3-pub-async, the publisher on the stream leader's node", run: r3PubAsync(true)},
	{Name: "r3-consume", Unit: "msgs/s", Cluster: clusterNodes, JetStream: true, Desc: "R3 stream: durable pull consumer (R3) read from a follower's node, explicit ack of each", run: runR3Consume},
}

// ReplicatedScenarios lists the replicated-stream scenarios, which the
// standard set leaves out; each run starts three servers with streams,
// which only a server binary can be (wisp bench uses its own).
func ReplicatedScenarios() []string {
	names := make([]string, len(replicatedScenarios))
	for i, s := range replicatedScenarios {
		names[i] = s.Name
	}
	return names
}

// NeedsBinary reports whether any of the named scenarios needs a server
// binary to start (a cluster of servers with streams).
func NeedsBinary(names []string) bool {
	for _, name := range names {
		if s := lookup(name); s != nil && s.Cluster > 0 && s.JetStream {
			return true
		}
	}
	return false
}

// replicated is one run's R3 stream, as the scenario's clients see it.
type replicated struct {
	setup  jetstream.JetStream // on node 1: creates and deletes the stream
	stream string
	leader int // index of the leader's node in Env.URLs
}

// setupTimeout bounds creating the stream and finding its leader: a
// fresh cluster elects its meta leader first.
func (e *Env) setupTimeout() time.Duration { return max(30*time.Second, e.grace()) }

// r3Setup creates the run's R3 file stream on "<prefix>.js.>" from a
// connection to node 1, retrying while the fresh cluster is not yet ready
// to place it, and waits for its leader.
func (e *Env) r3Setup(conns *[]*nats.Conn) (*replicated, error) {
	nc, err := e.connectNode("setup", 0, conns)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	r := &replicated{setup: js, stream: "BENCH_" + strings.TrimPrefix(e.Prefix, "bench.")}
	limit := time.Now().Add(e.setupTimeout())
	cfg := jetstream.StreamConfig{
		Name:     r.stream,
		Subjects: []string{e.Prefix + ".js.>"},
		Storage:  jetstream.FileStorage,
		Replicas: replicas,
	}
	var s jetstream.Stream
	if !waitFor(limit, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err = js.CreateStream(ctx, cfg)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
		}
		return err == nil
	}) {
		return nil, fmt.Errorf("creating the R3 stream %s: %w", r.stream, err)
	}
	leader := ""
	if !waitFor(limit, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		info, err := s.Info(ctx)
		if err == nil && info.Cluster != nil {
			leader = info.Cluster.Leader
		}
		if leader == "" {
			time.Sleep(50 * time.Millisecond)
		}
		return leader != ""
	}) {
		jsCleanup(js, r.stream)
		return nil, fmt.Errorf("stream %s has no leader in its stream info", r.stream)
	}
	r.leader = -1
	for i := range e.URLs {
		if leader == fmt.Sprintf("n%d", i+1) {
			r.leader = i
		}
	}
	if r.leader < 0 {
		jsCleanup(js, r.stream)
		return nil, fmt.Errorf("stream %s: leader %q is none of the cluster's nodes", r.stream, leader)
	}
	return r, nil
}

// restartCap starts the time cap afresh: creating the stream on a fresh
// cluster (a meta leader elected first) may take longer than the cap, and
// is not what the cap bounds.
func (e *Env) restartCap() { e.Deadline = time.Now().Add(e.Cfg.Duration) }

// node returns the index of the node a client should use: the leader's,
// or a follower's.
func (r *replicated) node(onLeader bool, nodes int) int {
	if onLeader {
		return r.leader
	}
	return (r.leader + 1) % nodes
}

// r3Client connects a client of the run's stream to the chosen node, with
// opts, and publishes on subject until the stream acknowledges one: the
// leader's interest in the stream's subjects has then reached the node.
// It returns the stream sequence of that warm-up message: the timed
// messages follow it.
func (e *Env) r3Client(r *replicated, name string, node int, subject string, conns *[]*nats.Conn, opts ...jetstream.JetStreamOpt) (jetstream.JetStream, uint64, error) {
	nc, err := e.connectNode(name, node, conns)
	if err != nil {
		return nil, 0, err
	}
	js, err := jetstream.New(nc, opts...)
	if err != nil {
		return nil, 0, err
	}
	var base uint64
	if !waitFor(time.Now().Add(e.setupTimeout()), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var ack *jetstream.PubAck
		ack, err = js.Publish(ctx, subject, make([]byte, 8))
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			return false
		}
		if ack.Stream != r.stream {
			err = fmt.Errorf("warm-up ack names stream %q, want %q", ack.Stream, r.stream)
			return false
		}
		base = ack.Sequence
		return true
	}) {
		return nil, 0, fmt.Errorf("warm-up publish on node n%d: %w", node+1, err)
	}
	return js, base, nil
}

// r3Pub publishes one message at a time and waits for each PubAck, whose
// sequences must follow the warm-up's one by one; every round trip goes
// into the latency histogram.
func r3Pub(onLeader bool) func(context.Context, *Env) error {
	return func(_ context.Context, e *Env) error {
		e.Res.Pubs = 1
		var conns []*nats.Conn
		defer func() { closeAll(conns) }()
		r, err := e.r3Setup(&conns)
		if err != nil {
			return err
		}
		defer jsCleanup(r.setup, r.stream)
		subject := e.Prefix + ".js.r3"
		js, base, err := e.r3Client(r, "pub", r.node(onLeader, len(e.URLs)), subject, &conns)
		if err != nil {
			return err
		}
		e.restartCap()
		buf := make([]byte, e.Cfg.Size)
		h := newHist()
		var acked int64
		var perr error
		e.begin(int64(e.Cfg.Msgs))
		for i := 0; i < e.Cfg.Msgs; i++ {
			if i&15 == 0 && e.expired() {
				break
			}
			ctx, cancel := context.WithTimeout(context.Background(), min(5*time.Second, e.grace()))
			t0 := time.Now()
			ack, err := js.Publish(ctx, subject, payload(buf, uint64(i+1)))
			took := time.Since(t0)
			cancel()
			if err != nil {
				perr = fmt.Errorf("publish %d: %w", i+1, err)
				break
			}
			if want := base + uint64(i+1); ack.Stream != r.stream || ack.Sequence != want {
				perr = fmt.Errorf("publish %d: ack for stream %q sequence %d, want %q sequence %d",
					i+1, ack.Stream, ack.Sequence, r.stream, want)
				break
			}
			_ = h.RecordValue(max(int64(took), histMin))
			acked++
			e.prog.add(1)
		}
		e.end(time.Time{})
		e.Res.Msgs = acked
		if acked > 0 {
			e.Res.Latency = latency(h)
		}
		e.capped(acked, int64(e.Cfg.Msgs))
		return errors.Join(perr, e.clientErr())
	}
}

// r3PubAsync keeps asyncWindow publishes in flight; every sequence after
// the warm-up's must be acknowledged exactly once.
func r3PubAsync(onLeader bool) func(context.Context, *Env) error {
	return func(_ context.Context, e *Env) error {
		e.Res.Pubs = 1
		var conns []*nats.Conn
		defer func() { closeAll(conns) }()
		r, err := e.r3Setup(&conns)
		if err != nil {
			return err
		}
		defer jsCleanup(r.setup, r.stream)
		subject := e.Prefix + ".js.r3async"
		js, base, err := e.r3Client(r, "pub", r.node(onLeader, len(e.URLs)), subject, &conns,
			jetstream.WithPublishAsyncMaxPending(2*asyncWindow))
		if err != nil {
			return err
		}
		e.restartCap()
		n, acked, err := e.fillAsync(js, r.stream, subject, base, true)
		e.Res.Msgs = acked
		e.capped(acked, int64(n))
		return errors.Join(err, e.clientErr())
	}
}

// runR3Consume fills the R3 stream from a follower's node (not timed),
// then reads it there through a durable pull consumer (its replicas are
// the stream's) with explicit acks: every message after the warm-up once,
// then nothing awaiting an ack.
func runR3Consume(_ context.Context, e *Env) error {
	e.Res.Subs = 1
	var conns []*nats.Conn
	defer func() { closeAll(conns) }()
	r, err := e.r3Setup(&conns)
	if err != nil {
		return err
	}
	defer jsCleanup(r.setup, r.stream)
	subject := e.Prefix + ".js.r3consume"
	js, base, err := e.r3Client(r, "client", r.node(false, len(e.URLs)), subject, &conns,
		jetstream.WithPublishAsyncMaxPending(2*asyncWindow))
	if err != nil {
		return err
	}
	e.restartCap()
	_, filled, err := e.fillAsync(js, r.stream, subject, base, false)
	if err != nil {
		return fmt.Errorf("filling the stream: %w", err)
	}
	e.restartCap() // the read gets a cap of its own
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.CreateOrUpdateConsumer(ctx, r.stream, jetstream.ConsumerConfig{
		Durable:       "bench",
		AckPolicy:     jetstream.AckExplicitPolicy,
		MaxAckPending: 10_000,
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   base + 1,
	})
	if err != nil {
		return fmt.Errorf("creating a durable pull consumer: %w", err)
	}
	if err := e.consumerLed(cons); err != nil {
		return err
	}
	got, err := e.consumeAll(cons, base, filled)
	e.Res.Msgs = got
	e.capped(got, filled)
	return errors.Join(err, e.clientErr())
}

// consumerLed waits until the consumer's info names its leader. A
// replicated consumer may be created before it has one (nats-server runs
// a raft group per consumer); a pull request sent then is lost, and the
// client would only notice after its heartbeat timeout, well inside the
// timed part.
func (e *Env) consumerLed(cons jetstream.Consumer) error {
	var err error
	if !waitFor(time.Now().Add(e.setupTimeout()), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var info *jetstream.ConsumerInfo
		info, err = cons.Info(ctx)
		if err == nil && info.Cluster != nil && info.Cluster.Leader != "" {
			return true
		}
		time.Sleep(50 * time.Millisecond)
		return false
	}) {
		return fmt.Errorf("the consumer has no leader in its info: %v", err)
	}
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The stream chaos suite's clients and checker: publishers that publish
// with message ids until acknowledged, a durable pull consumer acking with
// the server's confirmation, and what is checked once every fault is
// healed.

// chaosAck is one acknowledged publish.
type chaosAck struct {
	id  string
	seq uint64
	at  time.Time
}

// chaosBook records what the clients saw; every method is safe from any
// goroutine.
type chaosBook struct {
	mu        sync.Mutex
	acked     map[string]map[string]uint64 // stream -> msg id -> acked sequence
	tried     map[string]map[string]bool   // stream -> every msg id ever sent
	bySeq     map[string]map[uint64]string // stream -> acked sequence -> msg id
	bad       []string
	published int

	// The consumer's view: confirmed acks, acks sent (confirmed or not)
	// and deliveries.
	confirmed   map[uint64]time.Time // stream seq -> when the ack was confirmed
	ackSent     map[uint64]bool
	ackFailures int
	deliveries  int
}

func newChaosBook() *chaosBook {
	return &chaosBook{acked: map[string]map[string]uint64{}, tried: map[string]map[string]bool{},
		bySeq: map[string]map[uint64]string{}, confirmed: map[uint64]time.Time{}, ackSent: map[uint64]bool{}}
}

func (b *chaosBook) violate(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.bad) < 50 {
		b.bad = append(b.bad, fmt.Sprintf(format, args...))
	}
}

func (b *chaosBook) violations() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.bad...)
}

func (b *chaosBook) sent(stream, id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tried[stream] == nil {
		b.tried[stream] = map[string]bool{}
	}
	b.tried[stream][id] = true
}

// ack records an acknowledgement; two different messages acknowledged at
// one sequence, or one message at two, is split-brain.
func (b *chaosBook) ack(stream, id string, seq uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.acked[stream] == nil {
		b.acked[stream], b.bySeq[stream] = map[string]uint64{}, map[uint64]string{}
	}
	if prev, ok := b.acked[stream][id]; ok && prev != seq {
		b.bad = append(b.bad, fmt.Sprintf("%s: message %s acknowledged at sequence %d and again at %d", stream, id, prev, seq))
	}
	if other, ok := b.bySeq[stream][seq]; ok && other != id {
		b.bad = append(b.bad, fmt.Sprintf("%s: sequence %d acknowledged for message %s and for %s (split-brain)", stream, seq, other, id))
	}
	b.acked[stream][id], b.bySeq[stream][seq] = seq, id
	b.published++
}

// chaosConnect connects a chaos client. It keeps trying when no server
// is up (the first fault may be a power loss of every server, cut while
// the clients connect: seed 860132) and reconnects for ever.
func chaosConnect(urls string) (*nats.Conn, error) {
	return nats.Connect(urls, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.Timeout(2*time.Second), nats.RetryOnFailedConnect(true))
}

// chaosPublisher publishes stream's subject with ids <name>-<n>, each
// retried (same id) until acknowledged, until stop closes. Each new
// message is sent after the previous one was acknowledged, so its
// sequence must be higher: sequences never go back.
func chaosPublisher(t *testing.T, urls, name, streamName, subject string, book *chaosBook, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	nc, err := chaosConnect(urls)
	if err != nil {
		book.violate("publisher %s: connect: %v", name, err)
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	var last uint64
	for n := 0; ; n++ {
		id := fmt.Sprintf("%s-%d", name, n)
		book.sent(streamName, id)
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			ack, err := js.Publish(ctx, subject, []byte(id), jetstream.WithMsgID(id), jetstream.WithExpectStream(streamName))
			cancel()
			if err == nil {
				if ack.Sequence <= last {
					book.violate("%s: message %s acknowledged at sequence %d after %d (sequence went back)", streamName, id, ack.Sequence, last)
				}
				last = ack.Sequence
				book.ack(streamName, id, ack.Sequence)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// chaosConsumer pulls from the durable consumer and acks each delivery
// with AckSync, until stop closes. Every fetch asks with a new pull
// request (and inbox), so what it receives was sent after it started: a
// message whose ack the server had confirmed before then must not come
// again.
func chaosConsumer(urls string, cons string, streamName string, book *chaosBook, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	nc, err := chaosConnect(urls)
	if err != nil {
		book.violate("consumer: connect: %v", err)
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	var c jetstream.Consumer
	for c == nil {
		select {
		case <-stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err = js.Consumer(ctx, streamName, cons)
		cancel()
		if err != nil {
			c = nil
			time.Sleep(100 * time.Millisecond)
		}
	}
	for {
		select {
		case <-stop:
			return
		default:
		}
		asked := time.Now()
		batch, err := c.Fetch(20, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		for m := range batch.Messages() {
			select {
			case <-stop:
				return
			default:
			}
			meta, err := m.Metadata()
			if err != nil {
				continue
			}
			seq := meta.Sequence.Stream
			book.mu.Lock()
			book.deliveries++
			when, wasAcked := book.confirmed[seq]
			book.mu.Unlock()
			if wasAcked && when.Before(asked) {
				book.violate("%s/%s: message %d delivered again (delivery %d) after its ack was confirmed", streamName, cons, seq, meta.NumDelivered)
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err = m.DoubleAck(ctx)
			cancel()
			book.mu.Lock()
			book.ackSent[seq] = true
			if err != nil {
				book.ackFailures++
			}
			if _, ok := book.confirmed[seq]; !ok && err == nil {
				book.confirmed[seq] = time.Now()
			}
			book.mu.Unlock()
		}
	}
}

// replicaMessages reads every message of stream from the replica of the
// server at url with direct gets (answered by the server the client is
// on): sequence -> message id.
func replicaMessages(url, name string, last uint64) (map[uint64]string, error) {
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	out := map[uint64]string{}
	for seq := uint64(1); seq <= last; seq++ {
		req, _ := json.Marshal(map[string]uint64{"seq": seq})
		var msg *nats.Msg
		for try := 0; ; try++ {
			msg, err = nc.Request("$JS.API.DIRECT.GET."+name, req, 5*time.Second)
			if err == nil || try == 3 {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("direct get %d: %w", seq, err)
		}
		switch status := msg.Header.Get("Status"); status {
		case "":
			if got := msg.Header.Get("Nats-Sequence"); got != strconv.FormatUint(seq, 10) {
				return nil, fmt.Errorf("direct get %d answered sequence %q", seq, got)
			}
			out[seq] = string(msg.Data)
		case "404":
		default:
			return nil, fmt.Errorf("direct get %d: status %s %s", seq, status, msg.Header.Get("Description"))
		}
	}
	return out, nil
}

// checkStream compares every replica of stream name with the others and
// with the acknowledgements.
func (c *chaosCluster) checkStream(name string, book *chaosBook) {
	holders, ok := c.assignment(name)
	if !ok {
		book.violate("%s: no replica assigned, or the servers' meta copies disagree on its replicas", name)
		// Each server's view, to tell a meta copy that lags or stopped
		// from an assignment the group lost.
		for _, s := range c.servers {
			if s.node == nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			st := s.node.MetaStatus(ctx)
			cancel()
			peers, ok := s.node.Assignment(name)
			c.t.Logf("%s on %s: assigned %v %v; meta started %v leader %q commit %d applied %d; recovering %v",
				name, s.name, ok, peers, st.Started, st.Leader, st.Commit, st.Applied, s.node.Recovering())
		}
		return
	}
	var replicas []*chaosServer
	for _, s := range c.servers {
		if slices.Contains(holders, s.name) {
			replicas = append(replicas, s)
		}
	}
	// Converged: every replica holds as much as the others.
	var last uint64
	var lasts []uint64
	defer func() {
		if c.t.Failed() {
			c.t.Logf("%s: last sequences of the replicas %v: %v", name, holders, lasts)
		}
	}()
	waitLong(c.t, name+": replicas converged", func() bool {
		lasts = lasts[:0]
		for _, s := range replicas {
			found := false
			for _, st := range s.layers.global().Stats().Streams {
				if st.Name == name {
					lasts, found = append(lasts, st.LastSeq), true
				}
			}
			if !found {
				return false
			}
		}
		for _, l := range lasts[1:] {
			if l != lasts[0] {
				return false
			}
		}
		last = lasts[0]
		return true
	})
	var first map[uint64]string
	for i, s := range replicas {
		msgs, err := replicaMessages(fmt.Sprintf("nats://127.0.0.1:%d", s.port), name, last)
		if err != nil {
			book.violate("%s on %s: %v", name, s.name, err)
			return
		}
		if i == 0 {
			first = msgs
			continue
		}
		for seq := uint64(1); seq <= last; seq++ {
			if msgs[seq] != first[seq] {
				book.violate("%s: sequence %d holds %q on %s and %q on %s", name, seq, first[seq], replicas[0].name, msgs[seq], s.name)
			}
		}
	}
	book.mu.Lock()
	defer book.mu.Unlock()
	where := map[string]uint64{}
	for seq, id := range first {
		if prev, ok := where[id]; ok {
			book.bad = append(book.bad, fmt.Sprintf("%s: message %s stored twice (sequences %d and %d)", name, id, prev, seq))
		}
		where[id] = seq
		if !book.tried[name][id] {
			book.bad = append(book.bad, fmt.Sprintf("%s: sequence %d holds %q, never published", name, seq, id))
		}
	}
	lost := 0
	for id, seq := range book.acked[name] {
		if got, ok := first[seq]; !ok || got != id {
			lost++
			if lost <= 10 {
				book.bad = append(book.bad, fmt.Sprintf("%s: acknowledged message %s at sequence %d is not there (holds %q; found at %d)", name, id, seq, got, where[id]))
			}
		}
	}
	if lost > 0 {
		book.bad = append(book.bad, fmt.Sprintf("%s: %d of %d acknowledged messages lost", name, lost, len(book.acked[name])))
	}
	c.t.Logf("%s: %d messages on %d replicas, %d acknowledged", name, len(first), len(replicas), len(book.acked[name]))
}

// assignment is stream name's replicas once every server's copy of the
// meta group holds the stream's assignment, the same on each; false when
// that did not happen within a minute. A copy read at once after healing
// may lag: a server whose disk was wiped, and that recovers its meta
// replica once its peers answer, knows the leader from the leader's first
// append, before the entries (or the snapshot) holding the assignments
// reach it. The checker read that empty copy once (seed 3016: x1 wiped
// while x3 was deaf, then x3 lost power, so x1 recovered only as the
// faults ended); a client asking that server sees the stream once its
// copy caught up, which is what is waited for here, and every copy must
// then agree.
func (c *chaosCluster) assignment(name string) ([]string, bool) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		var first []string
		agree := true
		for i, s := range c.servers {
			peers, known := s.node.Assignment(name)
			peers = slices.Sorted(slices.Values(peers))
			if !known || len(peers) == 0 || i > 0 && !slices.Equal(peers, first) {
				agree = false
				break
			}
			first = peers
		}
		if agree {
			return first, true
		}
		if time.Now().After(deadline) {
			return nil, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkConsumer waits for the consumer to have delivered and had acked
// every message of its stream, its ack floor at the stream's last
// sequence. An ack that was sent and not confirmed may have committed
// (then the message rightly never comes again); a message never delivered
// at all was skipped.
func checkConsumer(t *testing.T, js jetstream.JetStream, streamName, cons string, book *chaosBook, last uint64) {
	deadline := time.Now().Add(90 * time.Second)
	for {
		book.mu.Lock()
		var missing []uint64
		for seq := uint64(1); seq <= last; seq++ {
			if _, ok := book.confirmed[seq]; !ok && !book.ackSent[seq] {
				missing = append(missing, seq)
			}
		}
		book.mu.Unlock()
		var floor uint64
		info := ""
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if c, err := js.Consumer(ctx, streamName, cons); err == nil {
			ci := c.CachedInfo()
			floor = ci.AckFloor.Stream
			info = fmt.Sprintf("consumer: ack floor %d, delivered %d, pending %d, ack pending %d", ci.AckFloor.Stream, ci.Delivered.Stream, ci.NumPending, ci.NumAckPending)
		}
		cancel()
		if len(missing) == 0 && floor == last {
			return
		}
		if time.Now().After(deadline) {
			book.violate("%s/%s: %d messages never delivered (first %v); %s, stream's last sequence %d", streamName, cons, len(missing), missing[:min(len(missing), 10)], info, last)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

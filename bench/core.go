package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// The core scenarios: publish, deliver to one, many, or a queue group.
// Each publisher numbers its messages 1..n in the first 8 payload bytes
// (when --size allows), so that receivers can check order and duplicates.

// publishLoop publishes up to n messages on nc, subject(i) for the i-th,
// until the time cap, then flushes: the flush's PONG proves the server has
// read every message. It returns how many it published.
func (e *Env) publishLoop(nc *nats.Conn, n, size int, subject func(i int) string) (int64, error) {
	buf := make([]byte, size)
	var sent, reported int64
	for i := 0; i < n; i++ {
		if i&255 == 0 {
			if e.expired() {
				break
			}
			e.prog.add(sent - reported)
			reported = sent
		}
		if err := nc.Publish(subject(i), payload(buf, uint64(i+1))); err != nil {
			return sent, fmt.Errorf("publish: %w", err)
		}
		sent++
	}
	e.prog.add(sent - reported)
	if err := nc.FlushTimeout(e.grace()); err != nil {
		return sent, fmt.Errorf("flush after %d messages: %w", sent, err)
	}
	return sent, nil
}

func fixed(subject string) func(int) string { return func(int) string { return subject } }

// runPub: publishers only. Nothing is delivered; the check is that every
// publisher's final flush round trip succeeds and no -ERR came back.
func runPub(_ context.Context, e *Env) error {
	n := e.Cfg.pubs(defaultPubs)
	e.Res.Pubs = n
	var conns []*nats.Conn
	defer func() { closeAll(conns) }()
	for i := range n {
		if _, err := e.connect(fmt.Sprintf("pub%d", i), &conns); err != nil {
			return err
		}
	}
	return e.publishAll(n, func(i, msgs int) (int64, error) {
		return e.publishLoop(conns[i], msgs, e.Cfg.Size, fixed(e.Prefix+".pub"))
	})
}

// publishAll runs n publishers at once, publisher i sending its share of
// the messages through publish, and records how many were sent. The check
// is that every publisher finished without error and no client saw one.
func (e *Env) publishAll(n int, publish func(i, msgs int) (int64, error)) error {
	parts := split(e.Cfg.Msgs, n)
	var total atomic.Int64
	errs := make([]error, n)
	var wg sync.WaitGroup
	e.begin(int64(e.Cfg.Msgs))
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent, err := publish(i, parts[i])
			total.Add(sent)
			errs[i] = err
		}()
	}
	wg.Wait()
	e.end(time.Time{})
	e.Res.Msgs = total.Load()
	e.capped(e.Res.Msgs, int64(e.Cfg.Msgs))
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return e.clientErr()
}

// receiver counts one subscriber's deliveries and checks their order.
type receiver struct {
	count    atomic.Int64
	disorder atomic.Int64
	next     uint64 // only touched by the subscription's handler goroutine
}

func (r *receiver) handle(m *nats.Msg, last *lastSeen) {
	if seq, ok := getSeq(m.Data); ok {
		if r.next != 0 && seq != r.next {
			r.disorder.Add(1)
		}
		r.next = seq + 1
	}
	r.count.Add(1)
	last.mark()
}

func runPubSub(ctx context.Context, e *Env) error { return deliver(ctx, e, 1) }

func runFanout(ctx context.Context, e *Env) error { return deliver(ctx, e, e.Cfg.subs()) }

// deliver runs one publisher and nsubs subscribers on their own
// connections; each subscriber must get every message, once, in order.
// The headline rate counts deliveries (messages x subscribers).
func deliver(_ context.Context, e *Env, nsubs int) error {
	e.Res.Pubs, e.Res.Subs = 1, nsubs
	var conns []*nats.Conn
	defer func() { closeAll(conns) }()
	subject := e.Prefix + ".deliver"
	recv := make([]*receiver, nsubs)
	var last lastSeen
	for i := range recv {
		nc, err := e.connect(fmt.Sprintf("sub%d", i), &conns)
		if err != nil {
			return err
		}
		r := &receiver{}
		recv[i] = r
		if err := subscribeReady(nc, subject, "", func(m *nats.Msg) { r.handle(m, &last) }); err != nil {
			return err
		}
	}
	pub, err := e.connect("pub", &conns)
	if err != nil {
		return err
	}
	errs, err := e.deliverToAll(pub, e.Cfg.Size, subject, recv, &last)
	if err != nil {
		return err
	}
	if e.Cfg.Size < 8 {
		e.note("--size %d < 8: order not checked, counts only", e.Cfg.Size)
	}
	return errors.Join(append(errs, e.clientErr())...)
}

// deliverToAll is the measured phase of a scenario in which every receiver
// must get every message, once, in order: it publishes Cfg.Msgs messages
// of size bytes on subject, waits for the receivers within the grace time
// and returns what each missed or saw out of order (err is the publisher's
// own failure). The rate counts deliveries (messages x receivers).
func (e *Env) deliverToAll(pub *nats.Conn, size int, subject string, recv []*receiver, last *lastSeen) (errs []error, err error) {
	e.begin(int64(e.Cfg.Msgs))
	sent, perr := e.publishLoop(pub, e.Cfg.Msgs, size, fixed(subject))
	all := func() bool {
		for _, r := range recv {
			if r.count.Load() < sent {
				return false
			}
		}
		return true
	}
	waitFor(time.Now().Add(e.grace()), all)
	e.end(last.time())
	e.Res.Msgs = sent * int64(len(recv))
	e.capped(sent, int64(e.Cfg.Msgs))
	if perr != nil {
		return nil, perr
	}
	for i, r := range recv {
		if got := r.count.Load(); got != sent {
			errs = append(errs, fmt.Errorf("subscriber %d received %d of %d messages", i, got, sent))
		}
		if d := r.disorder.Load(); d > 0 {
			errs = append(errs, fmt.Errorf("subscriber %d saw %d messages out of order", i, d))
		}
	}
	return errs, nil
}

// runQueue: one publisher, N members of one queue group; every message
// must reach exactly one member. Messages carry their sequence number, so
// the payload is at least 8 bytes here.
func runQueue(_ context.Context, e *Env) error {
	n := e.Cfg.subs()
	e.Res.Pubs, e.Res.Subs = 1, n
	size := e.Cfg.Size
	if size < 8 {
		e.note("payload raised from %d to 8 bytes to carry sequence numbers", size)
		size = 8
	}
	var conns []*nats.Conn
	defer func() { closeAll(conns) }()
	subject := e.Prefix + ".queue"
	once := newExactlyOnce(e.Cfg.Msgs)
	counts := make([]atomic.Int64, n)
	var total atomic.Int64
	var last lastSeen
	for i := range n {
		nc, err := e.connect(fmt.Sprintf("member%d", i), &conns)
		if err != nil {
			return err
		}
		if err := subscribeReady(nc, subject, "workers", func(m *nats.Msg) {
			seq, _ := getSeq(m.Data)
			once.add(seq)
			counts[i].Add(1)
			total.Add(1)
			last.mark()
		}); err != nil {
			return err
		}
	}
	pub, err := e.connect("pub", &conns)
	if err != nil {
		return err
	}
	return e.sendToQueue(pub, size, subject, &total, &last, once, counts, "member")
}

// sendToQueue publishes the run's messages from pub on subject, waits for
// the queue group's members to count them into total, notes how they
// spread over counts (one per member, or per node), and checks each
// message was delivered exactly once.
func (e *Env) sendToQueue(pub *nats.Conn, size int, subject string, total *atomic.Int64, last *lastSeen,
	once *exactlyOnce, counts []atomic.Int64, per string) error {
	e.begin(int64(e.Cfg.Msgs))
	sent, perr := e.publishLoop(pub, e.Cfg.Msgs, size, fixed(subject))
	// Wait for the count, then a little longer so that a duplicate
	// delivered late is still caught.
	waitFor(time.Now().Add(e.grace()), func() bool { return total.Load() >= sent })
	e.end(last.time())
	time.Sleep(20 * time.Millisecond)
	e.Res.Msgs = sent
	e.capped(sent, int64(e.Cfg.Msgs))
	if perr != nil {
		return perr
	}
	spread := make([]int64, len(counts))
	for i := range counts {
		spread[i] = counts[i].Load()
	}
	e.note("deliveries per %s: %v", per, spread)
	return errors.Join(once.check(sent), e.clientErr())
}

package stream

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wisp-mq/wisp/stream/store"
)

// A consumer is a cursor over one stream with at-least-once delivery: it
// hands messages to pull requests (pull.go) or to a deliver subject
// (push.go), remembers what it handed out until it is acknowledged
// (ack.go), and hands it out again when its ack_wait runs out
// (redeliver.go).
//
// # Concurrency
//
// Everything mutable is under mu. Four kinds of goroutine touch it: the
// broker callbacks (acks and pull requests, on client goroutines), the
// consumer's own delivery goroutine (the only one that sends messages, so
// delivery order is the order it decides), its timer (ack deadlines,
// request expiry, heartbeats, inactivity), and the store's writer (the
// flush Op, consumer_store.go). Two rules keep them from deadlocking:
//
//   - lock order is consumer.mu, then stream.mu; the writer never holds two
//     consumers' locks at once;
//   - nothing holding mu publishes to the broker or submits to the store:
//     work that needs either is collected under the lock and done after
//     it (a publish may run a stream's capture synchronously, which may
//     wait on the writer, which may be waiting for mu).
//
// # State
//
// The acknowledgement state is an embedded ackState (ack_state.go), a
// pure state machine that takes the time as an argument; the consumer
// around it is its driver: the timer, the delivery goroutine, pull
// requests, flow control and the outbox. The driver decides and stamps,
// and changes ackState only by applying operations (consumer_apply.go):
// deliver, ack, nak, term, progress, redeliver-due, forget, reset,
// dead-lettered and dead-letter-hold. The pin of a priority group (priority.go) is the
// driver's alone and never stored.
//
// next is the next stream sequence to look at for a first delivery. The
// pending set holds every delivered, unacknowledged message with its
// delivery count and redelivery deadline; one heap of deadlines per
// consumer and one timer (not one per message) drive redelivery. Changes
// to the pending set are marked dirty and written by one flush at a time
// (a consumer-flush operation) through the store's group commit, so acks
// ride the same batches and fsyncs as publishes.
//
// A pause (pause.go) is one more deadline for the same timer; while it
// runs the delivery goroutine sends nothing. A reset (reset.go) applies a
// reset operation, as one delivery would, and waits for the flush that
// writes it.
type consumer struct {
	s         *stream
	svc       *Service
	name      string
	created   time.Time
	ackPrefix string // "$JS.ACK.<stream>.<consumer>."
	persist   bool   // state is written to the store

	filt atomic.Pointer[[]string] // cfg.filters(), read without mu by wake
	est  atomic.Int64             // estimate of num_pending for reply subjects

	mu  sync.Mutex
	cfg ConsumerConfig
	// ackState is the acknowledgement state (ack_state.go): the pure
	// part, which the rest of the consumer drives.
	ackState
	opBuf   []byte       // the operation being applied (consumer_apply.go)
	ahead   []*store.Msg // new messages read ahead of next, in order
	redo    []*store.Msg // redeliveries read ahead, in order
	scratch []byte       // reply subjects are built here

	waiting []*pullReq // pull requests, served round robin
	rr      int

	// Persistence (consumer_store.go); what changed is in ackState.
	deleted     bool
	flushQueued bool        // a flush is armed on flushTimer or submitted
	flushArmed  bool        // ... armed, not yet submitted
	flushTimer  *time.Timer // submits the flush after Service.flushDelay (real time: it batches I/O and decides no state)
	rewrite     bool
	ackReplies  []string     // DoubleAck replies waiting for the next commit
	commitWaits []chan error // API calls (reset) waiting for the next commit
	fop         flushOp
	flushEnc    []byte // the consumer's flush operation, encoded once

	// Push and replay (push.go, consumer_deliver.go).
	hbNext     time.Time
	fcBytes    int    // payload sent since the last flow control request
	fcReply    string // the unanswered flow control request, if any
	fcSeq      uint64
	fcStop     func()
	retryArmed bool
	replayTS   int64     // stored time of the last message replayed at original speed
	replaySent time.Time // when it was sent
	rateNext   time.Time // rate_limit_bps: when the next message may go

	// Lifecycle and timing (redeliver.go).
	pauseEnd time.Time // while paused, when delivery resumes (pause.go)
	active   time.Time // last sign of life, for inactive_threshold
	closed   bool
	timer    Timer
	timerAt  time.Time
	kick     chan struct{}
	quit     chan struct{}
	done     chan struct{}
	ackStop  func()

	// Priority groups (priority.go): the pin, drawn by the driver and
	// never stored.
	pinID    string
	pinGroup string
	pinnedAt time.Time
	pinGen   uint64 // counts unpins, so a stale pin timeout does nothing
	pinTimer Timer

	// Dead letters (deadletter.go).
	dl deadLetters

	// A replicated stream's driver (consumer_replicated.go).
	replDriver
}

// consumerSet is a stream's consumers. Changes are serialised by mu; the
// writer goroutine reads list without locking when a message is stored.
type consumerSet struct {
	mu     sync.Mutex
	byName map[string]*consumer
	list   atomic.Pointer[[]*consumer]
}

func (cs *consumerSet) get(name string) *consumer {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.byName[name]
}

// all returns the consumers in name order.
func (cs *consumerSet) all() []*consumer {
	p := cs.list.Load()
	if p == nil {
		return nil
	}
	out := append([]*consumer(nil), (*p)...)
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// add and remove are called with cs.mu held.
func (cs *consumerSet) add(c *consumer) {
	if cs.byName == nil {
		cs.byName = map[string]*consumer{}
	}
	cs.byName[c.name] = c
	cs.publishList()
}

func (cs *consumerSet) remove(c *consumer) bool {
	if cs.byName[c.name] != c {
		return false
	}
	delete(cs.byName, c.name)
	cs.publishList()
	return true
}

func (cs *consumerSet) publishList() {
	l := make([]*consumer, 0, len(cs.byName))
	for _, c := range cs.byName {
		l = append(l, c)
	}
	cs.list.Store(&l)
}

// newConsumer builds a consumer, looked at now (for its pause and
// inactivity); start makes it live.
func newConsumer(s *stream, cfg *ConsumerConfig, created, now time.Time) *consumer {
	c := &consumer{
		s: s, svc: s.svc, name: cfg.Name, created: created, cfg: *cfg,
		ackPrefix: "$JS.ACK." + s.name + "." + cfg.Name + ".",
		persist:   !cfg.MemoryStorage,
		ackState:  newAckState(s.cfgRetention()),
		kick:      make(chan struct{}, 1),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
		active:    now,
	}
	c.pauseEnd = pauseDeadline(cfg.PauseUntil, c.active)
	c.fop.c = c
	c.flushTimer = time.AfterFunc(time.Hour, c.fireFlush)
	c.flushTimer.Stop()
	f := cfg.filters()
	c.filt.Store(&f)
	return c
}

// start subscribes to the consumer's acks and starts its delivery
// goroutine and timer.
func (c *consumer) start() error {
	var stop func()
	var err error
	if rs, ok := c.svc.broker.(routedSubscriber); ok && c.s.repl != nil {
		// Acks come from clients anywhere in the cluster; every replica
		// hears them and only the leader's driver acts on them.
		stop, err = rs.SubscribeRouted(c.ackPrefix+">", c.onAck)
	} else {
		stop, err = c.svc.broker.Subscribe(c.ackPrefix+">", "", c.onAck)
	}
	if err != nil {
		return err
	}
	if c.cfg.isPush() {
		// Subscribed whether or not flow control is on now: an update may
		// turn it on.
		var fcStop func()
		if rs, ok := c.svc.broker.(routedSubscriber); ok && c.s.repl != nil {
			fcStop, err = rs.SubscribeRouted(c.fcPrefix()+">", c.onFlowControl) // answered from anywhere
		} else {
			fcStop, err = c.svc.broker.Subscribe(c.fcPrefix()+">", "", c.onFlowControl)
		}
		if err != nil {
			stop()
			return err
		}
		c.fcStop = fcStop
	}
	c.mu.Lock()
	c.ackStop = stop
	c.timer = c.svc.clock.AfterFunc(time.Hour, c.onTimer)
	c.timer.Stop()
	now := c.svc.clock.Now()
	if c.cfg.isPush() && c.cfg.IdleHeartbeat > 0 {
		c.hbNext = now.Add(c.cfg.IdleHeartbeat)
	}
	c.rearmLocked(now)
	var held []dlJob
	if c.s.isLeader() {
		held = c.heldJobsLocked() // a restart's: the worker that held them is gone
	}
	c.mu.Unlock()
	if len(held) > 0 {
		c.queueDeadLetters(held)
	}
	go c.deliverLoop()
	c.wake()
	return nil
}

// wake asks the delivery goroutine to look for work. It never blocks.
func (c *consumer) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// matches reports whether a message on subject is for this consumer.
func (c *consumer) matches(subject string) bool {
	f := *c.filt.Load()
	if len(f) == 0 {
		return true
	}
	for _, p := range f {
		if p == subject || subjectMatches(p, subject) {
			return true
		}
	}
	return false
}

// wakeConsumers is called on the writer goroutine after a message on
// subject is committed: it bumps the pending estimate of the consumers it
// is for and wakes them. It takes no lock.
func (s *stream) wakeConsumers(subject []byte) {
	p := s.cons.list.Load()
	if p == nil || len(*p) == 0 {
		return
	}
	subj := string(subject)
	for _, c := range *p {
		if c.matches(subj) {
			c.est.Add(1)
			c.wake()
		}
	}
}

// wantedByConsumer reports whether some consumer's filter selects
// subject; an interest stream keeps only such messages. Lock-free: it runs
// in the publish path with s.mu held.
func (s *stream) wantedByConsumer(subject []byte) bool {
	p := s.cons.list.Load()
	if p == nil {
		return false
	}
	subj := string(subject)
	for _, c := range *p {
		if c.matches(subj) {
			return true
		}
	}
	return false
}

// stop ends the consumer's goroutines and subscriptions. Waiting pull
// requests get "409 Consumer Deleted" when notify is set. It does not
// touch the store.
func (c *consumer) stop(notify bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	started := c.timer != nil
	var out outbox
	if notify {
		for _, r := range c.waiting {
			out.status(r.reply, 409, "Consumer Deleted", nil)
		}
	}
	c.waiting = nil
	if c.timer != nil {
		c.timer.Stop()
	}
	// An armed flush is not needed: the consumer is being deleted, or
	// closed with a flushNow to follow.
	if c.flushArmed && c.flushTimer.Stop() {
		c.flushArmed, c.flushQueued = false, false
	}
	stop, fcStop := c.ackStop, c.fcStop
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	if fcStop != nil {
		fcStop()
	}
	close(c.quit)
	if started {
		<-c.done
	}
	out.send(c.svc)
}

// ackWaitFor is the ack wait after the count-th delivery: the backoff
// entry for it when a backoff list is set.
func (c *consumer) ackWaitFor(count uint64) time.Duration {
	if n := len(c.cfg.BackOff); n > 0 {
		i := int(count) - 1
		if i < 0 {
			i = 0
		}
		if i >= n {
			i = n - 1
		}
		return c.cfg.BackOff[i]
	}
	return c.cfg.AckWait
}

// stopConsumers stops every consumer of a deleted stream; their stored
// state went with the stream's key range. It returns their names, in
// order, for the deletion advisories.
func (s *stream) stopConsumers() []string {
	s.cons.mu.Lock()
	var all []*consumer
	for _, c := range s.cons.byName {
		all = append(all, c)
	}
	clear(s.cons.byName)
	s.cons.publishList()
	s.cons.mu.Unlock()
	for _, c := range all {
		c.mu.Lock()
		c.deleted = true // its keys went with the stream's
		c.mu.Unlock()
		c.stop(true)
	}
	names := make([]string, len(all))
	for i, c := range all {
		names[i] = c.name
	}
	sort.Strings(names)
	return names
}

// closeConsumers stops every consumer and writes its final state; called
// by Service.Close before the stores close.
func (svc *Service) closeConsumers() {
	for _, s := range svc.sortedStreams() {
		for _, c := range s.cons.all() {
			c.stop(false)
			c.flushNow()
		}
	}
}

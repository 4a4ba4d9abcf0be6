package stream

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nuid"
)

// Dead letters, which Wisp has beyond nats-server. A consumer whose
// metadata names a dead-letter subject (metaDeadLetter) publishes a copy
// of every message it gives up on there: one delivered max_deliver times
// without an ack, or one terminated (+TERM, AckTerm). A stream capturing
// that subject is the dead-letter queue.
//
// The order is what makes it safe: the copy is published and its PubAck
// (the copy committed in the dead-letter stream) awaited first, and only
// then is the message given up on the original consumer, by an operation
// (dead-lettered for max_deliver, term for +TERM) with the advisory
// nats-server would send. Between the two the message stays pending with
// no deadline (held by the nak or redeliver-due that reached
// max_deliver, or by a dead-letter-hold for +TERM), so it is neither
// redelivered nor lost. The hold is part of the consumer's state: stored
// with its pending entry and applied on every replica of a replicated
// stream. After a crash there, or when a replicated stream's leader
// changes, the driver that takes over asks for the copy again
// (heldJobsLocked): a max_deliver message is dead-lettered again; a
// terminated one is dead-lettered as terminated, without the reason its
// client gave. Either way the dead-letter stream gets at least one copy,
// at most a duplicate (one with the same Nats-Msg-Id, which its duplicate
// window drops).
//
// A copy that cannot be stored (no stream captures the subject, the
// stream refuses it, no PubAck in time) is retried with a growing delay;
// the message stays on its consumer meanwhile.
//
// The worker, its queue and the retries are the driver's: the state
// machine only holds the message (max_deliver) and later applies the
// give-up operation the worker proposes.

// metaDeadLetter is the consumer metadata key naming the dead-letter
// subject.
const metaDeadLetter = "wisp.dead_letter_subject"

// Headers of a dead-letter copy. The original's own headers are kept,
// except Nats-* control headers (an expectation, a rollup or a TTL must
// not act on the dead-letter stream).
const (
	hdrDLStream     = "Wisp-DL-Stream"
	hdrDLConsumer   = "Wisp-DL-Consumer"
	hdrDLSequence   = "Wisp-DL-Sequence"
	hdrDLDeliveries = "Wisp-DL-Deliveries"
	hdrDLReason     = "Wisp-DL-Reason" // "max_deliver" or "terminated"
	hdrDLTermReason = "Wisp-DL-Term-Reason"
	hdrDLSubject    = "Wisp-DL-Subject"
	hdrDLTime       = "Wisp-DL-Time"

	dlReasonMaxDeliver = "max_deliver"
	dlReasonTerminated = "terminated"
)

// Dead-letter retries and the wait for a PubAck pace I/O, so they run on
// real time.
var (
	dlAckWait    = 5 * time.Second
	dlRetryFirst = 500 * time.Millisecond
	dlRetryMax   = 30 * time.Second
)

// dlJob is one message to dead-letter.
type dlJob struct {
	c      *consumer
	seq    uint64
	dseq   uint64
	count  uint64
	term   bool
	reason string // the +TERM reason
}

// deadLetters is a consumer's dead-letter worker state, under its own
// lock (the worker never holds the consumer's while it publishes).
type deadLetters struct {
	mu      sync.Mutex
	queue   []dlJob
	queued  map[uint64]bool // sequences in queue or in flight
	running bool
}

// deadLetterSubject is the consumer's dead-letter subject, or "".
func (c *ConsumerConfig) deadLetterSubject() string { return c.Metadata[metaDeadLetter] }

// validateDeadLetter checks the dead-letter subject of a consumer of a
// stream with config sc.
func (c *ConsumerConfig) validateDeadLetter(sc *Config) *APIError {
	subj, ok := c.Metadata[metaDeadLetter]
	if !ok {
		return nil
	}
	bad := func(why string) *APIError {
		return apiErr(errConsumerCreate, fmt.Sprintf("invalid %s %q: %s", metaDeadLetter, subj, why))
	}
	switch {
	case !validSubject(subj) || hasWildcard(subj):
		return bad("not a literal subject")
	case subjectsCollide(subj, "$JS.>") || subjectsCollide(subj, "$SYS.>"):
		return bad("a reserved subject")
	case c.AckPolicy == AckNone:
		return bad("a consumer with ack policy none gives up on nothing")
	}
	for _, ss := range sc.Subjects {
		if subjectsCollide(ss, subj) {
			return bad("the stream's own subject")
		}
	}
	return nil
}

// holdDeadLetter takes over passOver for a consumer with a dead-letter
// subject: the message stays pending without a deadline (part of the
// operation's apply) and the worker is asked, after the lock, to copy it.
// It reports whether the consumer has one.
func (c *consumer) holdDeadLetter(seq uint64, p *pend, out *outbox) bool {
	if c.cfg.deadLetterSubject() == "" {
		return false
	}
	p.due = 0 // a deadline still in the heap is stale now
	c.dirty[seq] = struct{}{}
	out.dl = append(out.dl, dlJob{c: c, seq: seq, count: p.count})
	return true
}

// termDeadLetter is +TERM for a consumer with a dead-letter subject: the
// term is applied once the copy is stored. It reports whether it took
// the term. Called with mu held.
func (c *consumer) termDeadLetter(sseq, dseq uint64, p *pend, reason string, out *outbox) bool {
	if c.cfg.deadLetterSubject() == "" {
		return false
	}
	c.proposeLocked(kindDeadLetterHold, func(w opWriter) opWriter { w.u(sseq); return w }, out)
	out.dl = append(out.dl, dlJob{c: c, seq: sseq, dseq: dseq, count: p.count, term: true, reason: reason})
	return true
}

// heldJobsLocked lists the messages held for their dead-letter copy (no
// deadline, not queued: the hold is part of the consumer's state, stored
// and replicated), for a driver that has just taken the consumer over: a
// new leader of a replicated stream, or a restarted server. The driver
// that asked for their copies is gone with its leadership or its
// process, and a held message is redelivered by nobody else. One
// delivered max_deliver times is given up as at max_deliver; one held
// below it was terminated (+TERM), without the reason its client gave,
// which only that driver heard. Called with mu held.
func (c *consumer) heldJobsLocked() []dlJob {
	if c.cfg.deadLetterSubject() == "" {
		return nil
	}
	var jobs []dlJob
	for seq, p := range c.pending {
		if p.queued || p.due != 0 {
			continue
		}
		term := c.cfg.MaxDeliver <= 0 || p.count < uint64(c.cfg.MaxDeliver)
		jobs = append(jobs, dlJob{c: c, seq: seq, dseq: p.dseq, count: p.count, term: term})
	}
	slices.SortFunc(jobs, func(a, b dlJob) int { return cmp.Compare(a.seq, b.seq) })
	return jobs
}

// queueDeadLetters hands jobs to the consumer's worker, starting it if
// needed; a message already queued is not queued twice.
func (c *consumer) queueDeadLetters(jobs []dlJob) {
	d := &c.dl
	d.mu.Lock()
	if d.queued == nil {
		d.queued = map[uint64]bool{}
	}
	for _, j := range jobs {
		if !d.queued[j.seq] {
			d.queued[j.seq] = true
			d.queue = append(d.queue, j)
		}
	}
	start := !d.running && len(d.queue) > 0
	d.running = d.running || start
	d.mu.Unlock()
	if start && !c.svc.deadLetters.start(c.deadLetterLoop) {
		// The Service is closing: the jobs are found again from the
		// consumer's state at the next start.
		d.mu.Lock()
		d.running = false
		d.mu.Unlock()
	}
}

// deadLetterLoop copies queued messages to the dead-letter subject one at
// a time, and ends when the queue is empty or the consumer stops.
func (c *consumer) deadLetterLoop() {
	retry := dlRetryFirst
	for {
		d := &c.dl
		d.mu.Lock()
		if len(d.queue) == 0 {
			d.running = false
			d.mu.Unlock()
			return
		}
		j := d.queue[0]
		d.mu.Unlock()
		select {
		case <-c.quit:
			d.mu.Lock()
			d.running = false
			d.queue, d.queued = nil, nil
			d.mu.Unlock()
			return
		default:
		}
		if !c.s.isLeader() {
			// A replicated stream's leader changed: its new leader
			// copies the message (heldJobsLocked), and this server's
			// give-up could not be proposed anyway.
			d.mu.Lock()
			d.queue = d.queue[1:]
			delete(d.queued, j.seq)
			d.mu.Unlock()
			retry = dlRetryFirst
			continue
		}
		if err := c.deadLetter(j); err != nil {
			c.svc.log.Warn("dead letter not stored; retrying", "stream", c.s.name, "consumer", c.name,
				"seq", j.seq, "subject", c.deadLetterSubjectNow(), "retry_in", retry, "err", err)
			select {
			case <-c.quit:
			case <-time.After(retry):
			}
			retry = min(2*retry, dlRetryMax)
			continue
		}
		retry = dlRetryFirst
		d.mu.Lock()
		d.queue = d.queue[1:]
		delete(d.queued, j.seq)
		d.mu.Unlock()
	}
}

func (c *consumer) deadLetterSubjectNow() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg.deadLetterSubject()
}

// deadLetter stores one copy and then gives the message up on the
// consumer. A message no longer in the stream, or no longer pending, is
// given up (or left) without a copy.
func (c *consumer) deadLetter(j dlJob) error {
	subj := c.deadLetterSubjectNow()
	m, err := c.s.st.Reader().Msg(c.s.id, j.seq)
	if err == nil && subj != "" {
		hdr := deadLetterHeader(c.s.name, c.name, m.Subject, m.Header, j, m.Time)
		if err := c.publishStored(subj, hdr, m.Data); err != nil {
			return err
		}
	}
	c.giveUp(j)
	return nil
}

// publishStored publishes to subj and waits for a stream's PubAck.
func (c *consumer) publishStored(subj string, hdr, data []byte) error {
	if !c.svc.hasInterest(subj) {
		return fmt.Errorf("no stream captures %q", subj)
	}
	inbox := "_INBOX.wispdl." + nuid.Next()
	acks := make(chan []byte, 1)
	onAck := func(_, _, _, data []byte) {
		select {
		case acks <- append([]byte(nil), data...):
		default:
		}
	}
	var cancel func()
	var err error
	if rs, ok := c.svc.broker.(routedSubscriber); ok {
		// The stream storing the copy may be led by another server of
		// the cluster, which answers from there.
		cancel, err = rs.SubscribeRouted(inbox, onAck)
	} else {
		cancel, err = c.svc.broker.Subscribe(inbox, "", onAck)
	}
	if err != nil {
		return fmt.Errorf("subscribing for the PubAck: %w", err)
	}
	defer cancel()
	if err := c.svc.broker.Publish(subj, inbox, hdr, data); err != nil {
		return fmt.Errorf("publishing the copy: %w", err)
	}
	t := time.NewTimer(dlAckWait)
	defer t.Stop()
	select {
	case b := <-acks:
		var ack struct {
			Stream string    `json:"stream"`
			Error  *APIError `json:"error"`
		}
		if err := json.Unmarshal(b, &ack); err != nil {
			return fmt.Errorf("reading the PubAck: %w", err)
		}
		if ack.Error != nil {
			return fmt.Errorf("stream %q refused the copy: %w", ack.Stream, ack.Error)
		}
		if ack.Stream == "" {
			return fmt.Errorf("no PubAck (a subscriber that is not a stream answered)")
		}
		return nil
	case <-t.C:
		return fmt.Errorf("no PubAck within %v", dlAckWait)
	case <-c.quit:
		return fmt.Errorf("consumer stopped")
	}
}

// giveUp applies the give-up operation once the copy is stored: +TERM's
// term, or max_deliver's dead-lettered, each with its advisory.
func (c *consumer) giveUp(j dlJob) {
	var out outbox
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	now := c.svc.clock.Now()
	nowNS := now.UnixNano()
	seq := j.seq
	if j.term {
		if p := c.pending[seq]; p != nil {
			out.advisory(advisoryTerminated+c.s.name+"."+c.name, &advisory{
				Type: typeTerminated, Stream: c.s.name, Consumer: c.name,
				ConsumerSeq: j.dseq, StreamSeq: seq, Deliveries: p.count, Reason: j.reason,
			}, now)
			c.proposeLocked(kindTerm, func(w opWriter) opWriter { w.u(seq); w.i(nowNS); return w }, &out)
		}
	} else {
		c.proposeLocked(kindDeadLettered, func(w opWriter) opWriter { w.u(seq); w.i(nowNS); return w }, &out)
	}
	flush := c.needFlushLocked()
	c.mu.Unlock()
	c.submitProposals()
	out.send(c.svc)
	if flush {
		c.submitFlush()
	}
	c.wake() // room under max_ack_pending
}

// applyDeadLettered gives up on a message held for its dead-letter copy
// (part of the dead-lettered operation's apply): passed over as at
// max_deliver without a dead-letter subject.
func (c *consumer) applyDeadLettered(o *opDeadLettered, out *outbox) {
	p := c.pending[o.Seq]
	if p == nil || c.cfg.MaxDeliver <= 0 || p.count < uint64(c.cfg.MaxDeliver) || p.queued {
		return
	}
	out.advisory(advisoryMaxDeliver+c.s.name+"."+c.name, &advisory{
		Type: typeMaxDeliver, Stream: c.s.name, Consumer: c.name, StreamSeq: o.Seq, Deliveries: p.count,
	}, time.Unix(0, o.Now))
	c.givenUp(o.Seq, p)
}

// deadLetterHeader builds a copy's header block: the original's headers
// without Nats-* ones, then what the dead letter is. Its Nats-Msg-Id is
// the same for the same message given up at the same delivery count, so
// a copy published again after a crash is a duplicate the dead-letter
// stream drops.
func deadLetterHeader(stream, consumer string, subject, stored []byte, j dlJob, ts int64) []byte {
	b := make([]byte, 0, len(stored)+256)
	b = append(b, hdrPreamble+"\r\n"...)
	if i := bytes.IndexByte(stored, '\n'); i >= 0 {
		for _, line := range bytes.Split(stored[i+1:], []byte("\r\n")) {
			if len(line) == 0 {
				continue
			}
			name, _, _ := bytes.Cut(line, []byte(":"))
			if strings.HasPrefix(strings.ToLower(string(bytes.TrimSpace(name))), "nats-") {
				continue
			}
			b = append(b, line...)
			b = append(b, "\r\n"...)
		}
	}
	reason := dlReasonMaxDeliver
	if j.term {
		reason = dlReasonTerminated
	}
	count := strconv.FormatUint(j.count, 10)
	seq := strconv.FormatUint(j.seq, 10)
	b = appendHeader(b, hdrMsgID, "wisp-dl:"+stream+":"+consumer+":"+seq+":"+count)
	b = appendHeader(b, hdrDLStream, stream)
	b = appendHeader(b, hdrDLConsumer, consumer)
	b = appendHeader(b, hdrDLSequence, seq)
	b = appendHeader(b, hdrDLDeliveries, count)
	b = appendHeader(b, hdrDLReason, reason)
	if j.term && j.reason != "" {
		b = appendHeader(b, hdrDLTermReason, oneLine(j.reason))
	}
	b = appendHeader(b, hdrDLSubject, string(subject))
	b = appendHeader(b, hdrDLTime, time.Unix(0, ts).UTC().Format(time.RFC3339Nano))
	return append(b, "\r\n"...)
}

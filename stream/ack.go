package stream

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/nats-io/nuid"
)

// Acknowledgements arrive as core messages on the reply subject of each
// delivery: $JS.ACK.<stream>.<consumer>.<count>.<stream_seq>.<consumer_seq>.<ts>.<pending>.
// The body says what kind: +ACK (or empty), -NAK with an optional
// {"delay":ns}, +WPI, +TERM with an optional reason, +NXT (ack, then a
// pull request, its body after the verb, for the ack's reply subject).

// Ack bodies.
var (
	ackAck  = []byte("+ACK")
	ackNak  = []byte("-NAK")
	ackWPI  = []byte("+WPI")
	ackTerm = []byte("+TERM")
	ackNext = []byte("+NXT")
)

// Advisory subjects and types, as nats-server publishes them.
const (
	advisoryMaxDeliver = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."
	advisoryTerminated = "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED."
	typeMaxDeliver     = "io.nats.jetstream.advisory.v1.max_deliver"
	typeTerminated     = "io.nats.jetstream.advisory.v1.terminated"
)

// onAck is the broker callback for the consumer's ack subjects. It runs on
// the acking client's goroutine and never waits for the disk, except that
// a DoubleAck's reply waits for the commit holding the ack.
func (c *consumer) onAck(subject, reply, _, data []byte) {
	if !c.s.isLeader() {
		return // the leader of a replicated stream hears it too
	}
	rest, ok := bytes.CutPrefix(subject, []byte(c.ackPrefix))
	if !ok {
		return
	}
	sseq, dseq, ok := parseAckTokens(rest)
	if !ok {
		return
	}
	body := bytes.TrimSpace(data)
	var out outbox
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	now := c.svc.clock.Now()
	c.active = now
	atCap := c.cfg.MaxAckPending > 0 && len(c.pending) >= c.cfg.MaxAckPending
	replyNow := len(reply) > 0
	var nextReq []byte
	nowNS := now.UnixNano()
	ack := func(w opWriter) opWriter { w.u(sseq); w.i(nowNS); return w }
	queued := false
	switch {
	case bytes.HasPrefix(body, ackNext):
		// Ack, then a pull request whose messages go to the reply subject.
		c.sampleAckLocked(sseq, dseq, now, &out)
		if c.s.repl != nil {
			c.batchAckLocked(sseq, nowNS, "")
		} else {
			c.proposeLocked(kindAck, ack, &out)
		}
		if replyNow && !c.cfg.isPush() {
			nextReq = append([]byte{}, body[len(ackNext):]...)
		}
		replyNow = false
	case len(body) == 0, bytes.Equal(body, ackAck):
		c.sampleAckLocked(sseq, dseq, now, &out)
		if c.s.repl != nil {
			// Answered once the entry holding the ack applied; never
			// when it was not proposed (the client asks again).
			var r string
			if replyNow {
				r = string(reply)
			}
			c.batchAckLocked(sseq, nowNS, r)
			replyNow = false
			break
		}
		c.proposeLocked(kindAck, ack, &out)
		if replyNow && c.persist {
			c.ackReplies = append(c.ackReplies, string(reply))
			replyNow = false
		}
	case bytes.HasPrefix(body, ackNak):
		// The deadline is decided here: at once (0), or after the delay.
		var deadline int64
		if delay := parseNakDelay(body[len(ackNak):]); delay > 0 {
			deadline = now.Add(delay).UnixNano()
		}
		queued = c.proposeLocked(kindNak, func(w opWriter) opWriter { w.u(sseq); w.i(nowNS); w.i(deadline); return w }, &out).queued
	case bytes.Equal(body, ackWPI):
		if p := c.pending[sseq]; p != nil && !p.queued {
			deadline := now.Add(c.ackWaitFor(p.count)).UnixNano()
			c.proposeLocked(kindProgress, func(w opWriter) opWriter { w.u(sseq); w.i(deadline); return w }, &out)
		}
	case bytes.HasPrefix(body, ackTerm):
		if p := c.pending[sseq]; p != nil {
			reason := string(bytes.TrimSpace(body[len(ackTerm):]))
			if c.termDeadLetter(sseq, dseq, p, reason, &out) {
				break // applied once its copy is stored (deadletter.go)
			}
			out.advisory(advisoryTerminated+c.s.name+"."+c.name, &advisory{
				Type: typeTerminated, Stream: c.s.name, Consumer: c.name,
				ConsumerSeq: dseq, StreamSeq: sseq, Deliveries: p.count, Reason: reason,
			}, now)
			c.proposeLocked(kindTerm, ack, &out)
		}
	}
	// Only an ack that opens room under max_ack_pending, or a nak that
	// queued a redelivery, gives the delivery goroutine something new.
	wake := atCap && len(c.pending) < c.cfg.MaxAckPending || queued || len(c.rdq) > 0
	flush := c.needFlushLocked()
	c.mu.Unlock()
	c.submitProposals()
	if replyNow {
		out.add(string(reply), "", nil, nil)
	}
	out.send(c.svc)
	if flush {
		c.submitFlush()
	}
	if wake {
		c.wake()
	}
	if nextReq != nil {
		c.addRequest(string(reply), nextReq)
	}
}

// parseAckTokens reads the stream and consumer sequences from the tokens
// after "$JS.ACK.<stream>.<consumer>.": count.sseq.dseq.ts.pending.
func parseAckTokens(rest []byte) (sseq, dseq uint64, ok bool) {
	var toks [3][]byte
	for i := range toks {
		j := bytes.IndexByte(rest, '.')
		if j < 0 {
			return 0, 0, false
		}
		toks[i], rest = rest[:j], rest[j+1:]
	}
	sseq, ok1 := parseDecimal(toks[1])
	dseq, ok2 := parseDecimal(toks[2])
	return sseq, dseq, ok1 && ok2
}

// parseDecimal parses an unsigned decimal without allocating.
func parseDecimal(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (^uint64(0)-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseNakDelay reads -NAK's optional {"delay": ns} body.
func parseNakDelay(b []byte) time.Duration {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return 0
	}
	var v struct {
		Delay time.Duration `json:"delay"`
	}
	if json.Unmarshal(b, &v) != nil {
		return 0
	}
	return v.Delay
}

// passOver gives up on a message delivered max_deliver times (part of
// an operation's apply, at its time now): it leaves
// the pending set (the ack floor may pass it) and an advisory says so, so
// that a dead-letter stream can collect it. The message stays in the
// stream.
func (c *consumer) passOver(seq uint64, p *pend, now time.Time, out *outbox) {
	if c.holdDeadLetter(seq, p, out) {
		return // given up once its copy is stored (deadletter.go)
	}
	out.advisory(advisoryMaxDeliver+c.s.name+"."+c.name, &advisory{
		Type: typeMaxDeliver, Stream: c.s.name, Consumer: c.name, StreamSeq: seq, Deliveries: p.count,
	}, now)
	c.givenUp(seq, p)
}

// advisory is the body of the max-deliveries and terminated advisories.
type advisory struct {
	Type        string    `json:"type"`
	ID          string    `json:"id"`
	Time        time.Time `json:"timestamp"`
	Stream      string    `json:"stream"`
	Consumer    string    `json:"consumer"`
	ConsumerSeq uint64    `json:"consumer_seq,omitempty"`
	StreamSeq   uint64    `json:"stream_seq"`
	Deliveries  uint64    `json:"deliveries"`
	Reason      string    `json:"reason,omitempty"`
}

// outbox collects messages to send once the consumer's lock is released.
type outbox struct {
	msgs []outMsg
	dl   []dlJob // messages to dead-letter (deadletter.go)
}

type outMsg struct {
	subject, reply string
	hdr, data      []byte
	to             string // routing subject when it differs from subject
}

// deliverer is the optional Broker method that routes a message by one
// subject while subscribers see another (server.Server has it). Without
// it a delivered message shows its inbox as its subject.
type deliverer interface {
	Deliver(deliver, subject, reply string, hdr, data []byte) error
}

func (o *outbox) add(subject, reply string, hdr, data []byte) {
	o.msgs = append(o.msgs, outMsg{subject: subject, reply: reply, hdr: hdr, data: data})
}

func (o *outbox) advisory(subject string, a *advisory, now time.Time) {
	a.ID, a.Time = nuid.Next(), now.UTC()
	o.event(subject, a)
}

// event queues v, encoded as JSON, for subject.
func (o *outbox) event(subject string, v any) {
	b, err := json.Marshal(v)
	if err == nil {
		o.add(subject, "", nil, b)
	}
}

func (o *outbox) send(svc *Service) {
	d, canDeliver := svc.broker.(deliverer)
	for i := range o.msgs {
		m := &o.msgs[i]
		var err error
		switch {
		case m.to == "":
			err = svc.broker.Publish(m.subject, m.reply, m.hdr, m.data)
		case canDeliver:
			err = d.Deliver(m.to, m.subject, m.reply, m.hdr, m.data)
		default:
			err = svc.broker.Publish(m.to, m.reply, m.hdr, m.data)
		}
		if err != nil {
			svc.log.Debug("consumer send failed", "subject", m.subject, "err", err)
		}
	}
	clear(o.msgs)
	o.msgs = o.msgs[:0]
	if len(o.dl) > 0 {
		o.dl[0].c.queueDeadLetters(o.dl)
		clear(o.dl)
		o.dl = o.dl[:0]
	}
}

package stream

import (
	"strconv"
	"time"
)

// Push consumers send to their deliver_subject (to one member of
// deliver_group when set) while someone subscribes to it; with nobody
// there they pause, as nats-server does, and look again every
// pushRetry. idle_heartbeat sends "100 Idle Heartbeat" (with the last
// consumer and stream sequences) when nothing was sent for that long.
//
// flow_control: after every flowControlBytes of payload the consumer sends
// a "100 FlowControl Request" whose reply subject the client answers once
// it has processed everything before it. Until that answer comes the
// consumer sends at most another flowControlBytes, then stalls; a slow
// subscriber thus holds at most two windows in flight.

const (
	pushRetry        = 100 * time.Millisecond
	flowControlBytes = 1 << 20
)

// interestChecker is the optional Broker method telling whether anyone
// subscribes to a subject; server.Server has it.
type interestChecker interface {
	HasInterest(subject string) bool
}

// hasInterest reports whether the push consumer's deliver subject has a
// subscriber. A broker that cannot tell is assumed to have one.
func (c *consumer) hasInterest() bool { return c.svc.hasInterest(c.cfg.DeliverSubject) }

func (svc *Service) hasInterest(subject string) bool {
	ic, ok := svc.broker.(interestChecker)
	if !ok {
		return true
	}
	return ic.HasInterest(subject)
}

// retryLaterLocked wakes the consumer after pushRetry to look for a
// subscriber again. Called with mu held.
func (c *consumer) retryLaterLocked() {
	if c.closed {
		return
	}
	if c.est.Load() <= 0 && len(c.rdq) == 0 && len(c.redo) == 0 && len(c.ahead) == 0 && len(c.lps) == 0 {
		return // nothing to send: a stored message wakes the consumer anyway
	}
	c.wakeAt(pushRetry)
}

// fcPrefix is where flow control answers arrive for this consumer.
func (c *consumer) fcPrefix() string { return "$JS.FC." + c.s.name + "." + c.name + "." }

// flowControlLocked accounts size bytes just queued for the deliver
// subject and queues a flow control request when a window is full.
// Called with mu held.
func (c *consumer) flowControlLocked(size int, out *outbox) {
	if !c.cfg.FlowControl {
		return
	}
	c.fcBytes += size
	if c.fcReply != "" || c.fcBytes < flowControlBytes {
		return
	}
	c.fcSeq++
	c.fcReply = c.fcPrefix() + strconv.FormatUint(c.fcSeq, 10)
	c.fcBytes = 0
	out.status(c.cfg.DeliverSubject, 100, "FlowControl Request", nil)
	out.msgs[len(out.msgs)-1].reply = c.fcReply
}

// stalled reports whether flow control holds delivery back: a request is
// unanswered and a whole window went out since. Called with mu held.
func (c *consumer) stalled() bool {
	return c.cfg.FlowControl && c.fcReply != "" && c.fcBytes >= flowControlBytes
}

// onFlowControl is the broker callback for flow control answers.
func (c *consumer) onFlowControl(subject, _, _, _ []byte) {
	c.mu.Lock()
	if string(subject) != c.fcReply {
		c.mu.Unlock()
		return // an old request's answer
	}
	c.fcReply = ""
	c.mu.Unlock()
	c.wake()
}

// pushHeartbeat sends the push consumer's idle heartbeat when due, and a
// flow control request when enough was sent. Called with mu held.
func (c *consumer) pushHeartbeat(now time.Time, out *outbox) {
	if !c.cfg.isPush() {
		return
	}
	if c.cfg.IdleHeartbeat <= 0 {
		return
	}
	if c.hbNext.IsZero() {
		c.hbNext = now.Add(c.cfg.IdleHeartbeat)
		return
	}
	if now.Before(c.hbNext) {
		return
	}
	c.hbNext = now.Add(c.cfg.IdleHeartbeat)
	if !c.hasInterest() {
		return
	}
	hdrs := []string{
		"Nats-Last-Consumer: " + strconv.FormatUint(c.dseq, 10),
		"Nats-Last-Stream: " + strconv.FormatUint(c.next-1, 10),
	}
	if c.fcReply != "" {
		// Lets a client that missed the request answer it (legacy nats.go does).
		hdrs = append(hdrs, "Nats-Consumer-Stalled: "+c.fcReply)
	}
	out.status(c.cfg.DeliverSubject, 100, "Idle Heartbeat", hdrs)
}

package stream

import (
	"strconv"
	"time"
)

// Push consumers send to their deliver_subject (to one member of
// deliver_group when set) while someone subscribes to it; with nobody
// there they pause, as nats-server does, and look again every
// pushRetry. idle_heartbeat sends "100 Idle Heartbeat" (with the last
// consumer and stream sequences) when nothing was sent for that long;
// flow_control adds a "100 FlowControl Request" after every
// flowControlBytes of payload, whose reply the client sends when it has
// caught up (Wisp does not stall waiting for it).

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
	if c.retryArmed || c.closed {
		return
	}
	if c.est.Load() <= 0 && len(c.rdq) == 0 && len(c.redo) == 0 && len(c.ahead) == 0 && len(c.lps) == 0 {
		return // nothing to send: a stored message wakes the consumer anyway
	}
	c.retryArmed = true
	time.AfterFunc(pushRetry, func() {
		c.mu.Lock()
		c.retryArmed = false
		c.mu.Unlock()
		c.wake()
	})
}

// pushHeartbeat sends the push consumer's idle heartbeat when due, and a
// flow control request when enough was sent. Called with mu held.
func (c *consumer) pushHeartbeat(now time.Time, out *outbox) {
	if !c.cfg.isPush() {
		return
	}
	if c.cfg.FlowControl && c.fcBytes >= flowControlBytes {
		c.fcBytes = 0
		out.status(c.cfg.DeliverSubject, 100, "FlowControl Request", nil)
		out.msgs[len(out.msgs)-1].reply = "$JS.FC." + c.s.name + "." + c.name + "." + strconv.FormatInt(now.UnixNano(), 36)
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
	out.status(c.cfg.DeliverSubject, 100, "Idle Heartbeat", []string{
		"Nats-Last-Consumer: " + strconv.FormatUint(c.dseq, 10),
		"Nats-Last-Stream: " + strconv.FormatUint(c.next-1, 10),
	})
}

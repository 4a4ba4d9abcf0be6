package stream

import (
	"time"
)

// Redelivery and every other timed thing a consumer does run off one
// time.Timer per consumer, armed for the earliest of: the first ack
// deadline, the first pull request expiry or heartbeat, the push
// heartbeat, the inactivity deadline, and the end of a pause. Ack
// deadlines sit in a min-heap keyed by time; an ack does not remove its
// entry (that would need an index into the heap), the entry is simply
// found stale when it reaches the top (its message no longer pending, or
// its deadline moved). So 100,000 pending messages cost one heap of
// 100,000 small entries and no goroutines; the heap is rebuilt when stale
// entries outnumber live ones.

type deadline struct {
	at  int64 // unix nanos
	seq uint64
}

type deadlineHeap []deadline

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h deadlineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)        { *h = append(*h, x.(deadline)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// seqHeap orders sequences waiting for redelivery, lowest first, as
// nats-server redelivers.
type seqHeap []uint64

func (h seqHeap) Len() int           { return len(h) }
func (h seqHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h seqHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *seqHeap) Push(x any)        { *h = append(*h, x.(uint64)) }
func (h *seqHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// setDeadline (re)schedules the redelivery of pending message seq.
// Called with mu held.
func (c *consumer) setDeadline(seq uint64, p *pend, at time.Time) {
	c.schedule(seq, p, at)
	c.armAt(at)
}

// armAt makes the timer fire no later than at. Called with mu held.
func (c *consumer) armAt(at time.Time) {
	if c.closed || c.timer == nil {
		return
	}
	if !c.timerAt.IsZero() && !at.Before(c.timerAt) {
		return
	}
	c.timerAt = at
	c.timer.Reset(max(untilOn(c.svc.clock, at), 0))
}

// rearmLocked arms the timer for the earliest thing due after now.
func (c *consumer) rearmLocked(now time.Time) {
	c.timerAt = time.Time{}
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if at, ok := c.nextDeadline(); ok && !c.dueProposed {
		// While a replicated consumer's redeliver-due is on its way
		// through the log, its apply re-arms the timer.
		consider(at)
	}
	for _, r := range c.waiting {
		consider(r.expires)
		consider(r.hbNext)
	}
	if c.cfg.isPush() && c.cfg.IdleHeartbeat > 0 {
		consider(c.hbNext)
	}
	if c.cfg.InactiveThreshold > 0 {
		consider(c.active.Add(c.cfg.InactiveThreshold))
	}
	consider(c.pauseEnd)
	if !next.IsZero() {
		c.armAt(next)
	}
}

// onTimer runs on the timer's goroutine: it moves expired deliveries to
// the redelivery queue (or passes them over at max_deliver), ends a pause
// that ran out, ends expired pull requests, sends heartbeats, and removes
// an inactive consumer.
func (c *consumer) onTimer() {
	now := c.svc.clock.Now()
	var out outbox
	c.mu.Lock()
	if c.closed || !c.s.isLeader() {
		// A replicated stream's follower: its leader's timer acts, and a
		// new leader re-arms this one (replica.LeaderChanged).
		c.mu.Unlock()
		return
	}
	expired := false
	if at, ok := c.nextDeadline(); ok && !at.After(now) && !c.dueProposed {
		nowNS := now.UnixNano()
		expired = c.proposeLocked(kindRedeliverDue, func(w opWriter) opWriter { w.i(nowNS); return w }, &out).queued
	}
	resumed := c.endPauseLocked(now, &out)
	c.expireRequests(now, &out)
	c.pushHeartbeat(now, &out)
	inactive := c.inactive(now)
	c.rearmLocked(now)
	flush := c.needFlushLocked()
	c.mu.Unlock()
	c.submitProposals()
	out.send(c.svc)
	if flush {
		c.submitFlush()
	}
	if expired || resumed {
		c.wake()
	}
	if inactive {
		c.svc.log.Debug("removing inactive consumer", "stream", c.s.name, "consumer", c.name)
		c.svc.removeConsumer(c.s, c, true)
	}
}

// inactive reports whether the consumer has been unused for its
// inactive_threshold: no pull request waiting, no push subscriber.
func (c *consumer) inactive(now time.Time) bool {
	t := c.cfg.InactiveThreshold
	if t <= 0 {
		return false
	}
	if len(c.waiting) > 0 || c.cfg.isPush() && c.hasInterest() {
		c.active = now
		return false
	}
	return now.Sub(c.active) >= t
}

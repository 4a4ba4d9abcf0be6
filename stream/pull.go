package stream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wisp-mq/wisp/protocol"
)

// Pull requests arrive on $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>
// with the reply inbox messages go to. They wait in the consumer's queue
// (at most max_waiting of them) until their batch or max_bytes is used
// up, they expire (408), or, for no_wait, until nothing more is available
// (404). While one waits it gets "100 Idle Heartbeat" every idle_heartbeat.

const msgNextPrefix = apiPrefix + "CONSUMER.MSG.NEXT."

// pullReq is one waiting pull request.
type pullReq struct {
	reply     string
	batch     int       // messages still wanted
	maxBytes  int       // bytes still allowed; 0 for no limit
	limited   bool      // max_bytes was set
	noWait    bool      // end when nothing is available
	sent      int       // messages sent so far
	expires   time.Time // zero for none
	heartbeat time.Duration
	hbNext    time.Time

	// Priority groups (priority.go); json says the request was a JSON
	// object (a bare batch size carries no priority fields at all).
	json          bool
	group         string
	minPending    int64
	minAckPending int64
	pinID         string
	priority      int
}

// nextRequest is the body of a pull request.
type nextRequest struct {
	Batch     int           `json:"batch"`
	MaxBytes  int           `json:"max_bytes"`
	Expires   time.Duration `json:"expires"`
	NoWait    bool          `json:"no_wait"`
	Heartbeat time.Duration `json:"idle_heartbeat"`

	// Priority groups (priority.go).
	Group         string `json:"group"`
	MinPending    int64  `json:"min_pending"`
	MinAckPending int64  `json:"min_ack_pending"`
	ID            string `json:"id"`
	Priority      int    `json:"priority"`
}

// pullRequest takes a MSG.NEXT request straight from the broker callback
// (it only queues it and wakes the consumer) and reports whether subject
// was one. It answers with a status when the request cannot be queued.
func (svc *Service) pullRequest(subject, reply, data []byte) bool {
	rest, ok := bytes.CutPrefix(subject, []byte(msgNextPrefix))
	if !ok {
		return false
	}
	if svc.closing.Load() {
		return true
	}
	sname, cname, _ := strings.Cut(string(rest), ".")
	rep := string(reply)
	if strings.HasPrefix(rep, apiPrefix) {
		// Messages sent there would be API requests; nats-server clients
		// never ask for that, so it is not worth the risk.
		return true
	}
	var c *consumer
	if s := svc.lookup(sname); s != nil {
		c = s.cons.get(cname)
	}
	if c == nil {
		// Nobody listens there in nats-server: the client sees no responders.
		_ = svc.broker.Publish(rep, "", protocol.AppendStatusHeader(nil, 503, ""), nil)
		return true
	}
	c.addRequest(rep, data)
	return true
}

// addRequest validates and queues one pull request.
func (c *consumer) addRequest(reply string, data []byte) {
	var req nextRequest
	body := bytes.TrimSpace(data)
	switch {
	case len(body) == 0:
		req.Batch = 1
	case body[0] == '{':
		if err := json.Unmarshal(body, &req); err != nil {
			c.sendStatus(reply, 400, "Bad Request", nil)
			return
		}
	default:
		n, err := strconv.Atoi(string(body))
		if err != nil {
			c.sendStatus(reply, 400, "Bad Request", nil)
			return
		}
		req.Batch = n
	}
	if req.Batch <= 0 {
		req.Batch = 1
	}
	now := c.svc.clock.Now()
	r := &pullReq{reply: reply, batch: req.Batch, maxBytes: req.MaxBytes, limited: req.MaxBytes > 0,
		noWait: req.NoWait, heartbeat: req.Heartbeat,
		json: len(body) > 0 && body[0] == '{', group: req.Group, minPending: req.MinPending,
		minAckPending: req.MinAckPending, pinID: req.ID, priority: req.Priority}
	if req.Expires > 0 {
		r.expires = now.Add(req.Expires)
	}
	if r.heartbeat > 0 {
		r.hbNext = now.Add(r.heartbeat)
	}
	c.mu.Lock()
	var refuse string
	code := 409
	cfg := &c.cfg
	switch {
	case c.closed:
		refuse = "Consumer Deleted"
	case cfg.isPush():
		refuse = "Consumer is push based"
	case cfg.MaxRequestBatch > 0 && req.Batch > cfg.MaxRequestBatch:
		refuse = fmt.Sprintf("Exceeded MaxRequestBatch of %d", cfg.MaxRequestBatch)
	case cfg.MaxRequestExpires > 0 && req.Expires > cfg.MaxRequestExpires:
		refuse = fmt.Sprintf("Exceeded MaxRequestExpires of %v", cfg.MaxRequestExpires)
	case cfg.MaxRequestMaxBytes > 0 && req.MaxBytes > cfg.MaxRequestMaxBytes:
		refuse = fmt.Sprintf("Exceeded MaxRequestMaxBytes of %d", cfg.MaxRequestMaxBytes)
	case req.Heartbeat > 0 && req.Expires > 0 && req.Heartbeat > req.Expires/2:
		refuse = "Bad Request - heartbeat value too large"
	}
	if refuse == "" {
		code, refuse = c.checkPriorityRequest(r)
	}
	if refuse == "" && cfg.MaxWaiting > 0 && len(c.waiting) >= cfg.MaxWaiting {
		code, refuse = 409, "Exceeded MaxWaiting"
	}
	if refuse != "" {
		c.mu.Unlock()
		c.sendStatus(reply, code, refuse, nil)
		return
	}
	c.queueRequest(r)
	c.active = now
	if !r.expires.IsZero() {
		c.armAt(r.expires)
	}
	if !r.hbNext.IsZero() {
		c.armAt(r.hbNext)
	}
	c.mu.Unlock()
	c.wake()
}

// sendStatus sends a header-only status message; extra holds header
// lines ("Name: value") after the status line.
func (c *consumer) sendStatus(to string, code int, desc string, extra []string) {
	var o outbox
	o.status(to, code, desc, extra)
	o.send(c.svc)
}

// status queues a header-only status message.
func (o *outbox) status(to string, code int, desc string, extra []string) {
	h := protocol.AppendStatusHeader(nil, code, desc)
	if len(extra) > 0 {
		h = h[:len(h)-2] // reopen the block before its final CRLF
		for _, l := range extra {
			h = append(h, l...)
			h = append(h, "\r\n"...)
		}
		h = append(h, "\r\n"...)
	}
	o.add(to, "", h, nil)
}

// pendingHeaders are the 408/409 headers telling the client how much of
// its request went unused.
func (r *pullReq) pendingHeaders() []string {
	return []string{
		"Nats-Pending-Messages: " + strconv.Itoa(r.batch),
		"Nats-Pending-Bytes: " + strconv.Itoa(max(r.maxBytes, 0)),
	}
}

// expireRequests ends expired pull requests (408) and sends due
// heartbeats. Called with mu held.
func (c *consumer) expireRequests(now time.Time, out *outbox) {
	keep := c.waiting[:0]
	for _, r := range c.waiting {
		if !r.expires.IsZero() && !now.Before(r.expires) {
			out.status(r.reply, 408, "Request Timeout", r.pendingHeaders())
			c.active = now
			continue
		}
		if r.heartbeat > 0 && !now.Before(r.hbNext) {
			out.status(r.reply, 100, "Idle Heartbeat", nil)
			r.hbNext = now.Add(r.heartbeat)
		}
		keep = append(keep, r)
	}
	clear(c.waiting[len(keep):])
	c.waiting = keep
}

// endNoWait answers every no_wait request that can get nothing more: 404
// when it got nothing at all, 408 with what was left otherwise. Called
// with mu held when the consumer has nothing to deliver.
func (c *consumer) endNoWait(out *outbox) {
	keep := c.waiting[:0]
	for _, r := range c.waiting {
		if !r.noWait {
			keep = append(keep, r)
			continue
		}
		if r.sent == 0 {
			out.status(r.reply, 404, "No Messages", nil)
		} else {
			out.status(r.reply, 408, "Request Timeout", r.pendingHeaders())
		}
	}
	clear(c.waiting[len(keep):])
	c.waiting = keep
}

// pickRequest returns the next waiting request, round robin. A request
// whose inbox nobody subscribes to any more (the client stopped or went
// away) is dropped instead of being sent messages nobody will ack.
func (c *consumer) pickRequest() *pullReq {
	for len(c.waiting) > 0 {
		if c.rr >= len(c.waiting) {
			c.rr = 0
		}
		r := c.waiting[c.rr]
		if c.svc.hasInterest(r.reply) {
			return r
		}
		c.dropRequest(r)
	}
	return nil
}

// served accounts one message of size bytes sent to r and drops r when
// it is complete.
func (c *consumer) served(r *pullReq, size int, now time.Time) {
	r.batch--
	r.sent++
	if r.limited {
		r.maxBytes -= size
	}
	if r.heartbeat > 0 {
		r.hbNext = now.Add(r.heartbeat)
	}
	if r.batch <= 0 || r.limited && r.maxBytes <= 0 {
		c.dropRequest(r)
		c.active = now
		return
	}
	c.rr++
	c.servedByPriority(r)
}

func (c *consumer) dropRequest(r *pullReq) {
	for i, w := range c.waiting {
		if w == r {
			copy(c.waiting[i:], c.waiting[i+1:])
			c.waiting[len(c.waiting)-1] = nil
			c.waiting = c.waiting[:len(c.waiting)-1]
			if c.rr > i {
				c.rr--
			}
			return
		}
	}
}

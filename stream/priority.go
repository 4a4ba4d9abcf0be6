package stream

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/nats-io/nuid"
)

// Priority groups on pull consumers, as nats-server 2.12+ has them. A
// consumer lists its groups (priority_groups) and a policy
// (priority_policy); pull requests name a group and, by policy:
//
//   - overflow: a request carrying min_pending or min_ack_pending is served
//     only while the consumer has at least that many messages left to
//     deliver or awaiting acknowledgement; the others are served as usual.
//     A standby worker can so take over only when the main ones fall behind.
//   - pinned_client: one client at a time gets every message. The first
//     request served without an id is pinned: the consumer draws a pin id,
//     sends it with every message (the Nats-Pin-Id header) and serves only
//     requests that carry it ("id"). Requests without it wait; a request
//     with another id gets "423 Nats-Wrong-Pin-Id" (or "423 Nats-Pin-Id
//     mismatch" on arrival). The pin goes when no request with it has
//     arrived for priority_timeout, or on $JS.API.CONSUMER.UNPIN, and the
//     next waiting request takes it.
//   - prioritized: requests are served by their priority (0 first, up
//     to 9), in arrival order within one priority.
//
// The pin is the driver's business, like the pull requests it selects:
// it is drawn and held in memory, never stored, and a restart starts
// unpinned, as nats-server starts a consumer whose leader changed. It
// changes no acknowledgement state, so no operation carries it.

const (
	priorityOverflow    = "overflow"
	priorityPinned      = "pinned_client"
	priorityPrioritized = "prioritized"

	// defaultPinnedTTL is priority_timeout when a pinned_client consumer
	// leaves it unset, as in nats-server.
	defaultPinnedTTL = 2 * time.Minute

	advisoryPinned    = "$JS.EVENT.ADVISORY.CONSUMER.PINNED."
	advisoryUnpinned  = "$JS.EVENT.ADVISORY.CONSUMER.UNPINNED."
	typePinned        = "io.nats.jetstream.advisory.v1.consumer_group_pinned"
	typeUnpinned      = "io.nats.jetstream.advisory.v1.consumer_group_unpinned"
	typeConsumerUnpin = typePrefix + "consumer_unpin_response"

	hdrPinID = "Nats-Pin-Id"
)

// validGroupName is nats-server's rule for a priority group's name.
var validGroupName = regexp.MustCompile(`^[a-zA-Z0-9/_=-]{1,16}$`)

// priorityDefaults fills in the priority settings' defaults. Called from
// setDefaults.
func (c *ConsumerConfig) priorityDefaults() {
	if c.PriorityPolicy == priorityPolicyNone {
		c.PriorityPolicy = ""
	}
	if c.PinnedTTL < 0 {
		c.PinnedTTL = 0
	}
	if c.PriorityPolicy == priorityPinned && c.PinnedTTL == 0 {
		c.PinnedTTL = defaultPinnedTTL
	}
}

// validatePriority checks the priority settings with nats-server's
// errors.
func (c *ConsumerConfig) validatePriority() *APIError {
	switch c.PriorityPolicy {
	case "", priorityPolicyNone:
		if len(c.PriorityGroups) > 0 {
			return apiErr(errConsumerGroupsWithPolicyNone)
		}
		if c.PinnedTTL > 0 {
			return apiErr(errConsumerPinnedTTLWithoutPolicy)
		}
		return nil
	case priorityOverflow, priorityPinned, priorityPrioritized:
	default:
		return apiErr(errInvalidJSON, fmt.Sprintf("unknown priority policy: %q", c.PriorityPolicy))
	}
	if c.isPush() {
		return apiErr(errConsumerPushWithPriorityGroup)
	}
	if len(c.PriorityGroups) == 0 {
		return apiErr(errConsumerPolicyWithoutGroup)
	}
	for _, g := range c.PriorityGroups {
		if g == "" {
			return apiErr(errConsumerEmptyGroupName)
		}
		if !validGroupName.MatchString(g) {
			return apiErr(errConsumerInvalidGroupName)
		}
	}
	return nil
}

// checkPriorityRequest checks a pull request's priority fields against
// the consumer, as nats-server does on arrival: it returns the status to
// refuse it with, or 0. A request from the pinned client restarts the
// pin's timeout. Called with mu held.
func (c *consumer) checkPriorityRequest(r *pullReq) (code int, desc string) {
	pol := c.cfg.PriorityPolicy
	if !r.json {
		// A bare batch size names no group: nats-server takes it and
		// serves it as a request without priority fields.
		return 0, ""
	}
	switch {
	case (r.minPending != 0 || r.minAckPending != 0) && pol != priorityOverflow:
		return 400, "Bad Request - Not a Overflow Priority consumer"
	case r.pinID != "" && pol != priorityPinned:
		return 400, "Bad Request - Not a Pinned Client Priority consumer"
	case r.priority < 0 || r.priority > 9:
		return 400, "Bad Request - Priority must be between 0 and 9"
	case pol == "":
		return 0, ""
	case r.group == "":
		return 400, "Bad Request - Priority Group missing"
	case !slices.Contains(c.cfg.PriorityGroups, r.group):
		return 400, "Bad Request - Invalid Priority Group"
	}
	if c.pinID != "" {
		switch r.pinID {
		case c.pinID:
			c.armPinTimer()
		case "":
		default:
			return 423, "Nats-Pin-Id mismatch"
		}
	}
	return 0, ""
}

// queueRequest adds r to the waiting requests: at the end, or for a
// prioritized consumer after every request of the same or a higher
// priority. Called with mu held.
func (c *consumer) queueRequest(r *pullReq) {
	if c.cfg.PriorityPolicy != priorityPrioritized {
		c.waiting = append(c.waiting, r)
		return
	}
	i := len(c.waiting)
	for i > 0 && c.waiting[i-1].priority > r.priority {
		i--
	}
	c.waiting = slices.Insert(c.waiting, i, r)
}

// pickByPriority is pickRequest for a consumer with priority groups: the
// next waiting request the policy lets be served, and whether serving it
// claims the pin (the caller does that once a message goes to it).
// Requests with a stale pin id are answered with 423 and dropped, and a
// no_wait request the policy passes over is ended as when nothing is
// left (404, or 408 once it got something).
// Called with mu held.
func (c *consumer) pickByPriority(out *outbox) (*pullReq, bool) {
	pol := c.cfg.PriorityPolicy
	if pol != priorityPinned && c.pinID != "" {
		c.unpinLocked("", "", out) // an update changed the policy
	}
	i := c.rr
	if pol == priorityPrioritized {
		i = 0 // the queue is kept in priority order
	}
	for skipped := 0; len(c.waiting) > 0 && skipped < len(c.waiting); {
		if i >= len(c.waiting) {
			i = 0
		}
		r := c.waiting[i]
		if !c.svc.hasInterest(r.reply) {
			c.dropRequest(r)
			continue
		}
		serve, claim, wrongPin := true, false, false
		switch pol {
		case priorityPinned:
			switch {
			case !r.json:
				serve = c.pinID == "" // served unpinned, as nats-server does
			case c.pinID == "" && r.pinID == "":
				claim = true
			case c.pinID == "" || r.pinID != "" && r.pinID != c.pinID:
				wrongPin = true
			case r.pinID == "":
				serve = false
			}
		case priorityOverflow:
			if r.minPending > 0 || r.minAckPending > 0 {
				pending := max(c.est.Load(), 0) + int64(len(c.lps))
				serve = r.minPending > 0 && r.minPending <= pending ||
					r.minAckPending > 0 && r.minAckPending <= int64(len(c.pending))
			}
		}
		switch {
		case wrongPin:
			out.status(r.reply, 423, "Nats-Wrong-Pin-Id", r.pendingHeaders())
			c.dropRequest(r)
		case serve:
			c.rr = i
			return r, claim
		case r.noWait:
			// Nothing it may have now: answered as when nothing is left.
			if r.sent == 0 {
				out.status(r.reply, 404, "No Messages", nil)
			} else {
				out.status(r.reply, 408, "Request Timeout", r.pendingHeaders())
			}
			c.dropRequest(r)
		default:
			i++
			skipped++
		}
	}
	return nil, false
}

// servedByPriority keeps a prioritized consumer's request that still
// wants messages behind the others of its priority, so that requests of
// one priority take turns. Called with mu held, after served.
func (c *consumer) servedByPriority(r *pullReq) {
	if c.cfg.PriorityPolicy != priorityPrioritized {
		return
	}
	i := slices.Index(c.waiting, r)
	if i < 0 {
		return
	}
	j := i
	for j+1 < len(c.waiting) && c.waiting[j+1].priority == r.priority {
		c.waiting[j] = c.waiting[j+1]
		j++
	}
	c.waiting[j] = r
}

// pinLocked pins the consumer to the client of r: a new pin id, its
// timeout, and the advisory. Called with mu held.
func (c *consumer) pinLocked(r *pullReq, now time.Time, out *outbox) {
	c.pinID, c.pinnedAt, c.pinGroup = nuid.Next(), now, r.group
	r.pinID = c.pinID
	c.armPinTimer()
	out.event(advisoryPinned+c.s.name+"."+c.name, &pinAdvisory{
		Type: typePinned, ID: nuid.Next(), Time: now.UTC(), Stream: c.s.name, Consumer: c.name,
		Group: r.group, PinnedID: c.pinID,
	})
}

// unpinLocked drops the pin; with a reason ("timeout", "admin") the
// unpinned advisory names it and group. Called with mu held.
func (c *consumer) unpinLocked(group, reason string, out *outbox) {
	c.pinID, c.pinnedAt = "", time.Time{}
	c.pinGen++
	if c.pinTimer != nil {
		c.pinTimer.Stop()
	}
	if reason != "" {
		out.event(advisoryUnpinned+c.s.name+"."+c.name, &pinAdvisory{
			Type: typeUnpinned, ID: nuid.Next(), Time: c.svc.clock.Now().UTC(), Stream: c.s.name,
			Consumer: c.name, Group: group, Reason: reason,
		})
	}
}

// armPinTimer (re)starts the pin's timeout: priority_timeout from now.
// Called with mu held.
func (c *consumer) armPinTimer() {
	gen := c.pinGen
	if c.pinTimer != nil {
		c.pinTimer.Stop()
	}
	c.pinTimer = c.svc.clock.AfterFunc(c.cfg.PinnedTTL, func() { c.pinTimedOut(gen) })
}

// pinTimedOut ends a pin whose client sent no request for
// priority_timeout; the next waiting request takes it over.
func (c *consumer) pinTimedOut(gen uint64) {
	var out outbox
	c.mu.Lock()
	if c.closed || c.pinID == "" || c.pinGen != gen {
		c.mu.Unlock()
		return
	}
	c.unpinLocked(c.pinGroup, "timeout", &out)
	c.mu.Unlock()
	out.send(c.svc)
	c.wake()
}

// withPinHeader is a delivery's header block with Nats-Pin-Id added.
func withPinHeader(stored []byte, pin string) []byte {
	b := make([]byte, 0, len(stored)+len(hdrPinID)+len(pin)+16)
	if len(stored) >= 4 {
		b = append(b, stored[:len(stored)-2]...) // reopen the block before its final CRLF
	} else {
		b = append(b, hdrPreamble+"\r\n"...)
	}
	b = appendHeader(b, hdrPinID, pin)
	return append(b, "\r\n"...)
}

// pinAdvisory is the body of the pinned and unpinned advisories.
type pinAdvisory struct {
	Type     string    `json:"type"`
	ID       string    `json:"id"`
	Time     time.Time `json:"timestamp"`
	Stream   string    `json:"stream"`
	Consumer string    `json:"consumer"`
	Group    string    `json:"group"`
	PinnedID string    `json:"pinned_id,omitempty"`
	Reason   string    `json:"reason,omitempty"`
}

// PriorityGroupState is one priority group's state in consumer info: the
// pinned client's id and since when.
type PriorityGroupState struct {
	Group          string    `json:"group"`
	PinnedClientID string    `json:"pinned_client_id,omitempty"`
	PinnedTS       time.Time `json:"pinned_ts,omitempty"`
}

// priorityState is the priority_groups part of consumer info: the first
// group's pin, as nats-server reports it. Called with mu held.
func (c *consumer) priorityState() []PriorityGroupState {
	if len(c.cfg.PriorityGroups) == 0 {
		return nil
	}
	st := PriorityGroupState{Group: c.cfg.PriorityGroups[0], PinnedClientID: c.pinID}
	if !c.pinnedAt.IsZero() {
		st.PinnedTS = c.pinnedAt.UTC()
	}
	return []PriorityGroupState{st}
}

type consumerUnpinRequest struct {
	Group string `json:"group"`
}

// unpinConsumer answers $JS.API.CONSUMER.UNPIN.<stream>.<consumer>: the
// group's pin goes, and the next waiting request takes it.
func (svc *Service) unpinConsumer(streamName, name string, body []byte) any {
	fail := func(e *APIError) any { return errResponse(typeConsumerUnpin, e) }
	var req consumerUnpinRequest
	if len(bytes.TrimSpace(body)) == 0 {
		return fail(apiErr(errInvalidJSON, "unexpected end of JSON input")) // as nats-server words it
	}
	if e := decodeRequest(body, &req); e != nil {
		return fail(e)
	}
	switch {
	case req.Group == "":
		return fail(apiErr(errInvalidJSON, "consumer group not specified"))
	case !validGroupName.MatchString(req.Group):
		return fail(apiErr(errConsumerInvalidGroupName))
	}
	s := svc.lookup(streamName)
	if s == nil {
		return fail(apiErr(errStreamNotFound))
	}
	c := s.cons.get(name)
	if c == nil {
		return fail(apiErr(errConsumerNotFound))
	}
	var out outbox
	c.mu.Lock()
	if !slices.Contains(c.cfg.PriorityGroups, req.Group) {
		c.mu.Unlock()
		return fail(apiErr(errConsumerInvalidPriorityGroup))
	}
	c.unpinLocked(req.Group, "admin", &out)
	c.mu.Unlock()
	out.send(svc)
	c.wake()
	return &apiResponse{Type: typeConsumerUnpin}
}

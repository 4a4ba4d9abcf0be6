package stream

import (
	"time"

	"github.com/nats-io/nuid"
)

// Pausing a consumer: $JS.API.CONSUMER.PAUSE.<stream>.<consumer> with
// {"pause_until": "<RFC 3339 time>"} stops it delivering until then; an
// empty body, no pause_until, or a time already past resumes it.
//
// The deadline is part of the consumer's config (config.pause_until), so
// it is stored with the definition and survives a restart, and a consumer
// can be created paused. An update keeps the deadline in force whatever
// the new config says, as nats-server does: only the PAUSE call changes it.
//
// While paused a consumer sends no message: pull requests wait as they
// would with nothing to deliver (heartbeats, 408 at expiry, 404 at once for
// no_wait), a push consumer sends only its idle heartbeats, acks and naks
// are taken, and redeliveries that fall due wait for the end of the pause.
// The end is one more deadline for the consumer's one timer
// (redeliver.go), which resumes delivery by itself: no timer of its own,
// no polling. Pausing, resuming, and the pause running out each publish
// the advisory $JS.EVENT.ADVISORY.CONSUMER.PAUSE.<stream>.<consumer>.

const (
	typeConsumerPause = typePrefix + "consumer_pause_response"
	advisoryPause     = "$JS.EVENT.ADVISORY.CONSUMER.PAUSE."
	typePauseAdvisory = "io.nats.jetstream.advisory.v1.consumer_pause"
)

type consumerPauseRequest struct {
	PauseUntil *time.Time `json:"pause_until,omitempty"`
}

// consumerPauseResponse is nats-server's reply: pause_until is always
// present (the zero time when resumed), pause_remaining only while paused.
type consumerPauseResponse struct {
	apiResponse
	Paused         bool          `json:"paused"`
	PauseUntil     time.Time     `json:"pause_until"`
	PauseRemaining time.Duration `json:"pause_remaining,omitempty"`
}

// pauseAdvisory is the body of the pause advisory. pause_until is always
// present, the zero time once resumed, as nats-server sends it.
type pauseAdvisory struct {
	Type       string    `json:"type"`
	ID         string    `json:"id"`
	Time       time.Time `json:"timestamp"`
	Stream     string    `json:"stream"`
	Consumer   string    `json:"consumer"`
	Paused     bool      `json:"paused"`
	PauseUntil time.Time `json:"pause_until"`
}

func (svc *Service) pauseConsumer(streamName, name string, body []byte) any {
	fail := func(e *APIError) any { return errResponse(typeConsumerPause, e) }
	var req consumerPauseRequest
	if e := decodeRequest(body, &req); e != nil {
		return fail(e)
	}
	s := svc.lookup(streamName)
	if s == nil {
		return fail(apiErr(errStreamNotFound))
	}
	var until *time.Time
	if req.PauseUntil != nil && !req.PauseUntil.IsZero() {
		u := req.PauseUntil.UTC()
		until = &u
	}
	var out outbox
	// The set's lock serialises config changes (updates hold it too), so
	// the definition stored is the one in force.
	s.cons.mu.Lock()
	c := s.cons.byName[name]
	var e *APIError
	if c == nil {
		e = apiErr(errConsumerNotFound)
	} else {
		e = c.setPause(until, &out)
	}
	s.cons.mu.Unlock()
	if e != nil {
		return fail(e)
	}
	out.send(svc)
	c.wake()
	r := &consumerPauseResponse{apiResponse: apiResponse{Type: typeConsumerPause}}
	if until != nil {
		r.PauseUntil = *until
		if d := (*until).Sub(svc.clock.Now()); d > 0 {
			r.Paused, r.PauseRemaining = true, d
		}
	}
	return r
}

// setPause makes until (nil for none) the consumer's pause_until, stores
// the definition, and queues the advisory on out when the deadline
// changed. Called with the consumer set's lock held.
func (c *consumer) setPause(until *time.Time, out *outbox) *APIError {
	c.mu.Lock()
	old := c.cfg.PauseUntil
	c.mu.Unlock()
	o := &opConsumerPause{Now: c.svc.clock.Now().UnixNano()}
	if until != nil {
		o.Until = until.UnixNano()
	}
	res, err := c.s.propose(o, c.name, false)
	if err != nil {
		return apiErr(errConsumerStoreFailed, err)
	}
	if res.err != nil {
		return res.err
	}
	c.mu.Lock()
	now := c.svc.clock.Now()
	c.rearmLocked(now)
	if !sameTimePtr(old, until) {
		c.pauseAdvisory(now, out)
	}
	c.mu.Unlock()
	return nil
}

// pauseDeadline is when a consumer with pause_until until, looked at now,
// resumes delivering; zero when it is not paused.
func pauseDeadline(until *time.Time, now time.Time) time.Time {
	if until == nil || !now.Before(*until) {
		return time.Time{}
	}
	return *until
}

// pausedLocked reports whether the consumer delivers nothing at now.
// Called with mu held.
func (c *consumer) pausedLocked(now time.Time) bool {
	return !c.pauseEnd.IsZero() && now.Before(c.pauseEnd)
}

// endPauseLocked resumes delivery when the pause has run out, queuing the
// advisory, and reports whether it did. Called with mu held, by the timer.
func (c *consumer) endPauseLocked(now time.Time, out *outbox) bool {
	if c.pauseEnd.IsZero() || now.Before(c.pauseEnd) {
		return false
	}
	c.pauseEnd = time.Time{}
	c.pauseAdvisory(now, out)
	return true
}

// pauseAdvisory queues the pause advisory for the config in force. Called
// with mu held.
func (c *consumer) pauseAdvisory(now time.Time, out *outbox) {
	a := &pauseAdvisory{Type: typePauseAdvisory, ID: nuid.Next(), Time: now.UTC(),
		Stream: c.s.name, Consumer: c.name}
	if p := c.cfg.PauseUntil; p != nil {
		a.PauseUntil, a.Paused = *p, now.Before(*p)
	}
	out.event(advisoryPause+c.s.name+"."+c.name, a)
}

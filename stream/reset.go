package stream

import (
	"fmt"
)

// Resetting a consumer: $JS.API.CONSUMER.RESET.<stream>.<consumer>, with
// an empty body or {"seq": N}, starts its delivery over, as if it had just
// been created at a start sequence (ADR-60, nats-server 2.14):
//
//   - without seq it delivers again from its ack floor + 1: everything
//     delivered and not acknowledged comes again, as first deliveries;
//   - with seq it delivers from stream sequence seq, forwards or backwards,
//     and its ack floor becomes seq-1. Only deliver policies that name a
//     start allow it: all (anywhere), by_start_sequence (not below
//     opt_start_seq), by_start_time (not at a message older than
//     opt_start_time); anything else is 10204 (invalid reset).
//
// Either way the pending set and its redeliveries are dropped, the consumer
// sequence restarts at 1 (the ack floor's consumer sequence at 0), and
// last-per-subject starts not yet sent are forgotten. Waiting pull requests
// stay and are served from the new position. The reply, sent once the new
// state is committed, is the consumer's info plus reset_seq, the first
// stream sequence it may deliver.

const typeConsumerReset = typePrefix + "consumer_reset_response"

type consumerResetRequest struct {
	Seq uint64 `json:"seq"`
}

type consumerResetResponse struct {
	apiResponse
	*ConsumerInfo
	ResetSeq uint64 `json:"reset_seq"`
}

func (svc *Service) resetConsumer(streamName, name string, body []byte) any {
	fail := func(e *APIError) any { return errResponse(typeConsumerReset, e) }
	var req consumerResetRequest
	if e := decodeRequest(body, &req); e != nil {
		return fail(e)
	}
	s := svc.lookup(streamName)
	if s == nil {
		return fail(apiErr(errStreamNotFound))
	}
	c := s.cons.get(name)
	if c == nil {
		return fail(apiErr(errConsumerNotFound))
	}
	seq, committed, e := c.reset(req.Seq)
	if e != nil {
		return fail(e)
	}
	if committed != nil {
		if err := <-committed; err != nil {
			return fail(apiErr(errConsumerStoreFailed, err))
		}
	}
	if req.Seq > 0 && c.retention == RetentionInterest {
		// Messages skipped forwards that no other consumer holds go now.
		s.dropUnheld()
	}
	ci := c.info()
	svc.addServerMetadata(ci.Config.Metadata)
	return &consumerResetResponse{apiResponse{Type: typeConsumerReset}, ci, seq}
}

// reset moves the consumer to deliver from seq (0: its ack floor + 1) with
// fresh delivery state, and returns the sequence it starts at and, for a
// stored consumer, a channel told the outcome of the commit that writes
// the new state.
func (c *consumer) reset(seq uint64) (uint64, chan error, *APIError) {
	c.mu.Lock()
	if c.closed || c.deleted {
		c.mu.Unlock()
		return 0, nil, apiErr(errConsumerNotFound)
	}
	if seq == 0 {
		seq = c.afS + 1
	} else if e := c.checkResetLocked(seq); e != nil {
		c.mu.Unlock()
		return 0, nil, e
	}
	var out outbox
	c.proposeLocked(kindConsumerReset, func(w opWriter) opWriter { w.u(seq); return w }, &out)
	var committed chan error
	if c.s.repl != nil {
		// Answered once the reset's own entry applied.
		committed = make(chan error, 1)
		if n := len(c.props); n > 0 && c.props[n-1].kind == kindConsumerReset {
			c.props[n-1].done = committed
		} else {
			committed <- errNotLeader // not queued: this server does not lead
		}
	}
	clear(c.redo)
	c.redo = c.redo[:0]
	clear(c.ahead)
	c.ahead = c.ahead[:0]
	c.replayTS = 0
	if c.persist && committed == nil {
		committed = make(chan error, 1)
		c.commitWaits = append(c.commitWaits, committed)
	}
	flush := c.needFlushLocked()
	c.rearmLocked(c.svc.clock.Now())
	c.mu.Unlock()
	c.submitProposals()
	c.est.Store(int64(c.countPending(seq)))
	if flush {
		c.submitFlush()
	}
	c.wake()
	return seq, committed, nil
}

// checkResetLocked refuses a reset to seq that the consumer's deliver
// policy does not allow. Called with mu held.
func (c *consumer) checkResetLocked(seq uint64) *APIError {
	cfg := &c.cfg
	switch cfg.DeliverPolicy {
	case DeliverAll:
		return nil
	case DeliverByStartSequence:
		if seq < cfg.OptStartSeq {
			return apiErr(errConsumerInvalidReset,
				fmt.Sprintf("sequence %d is below the consumer's start sequence %d", seq, cfg.OptStartSeq))
		}
		return nil
	case DeliverByStartTime:
		// The first message the consumer would deliver must not be older
		// than its start time.
		msgs := c.readBatch(c.s.st.Reader(), seq, nil)
		if len(msgs) > 0 && msgs[0].Time < cfg.OptStartTime.UnixNano() {
			return apiErr(errConsumerInvalidReset,
				fmt.Sprintf("message %d is older than the consumer's start time", msgs[0].Seq))
		}
		return nil
	}
	return apiErr(errConsumerInvalidReset,
		fmt.Sprintf("deliver policy %s does not allow a reset to a sequence", deliverNames[cfg.DeliverPolicy]))
}

package stream

import (
	"encoding/json"
	"time"
)

// What a copier learns after it hands a copy to the stream: whether the
// stream stored it, and whether the origin is still the stream it was.

// copyResult is the fate of one copy: refused (err), or stored or passed
// over as one the stream holds already.
type copyResult struct {
	sseq uint64
	err  *APIError
}

// copyRefused reports, without waiting, whether a copy of this batch was
// refused already; the copier then submits no more of it.
func (c *copier) copyRefused() bool {
	for {
		select {
		case e := <-c.results:
			if c.noteResult(c.popResult(e)) {
				return true
			}
		default:
			return c.refusedAt() != 0
		}
	}
}

// settleCopies waits for the results of the copies handed over. A refused
// copy (a discard-new limit, say) is shown as the copier's error, which
// stays until a copy is stored, and the copier starts again at it after
// its back-off, as nats-server retries: the message is not skipped.
// Copies already queued behind it may be stored before it; a mirror passes
// over what it holds already when they come again.
func (c *copier) settleCopies() *APIError {
	deadline := time.NewTimer(5 * time.Minute) // the writer answers every op; this only guards a bug
	defer deadline.Stop()
	for c.inflight > 0 {
		select {
		case e := <-c.results:
			c.noteResult(c.popResult(e))
		case <-deadline.C:
			c.inflight, c.sent, c.sentHead = 0, c.sent[:0], 0
			return apiErr(errGeneral, "copies were not answered by the stream's writer")
		}
	}
	k := c.refusedAt()
	if k == 0 {
		return nil
	}
	c.mu.Lock()
	e := c.err
	c.refusedSeq = 0
	c.mu.Unlock()
	c.next = k
	return e
}

// popResult pairs a result with the copy it is for: results come in the
// order the copies were submitted (the store's writer applies and
// answers them in order).
func (c *copier) popResult(e *APIError) copyResult {
	r := copyResult{sseq: c.sent[c.sentHead], err: e}
	c.sentHead++
	if c.inflight--; c.inflight == 0 {
		c.sent, c.sentHead = c.sent[:0], 0
	}
	return r
}

// noteResult records one copy's fate; true when it was refused.
func (c *copier) noteResult(r copyResult) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.err == nil {
		if c.refused && c.refusedSeq == 0 {
			c.err, c.refused = nil, false
		}
		return false
	}
	if c.refusedSeq == 0 || r.sseq < c.refusedSeq {
		c.refusedSeq = r.sseq
		c.err, c.refused = r.err, true
		c.s.svc.log.Warn("a copied message was refused; retrying", "stream", c.s.name, "origin", c.src.Name,
			"origin_seq", r.sseq, "err", r.err)
	}
	return true
}

func (c *copier) refusedAt() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refusedSeq
}

// clearErr clears the copier's error once the origin answered, unless it
// is a refusal of the stream's, which only a stored copy clears.
func (c *copier) clearErr() {
	c.mu.Lock()
	if !c.refused {
		c.err = nil
	}
	c.mu.Unlock()
}

// checkOriginReset notices a source's origin that was deleted and created
// again since the copier last looked (its creation time changed, or its
// last sequence is below what was copied from it), and starts copying it
// again from its beginning (or the configured start), as nats-server
// 2.15 does for sources. A mirror is left alone, as nats-server leaves
// it: it takes the new origin's messages once they pass its last sequence.
func (c *copier) checkOriginReset() {
	m, e := c.request(c.api+".STREAM.INFO."+c.src.Name, nil)
	if e != nil {
		return
	}
	var info struct {
		Error   *APIError `json:"error"`
		Created time.Time `json:"created"`
		State   struct {
			LastSeq uint64 `json:"last_seq"`
		} `json:"state"`
	}
	if err := json.Unmarshal(m.data, &info); err != nil || info.Error != nil || info.Created.IsZero() {
		return
	}
	ident := info.Created.UTC().Format(time.RFC3339Nano)
	recreated := c.ident != "" && c.ident != ident || c.next > 0 && info.State.LastSeq+1 < c.next
	c.ident = ident
	if recreated {
		c.s.svc.log.Warn("the origin was created again; copying it from its start", "stream", c.s.name, "origin", c.src.Name)
		c.next = c.src.OptStartSeq
	}
}

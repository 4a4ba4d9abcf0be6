package stream

import (
	"encoding/json"
	"math/big"
	"strings"

	"github.com/wisp-mq/wisp/stream/store"
)

// Counters (allow_msg_counter). Every message of a counter stream is an
// increment: a Nats-Incr header holding a signed decimal integer of any
// size and no payload. The stream stores, in its place, the subject's new
// total as {"val":"<decimal>"}, keeping the Nats-Incr header, so the last
// message of a subject is its counter and its history the increments.
//
// A counter stream may source other counter streams: a copied message
// carries its origin's total, not an increment to trust, so the stream
// remembers the last total seen from each origin stream and subject in a
// Nats-Counter-Sources header ({"<stream>":{"<subject>":"<total>"}}) and
// adds the difference from the previous one, which it also writes into
// the stored message's Nats-Incr. Sources' totals therefore add up however
// often a source is copied again.
//
// The new value is computed when the publish is applied, from the
// subject's last stored message (read through the batch, so increments
// committed together see each other): a pure function of state and
// operation that every replica computes alike.

const (
	hdrIncr           = "Nats-Incr"
	hdrCounterSources = "Nats-Counter-Sources"
)

// counterValue is a counter message's payload.
type counterValue struct {
	Val string `json:"val"`
}

// counterTotal is a subject's counter: its value and, for a stream that
// sources counters, the last total seen from each origin.
type counterTotal struct {
	val     big.Int
	sources map[string]map[string]string
}

// parseIncr reads a Nats-Incr header: nil when there is none, ok false
// when it is not a decimal integer.
func parseIncr(hdr []byte) (incr *big.Int, ok bool) {
	v := headerValue(hdr, hdrIncr)
	if len(v) == 0 {
		return nil, true
	}
	incr, ok = new(big.Int).SetString(string(v), 10)
	return incr, ok
}

// checkIncr refuses an increment the stream cannot take, as nats-server
// does before any other header check: a malformed one anywhere, and, for
// a message published here (not copied from a source), one on a stream
// without counters, one with a payload, or one combined with a rollup or
// an expectation header.
func (s *stream) checkIncr(hdr, data []byte, sourced bool) *APIError {
	if len(hdr) == 0 {
		return nil
	}
	incr, ok := parseIncr(hdr)
	switch {
	case !ok:
		return apiErr(errIncrInvalid)
	case incr == nil || sourced:
		return nil
	case !s.cfg.AllowMsgCounter:
		return apiErr(errIncrDisabled)
	case len(data) > 0:
		return apiErr(errIncrPayload)
	}
	for _, h := range [...]string{hdrRollup, hdrExpStream, hdrExpLastMsgID, hdrExpLastSubjSubj, hdrExpLastSeq, hdrExpLastSubjSeq} {
		if len(headerValue(hdr, h)) > 0 {
			return apiErr(errIncrInvalid)
		}
	}
	return nil
}

// loadCounter reads subject's counter from its last stored message; a
// subject with none starts at zero.
func (s *stream) loadCounter(r store.Reader, subject []byte) (*counterTotal, *APIError) {
	t := &counterTotal{}
	seq := s.lastSeqOf(subject)
	if seq == 0 {
		return t, nil
	}
	m, err := r.Msg(s.id, seq)
	if err != nil {
		return nil, apiErr(errStreamStoreFailed, err)
	}
	var v counterValue
	if json.Unmarshal(m.Data, &v) != nil {
		return nil, apiErr(errCounterBroken)
	}
	if src := headerValue(m.Header, hdrCounterSources); len(src) > 0 {
		if json.Unmarshal(src, &t.sources) != nil {
			return nil, apiErr(errCounterBroken)
		}
	}
	// Like nats-server, a value that is not a number counts as zero.
	t.val.SetString(v.Val, 10)
	return t, nil
}

// add applies one message to t and returns the header and payload to
// store: a published increment adds its Nats-Incr; a copied message's
// total replaces its origin's previous one. hdr is not modified.
func (t *counterTotal) add(subject, hdr, data []byte, sourced bool) ([]byte, []byte, *APIError) {
	incr, ok := parseIncr(hdr)
	if !ok {
		return nil, nil, apiErr(errIncrInvalid)
	}
	if incr == nil {
		return nil, nil, apiErr(errIncrMissing)
	}
	if src := headerValue(hdr, hdrStreamSource); sourced && len(src) > 0 {
		fields := strings.Split(string(src), " ")
		origin, subj := fields[0], string(subject)
		if len(fields) >= 5 {
			subj = fields[4]
		}
		var v counterValue
		if json.Unmarshal(data, &v) != nil {
			return nil, nil, apiErr(errCounterBroken)
		}
		var total, prev big.Int
		total.SetString(v.Val, 10)
		if t.sources == nil {
			t.sources = map[string]map[string]string{}
		}
		if t.sources[origin] == nil {
			t.sources[origin] = map[string]string{}
		}
		prev.SetString(t.sources[origin][subj], 10)
		t.sources[origin][subj] = total.String()
		incr = new(big.Int).Sub(&total, &prev)
		hdr = setHeader(stripHeaders(hdr, hdrIncr), hdrIncr, incr.String())
	}
	t.val.Add(&t.val, incr)
	if len(t.sources) > 0 {
		// Marshal sorts the keys, so every replica writes the same bytes.
		src, err := json.Marshal(t.sources)
		if err != nil {
			return nil, nil, apiErr(errCounterBroken)
		}
		hdr = setHeader(stripHeaders(hdr, hdrCounterSources), hdrCounterSources, string(src))
	}
	data = append(append([]byte(`{"val":"`), t.val.String()...), `"}`...)
	return hdr, data, nil
}

// countPublish turns a publish on a counter stream into the subject's new
// total (o's header and data are replaced) and puts the value in res for
// the PubAck. It checks the result against max_msg_size.
func (s *stream) countPublish(r store.Reader, o *opPublish, res *opResult) *APIError {
	t, e := s.loadCounter(r, o.Subject)
	if e != nil {
		return e
	}
	hdr, data, e := t.add(o.Subject, o.Header, o.Data, o.From != (copied{}))
	if e != nil {
		return e
	}
	if e := s.checkCountedSize(hdr, data); e != nil {
		return e
	}
	o.Header, o.Data = hdr, data
	res.counter = t.val.String()
	return nil
}

// checkCountedSize refuses a counter message that outgrew the stream's
// message size limit once its total and sources were written.
func (s *stream) checkCountedSize(hdr, data []byte) *APIError {
	if len(hdr) > maxHeaderSize {
		return apiErr(errHeaderTooBig)
	}
	if c := &s.cfg; c.MaxMsgSize >= 0 && len(hdr)+len(data) > int(c.MaxMsgSize) {
		return apiErr(errMsgTooBig)
	}
	return nil
}

// validateCounterAtomic refuses counters and atomic batches where
// nats-server does: a counter stream keeps every increment (limits
// retention, discard old) and has no per-message TTL or schedules; a
// mirror can neither count nor take batches.
func (c *Config) validateCounterAtomic() *APIError {
	invalid := func(why string) *APIError { return apiErr(errStreamInvalidConfig, why) }
	if c.AllowMsgCounter {
		switch {
		case c.Discard == DiscardNew:
			return invalid("counter stream cannot use discard new")
		case c.AllowMsgTTL:
			return invalid("counter stream cannot use message TTLs")
		case c.AllowSchedules:
			return invalid("counter stream cannot use message schedules")
		case c.Retention != RetentionLimits:
			return invalid("counter stream can only use limits retention")
		}
	}
	if c.Mirror != nil && c.AllowMsgCounter {
		return apiErr(errMirrorWithCounters)
	}
	if c.Mirror != nil && c.AllowAtomic {
		return apiErr(errMirrorWithAtomic)
	}
	if c.Mirror != nil && c.AllowBatched {
		return apiErr(errMirrorWithFast)
	}
	return nil
}

package stream

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nuid"

	"github.com/wisp-mq/wisp/subjectmap"
)

// copier copies one origin (a mirror, or one source) into a stream. It is a
// client of the origin like any other: it creates an ephemeral pull
// consumer there through the JetStream API (under the origin's API prefix,
// so an external origin works the same), starting at the sequence after
// the last one it copied, and fetches batches from it. Each message goes
// through the stream's publish path (stream.submit): a mirror's at its
// origin sequence, a source's with a Nats-Stream-Source header that records
// the origin sequence in the stored message itself, which is where a
// restarted copier reads its progress back from (source.go), so a restart
// neither skips nor repeats a message.
//
// When the origin is missing, or stops answering, the copier records the
// error (shown in stream info), waits (backing off to copierMaxBackoff) and
// starts over from where it was.
type copier struct {
	s      *stream
	src    StreamSource
	mirror bool
	key    string // src.key(), for sources' headers
	api    string // the origin's API prefix, without the final "."
	trs    []originTransform
	inbox  string
	stop   chan struct{}
	done   chan struct{}

	// next is the origin sequence wanted next. Copier goroutine only.
	next uint64

	// Copies on their way to the store (copy_result.go): how many, and
	// where their results come back. Copier goroutine only, but for the
	// channel.
	inflight int
	sent     []uint64 // origin sequences submitted, in order; from sentHead on, their results are due
	sentHead int
	results  chan *APIError
	onCopied func(res *opResult) // told each copy's result, in submission order (the writer's)
	hdrBuf   []byte              // a copy's header block, rewritten for each (submit copies it)
	// ident is the origin stream's creation time as last seen, to notice
	// it was deleted and created again (copy_result.go).
	ident string

	mu     sync.Mutex // guards the fields below and the inbound queue
	lag    uint64
	active time.Time // last time the origin answered; zero: never
	err    *APIError
	// refused: err is the stream's refusal of a copy, which stays shown
	// until a copy is stored, across consumer re-creations; refusedSeq
	// the origin sequence of the first copy refused in this batch.
	refused    bool
	refusedSeq uint64
	queue      []originMsg
	signal     chan struct{} // one token: the queue has something
}

// originTransform is one of the origin's filters, with its rename.
type originTransform struct {
	filter string
	tr     *subjectmap.Transform // nil: keep the subject
}

// originMsg is one message (or status) the origin's consumer sent.
type originMsg struct {
	subject, reply string
	hdr, data      []byte
}

// Timings of the copier; variables so tests of failure paths stay short.
var (
	copierBatch      = 256
	copierExpires    = 2 * time.Second
	copierReqTimeout = 5 * time.Second
	copierMinBackoff = 100 * time.Millisecond
	copierMaxBackoff = 5 * time.Second
)

func newCopier(s *stream, src *StreamSource, mirror bool) *copier {
	c := &copier{
		s: s, src: *src, mirror: mirror, key: src.key(), api: src.apiPrefix(),
		inbox: "_INBOX.wisp." + nuid.Next(), stop: make(chan struct{}), done: make(chan struct{}),
		signal: make(chan struct{}, 1), results: make(chan *APIError, copierBatch),
	}
	c.onCopied = func(res *opResult) { c.results <- res.err }
	for i, f := range src.filters() {
		ot := originTransform{filter: f}
		if i < len(src.SubjectTransforms) && src.SubjectTransforms[i].Destination != "" {
			ot.tr, _ = subjectmap.NewTransform(f, src.SubjectTransforms[i].Destination)
		}
		c.trs = append(c.trs, ot)
	}
	return c
}

// run copies until stopped.
func (c *copier) run() {
	defer close(c.done)
	cancel, err := c.subscribeInbox()
	if err != nil {
		c.setErr(apiErr(errGeneral, err))
		return
	}
	defer cancel()
	c.next = c.startSeq()
	backoff := copierMinBackoff
	for {
		if !c.mirror {
			c.checkOriginReset()
		}
		name, e := c.createConsumer()
		if e == nil {
			c.clearErr()
			backoff = copierMinBackoff
			e = c.fetchLoop(name)
			c.deleteConsumer(name)
		}
		if c.stopped() {
			return
		}
		if e != nil {
			c.setErr(e)
			c.s.svc.log.Debug("copying from origin interrupted", "stream", c.s.name, "origin", c.src.Name, "err", e)
			if !c.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, copierMaxBackoff)
		}
	}
}

// subscribeInbox subscribes to the copier's inbox so that answers reach
// it from any server of a cluster: the origin, or its leader, may be on
// another one, and move there when its leadership does.
func (c *copier) subscribeInbox() (func(), error) {
	if rs, ok := c.s.svc.broker.(routedSubscriber); ok {
		return rs.SubscribeRouted(c.inbox+".>", c.onInbound)
	}
	return c.s.svc.broker.Subscribe(c.inbox+".>", "", c.onInbound)
}

func (c *copier) stopped() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

func (c *copier) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.stop:
		return false
	case <-t.C:
		return true
	}
}

func (c *copier) setErr(e *APIError) {
	c.mu.Lock()
	c.err = e
	c.mu.Unlock()
}

// onInbound is the broker callback for the copier's inbox: it queues and
// returns at once, since the broker may call it on any goroutine.
func (c *copier) onInbound(subject, reply, hdr, data []byte) {
	m := originMsg{subject: string(subject), reply: string(reply), hdr: bytes.Clone(hdr), data: bytes.Clone(data)}
	c.mu.Lock()
	c.queue = append(c.queue, m)
	c.mu.Unlock()
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// receive waits for the next message on the inbox, up to d.
func (c *copier) receive(d time.Duration) (originMsg, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			m := c.queue[0]
			c.queue[0] = originMsg{}
			c.queue = c.queue[1:]
			c.mu.Unlock()
			return m, true
		}
		c.mu.Unlock()
		select {
		case <-c.signal:
		case <-t.C:
			return originMsg{}, false
		case <-c.stop:
			return originMsg{}, false
		}
	}
}

// request sends an API request from the inbox and waits for its answer,
// skipping anything older still queued.
func (c *copier) request(subject string, body any) (originMsg, *APIError) {
	b, err := json.Marshal(body)
	if err != nil {
		return originMsg{}, apiErr(errGeneral, err)
	}
	reply := c.inbox + ".api." + nuid.Next()
	if err := c.s.svc.broker.Publish(subject, reply, nil, b); err != nil {
		return originMsg{}, apiErr(errGeneral, err)
	}
	deadline := time.Now().Add(copierReqTimeout)
	for {
		m, ok := c.receive(time.Until(deadline))
		if !ok {
			return originMsg{}, apiErr(errGeneral, "no answer from the origin's JetStream API at "+c.api)
		}
		if m.subject == reply {
			if status := statusOf(m.hdr); status == "503" {
				return originMsg{}, apiErr(errGeneral, "no responders for the origin's JetStream API at "+c.api)
			}
			return m, nil
		}
	}
}

// createConsumer makes an ephemeral pull consumer on the origin from
// c.next, or, the first time, from the configured start.
func (c *copier) createConsumer() (string, *APIError) {
	cfg := ConsumerConfig{
		AckPolicy: AckNone, ReplayPolicy: ReplayInstant, DeliverPolicy: DeliverByStartSequence, OptStartSeq: c.next,
		InactiveThreshold: 30 * time.Second, MemoryStorage: true, Replicas: 1,
		Description: "copies into " + c.s.name,
	}
	if c.next == 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = DeliverAll, 0
		if t := c.src.OptStartTime; t != nil {
			cfg.DeliverPolicy, cfg.OptStartTime = DeliverByStartTime, t
		}
	}
	filters := c.src.filters()
	if len(filters) > 1 {
		cfg.FilterSubjects = filters
	} else if filters[0] != ">" {
		cfg.FilterSubject = filters[0]
	}
	req := consumerCreateRequest{Stream: c.src.Name, Config: &cfg}
	m, e := c.request(c.api+".CONSUMER.CREATE."+c.src.Name, &req)
	if e != nil {
		return "", e
	}
	var resp struct {
		Error *APIError `json:"error"`
		Name  string    `json:"name"`
	}
	if err := json.Unmarshal(m.data, &resp); err != nil {
		return "", apiErr(errGeneral, "origin's answer: "+err.Error())
	}
	if resp.Error != nil {
		return "", resp.Error
	}
	c.noteActive()
	return resp.Name, nil
}

func (c *copier) deleteConsumer(name string) {
	if c.stopped() {
		return // the layer is closing or the stream going: let it expire
	}
	_ = c.s.svc.broker.Publish(c.api+".CONSUMER.DELETE."+c.src.Name+"."+name, "", nil, nil)
}

// fetchLoop pulls batches until the consumer fails or the copier stops.
func (c *copier) fetchLoop(name string) *APIError {
	next := c.api + ".CONSUMER.MSG.NEXT." + c.src.Name + "." + name
	for !c.stopped() {
		reply := c.inbox + ".pull." + nuid.Next()
		body, _ := json.Marshal(map[string]any{"batch": copierBatch, "expires": copierExpires})
		if err := c.s.svc.broker.Publish(next, reply, nil, body); err != nil {
			return apiErr(errGeneral, err)
		}
		if e := c.takeBatch(reply); e != nil {
			return e
		}
	}
	return nil
}

// takeBatch copies the messages one pull brings, until the batch is full,
// the pull ends with a status, or nothing comes for longer than it should;
// then it waits for the copies' results (copy_result.go).
func (c *copier) takeBatch(reply string) *APIError {
	e := c.takeMsgs(reply)
	if r := c.settleCopies(); r != nil {
		return r
	}
	return e
}

func (c *copier) takeMsgs(reply string) *APIError {
	for got := 0; got < copierBatch; {
		m, ok := c.receive(copierExpires + copierReqTimeout)
		if !ok {
			if c.stopped() {
				return nil
			}
			return apiErr(errGeneral, "the origin's consumer stopped answering")
		}
		if m.subject != reply && !strings.HasPrefix(m.reply, "$JS.ACK.") {
			continue // an answer to an older request
		}
		if status := statusOf(m.hdr); status != "" && len(m.data) == 0 {
			switch status {
			case "404", "408":
				c.noteActive()
				return nil // nothing more for now: pull again
			case "100":
				continue // a heartbeat
			}
			return apiErr(errGeneral, "the origin's consumer ended: "+status)
		}
		sseq, pending, ok := ackReplyInfo(m.reply)
		if !ok {
			continue
		}
		got++
		c.noteActive()
		c.mu.Lock()
		c.lag = pending
		c.mu.Unlock()
		if sseq < c.next {
			continue // copied already
		}
		if c.copyRefused() {
			return nil // copy no more of this batch: it restarts at the refused one
		}
		c.copy(&m, sseq)
		c.next = sseq + 1
	}
	return nil
}

// copy appends one origin message to the stream.
func (c *copier) copy(m *originMsg, sseq uint64) {
	subject := []byte(m.subject)
	for _, t := range c.trs {
		if t.tr != nil && t.tr.Matches(subject) {
			subject = t.tr.Append(nil, subject)
			break
		}
	}
	c.inflight++
	c.sent = append(c.sent, sseq)
	if c.mirror {
		c.hdrBuf = appendCopyHeader(c.hdrBuf[:0], m.hdr, nil)
		c.s.submitDone(subject, nil, nilIfEmpty(c.hdrBuf), m.data, copied{at: sseq}, c.onCopied)
		return
	}
	name, rest, _ := strings.Cut(c.key, " ")
	c.hdrBuf = appendCopyHeader(c.hdrBuf[:0], m.hdr, &sourceStamp{name: name, rest: rest, subject: m.subject, seq: sseq})
	c.s.submitDone(subject, nil, c.hdrBuf, m.data, copied{key: c.key, seq: sseq}, c.onCopied)
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func (c *copier) noteActive() {
	c.mu.Lock()
	c.active = time.Now()
	c.mu.Unlock()
}

// info is the copier's part of stream info.
func (c *copier) info() *StreamSourceInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	si := &StreamSourceInfo{
		Name: c.src.Name, External: c.src.External, Lag: c.lag, Active: -1, Error: c.err,
		FilterSubject: c.src.FilterSubject, SubjectTransforms: c.src.SubjectTransforms,
	}
	if !c.active.IsZero() {
		si.Active = time.Since(c.active)
	}
	return si
}

// ackReplyInfo reads the origin sequence and the pending count from a
// delivery's reply subject, in either of nats-server's two forms:
// $JS.ACK.<stream>.<consumer>.<count>.<sseq>.<dseq>.<ts>.<pending> or, with
// domain and account hash, $JS.ACK.<domain>.<hash>.<stream>.<consumer>....
func ackReplyInfo(reply string) (sseq, pending uint64, ok bool) {
	t := strings.Split(reply, ".")
	var si, pi int
	switch {
	case len(t) == 9:
		si, pi = 5, 8
	case len(t) >= 11:
		si, pi = 7, 10
	default:
		return 0, 0, false
	}
	sseq, err1 := strconv.ParseUint(t[si], 10, 64)
	pending, err2 := strconv.ParseUint(t[pi], 10, 64)
	return sseq, pending, err1 == nil && err2 == nil
}

// statusOf is the status code of a header block ("NATS/1.0 404 ..."), or
// "" when it has none.
func statusOf(hdr []byte) string {
	if !bytes.HasPrefix(hdr, []byte(hdrPreamble+" ")) {
		return ""
	}
	rest := hdr[len(hdrPreamble)+1:]
	if len(rest) >= 3 {
		return string(rest[:3])
	}
	return ""
}

package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nuid"
	"github.com/wisp-mq/wisp/stream/store"
)

// Stream restores ($JS.API.STREAM.RESTORE.<stream>), as `nats backup
// restore stream` drives them. The request carries the config to restore
// under (and the state the backup recorded); the reply names a deliver
// subject. The client then sends the archive there in chunks, each as a
// request whose empty reply acknowledges it, and ends with an empty
// message, whose reply is the outcome: a stream_create_response with the
// stream's info, or with the error (10062 with the reason, or a quota's
// error). When the archive fails its checks before the end, the rest of
// the chunks are still acknowledged and dropped, as nats-server does, so
// that the client hears the reason in answer to its closing message.
//
// Nothing is visible until the whole archive has been read and checked:
// messages and pending entries are written, through the stream's store,
// under a fresh stream id that no definition names yet, one bounded batch
// at a time; the definition, the last sequence and the consumers go in
// one last batch once the end record has checked out. A damaged,
// truncated, abandoned or refused restore removes what it wrote.
const (
	restoreDeliverPrefix = "$JS.SNAPSHOT.RESTORE."
	// restoreStall is how long a restore waits for the next chunk.
	restoreStall = 5 * time.Second
	// restoreBatchBytes and restoreBatchMsgs bound one batch of restored
	// messages.
	restoreBatchBytes = 1 << 20
	restoreBatchMsgs  = 4096

	typeStreamRestore = typePrefix + "stream_restore_response"
)

type restoreRequest struct {
	Config json.RawMessage `json:"config"`
	State  json.RawMessage `json:"state,omitempty"`
}

type restoreResponse struct {
	apiResponse
	DeliverSubject string `json:"deliver_subject"`
}

// restoreStream answers STREAM.RESTORE and starts taking chunks.
func (svc *Service) restoreStream(name string, body []byte, client json.RawMessage) any {
	if len(bytes.TrimSpace(body)) == 0 {
		return errResponse(typeStreamRestore, apiErr(errBadRequest))
	}
	var req restoreRequest
	if e := decodeRequest(body, &req); e != nil {
		return errResponse(typeStreamRestore, e)
	}
	if len(req.Config) == 0 {
		req.Config = []byte("{}")
	}
	cfg, bad := parseConfig(typeStreamRestore, name, req.Config)
	if bad != nil {
		return bad
	}
	svc.mu.RLock()
	_, exists := svc.streams[name]
	var e *APIError
	if !exists {
		if svc.overlapping(name, cfg.Subjects) {
			e = apiErr(errStreamSubjectOverlap)
		} else {
			e = svc.checkReservation(name, cfg)
		}
	}
	svc.mu.RUnlock()
	if exists {
		return errResponse(typeStreamRestore, apiErr(errStreamNameExistRestore))
	}
	if e != nil {
		return errResponse(typeStreamRestore, e)
	}
	j := &restoreJob{svc: svc, name: name, cfg: cfg, client: client, st: svc.storeFor(cfg.Storage),
		chunks: make(chan restoreChunk, 4), dead: make(chan struct{}), start: svc.clock.Now().UTC()}
	deliver := restoreDeliverPrefix + name + "." + nuid.Next()
	cancel, err := svc.broker.Subscribe(deliver, "", j.onChunk)
	if err != nil {
		return errResponse(typeStreamRestore, apiErr(errRestoreSubscribe, deliver, ": ", err))
	}
	j.cancel = cancel
	svc.restoreAdvisoryCreate(name, client)
	svc.inflight.Add(1)
	go func() {
		defer svc.inflight.Done()
		j.run()
	}()
	return &restoreResponse{apiResponse: apiResponse{Type: typeStreamRestore}, DeliverSubject: deliver}
}

// restoreChunk is one message on the deliver subject.
type restoreChunk struct {
	data  []byte
	reply string
}

// restoreJob is one restore in progress.
type restoreJob struct {
	svc    *Service
	name   string
	cfg    *Config
	client json.RawMessage
	st     Store
	start  time.Time

	chunks chan restoreChunk
	dead   chan struct{} // closed when the job ends: stop taking chunks
	cancel func()

	// Owned by the job's goroutine.
	cur      []byte // rest of the chunk being read
	unacked  string // reply subject of the chunk being read
	final    string // reply subject of the closing empty message
	received int64

	id        uint32
	wrote     bool // something is stored under id
	batch     []*store.Msg
	batchSize uint64
	restored  uint64 // bytes of messages written so far
	consumers []*restoredConsumer
}

type restoredConsumer struct {
	name  string
	meta  []byte
	state []byte
}

// onChunk is the broker callback for the deliver subject. It copies the
// chunk and hands it to the job; the client sends the next one only once
// this one is acknowledged, so the queue is short.
func (j *restoreJob) onChunk(_, reply, _, data []byte) {
	c := restoreChunk{data: bytes.Clone(data), reply: string(reply)}
	if c.data == nil {
		c.data = []byte{}
	}
	select {
	case j.chunks <- c:
	case <-j.dead:
	}
}

// Read gives the archive reader the chunks in order. Reaching for the
// next chunk acknowledges the one before; the empty closing message is
// the end of the archive.
func (j *restoreJob) Read(p []byte) (int, error) {
	for len(j.cur) == 0 {
		if j.final != "" {
			return 0, io.EOF
		}
		if j.unacked != "" {
			_ = j.svc.broker.Publish(j.unacked, "", nil, nil)
			j.unacked = ""
		}
		t := time.NewTimer(restoreStall)
		select {
		case c := <-j.chunks:
			t.Stop()
			if c.reply == "" {
				return 0, errors.New("each chunk needs a reply subject")
			}
			if len(c.data) == 0 {
				j.final = c.reply
				return 0, io.EOF
			}
			j.cur, j.unacked = c.data, c.reply
			j.received += int64(len(c.data))
		case <-t.C:
			return 0, errRestoreStalled
		case <-j.svc.xfers.done():
			t.Stop()
			return 0, errShuttingDown
		}
	}
	n := copy(p, j.cur)
	j.cur = j.cur[n:]
	return n, nil
}

var errRestoreStalled = errors.New("restore is stalled: no chunk arrived in time")

// run reads the archive, makes the stream, and answers the client.
func (j *restoreJob) run() {
	defer close(j.dead)
	defer j.cancel()
	s, err := j.restore()
	if err != nil {
		j.undo()
	}
	var resp any
	if err != nil {
		resp = errResponse(typeStreamCreate, restoreAPIErr(err))
		j.svc.log.Warn("stream restore failed", "stream", j.name, "err", err)
	} else {
		resp = j.svc.infoResponse(typeStreamCreate, s.info(""))
		j.svc.log.Info("stream restored", "stream", j.name, "bytes", j.received)
	}
	reply := j.outcomeReply(err)
	j.svc.restoreAdvisoryComplete(j.name, j.start, j.svc.clock.Now().UTC(), j.received, j.client)
	if reply != "" {
		if out, merr := json.Marshal(resp); merr == nil {
			_ = j.svc.broker.Publish(reply, "", nil, out)
		}
	}
}

// outcomeReply returns where the outcome goes: the closing message's
// reply. A restore that failed before the client finished sending takes
// (and drops) the rest of the chunks first, acknowledging each, as
// nats-server does, so the client hears the reason as the answer to its
// closing message; "" when the client is gone or never closes.
func (j *restoreJob) outcomeReply(err error) string {
	if err == nil || j.final != "" {
		return j.final
	}
	if errors.Is(err, errRestoreStalled) || errors.Is(err, errShuttingDown) {
		return ""
	}
	j.cur = nil
	for {
		if _, rerr := j.Read(make([]byte, 1)); rerr != nil {
			j.cur = nil
			if rerr == io.EOF {
				return j.final
			}
			return ""
		}
		j.cur = nil // dropped
	}
}

// restoreAPIErr is the API error for a failed restore: an API error as
// it is (a quota, a name taken meanwhile), anything else as 10062 with
// its reason, as nats-server answers.
func restoreAPIErr(err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	return apiErr(errStreamRestore, err)
}

// restore reads the whole archive, writing messages as they come, and
// once it checked out commits the definition and consumers.
func (j *restoreJob) restore() (*stream, error) {
	ar := newArchiveReader(j)
	h, err := ar.header()
	if err != nil {
		return nil, err
	}
	if err := j.st.Do(func(b *store.Batch) error {
		id, err := b.NextStreamID()
		j.id = id
		return err
	}); err != nil {
		return nil, fmt.Errorf("allocate a stream id: %w", err)
	}
	var cur *restoredConsumer
	for {
		it, err := ar.next()
		if err != nil {
			return nil, err
		}
		switch {
		case it.msg != nil:
			if err := j.addMsg(it.msg); err != nil {
				return nil, err
			}
		case it.consumer != nil:
			if cur, err = j.addConsumer(it.consumer); err != nil {
				return nil, err
			}
		case it.pending != nil:
			if err := j.addPending(cur, it.pending); err != nil {
				return nil, err
			}
		case it.end != nil:
			if err := j.flushMsgs(); err != nil {
				return nil, err
			}
			return j.commit(h)
		}
	}
}

func (j *restoreJob) addMsg(m *store.Msg) error {
	j.batch = append(j.batch, m)
	j.batchSize += m.Size()
	if j.batchSize >= restoreBatchBytes || len(j.batch) >= restoreBatchMsgs {
		return j.flushMsgs()
	}
	return nil
}

// flushMsgs writes the gathered messages, once the account's byte limits
// have room for them.
func (j *restoreJob) flushMsgs() error {
	if len(j.batch) == 0 {
		return nil
	}
	storage := j.cfg.Storage
	for _, q := range j.svc.quotas {
		if limit := q.Limit(storage); limit > 0 && q.Used(storage)+int64(j.restored+j.batchSize) > limit {
			return exceededErr(storage)
		}
	}
	if j.cfg.MaxBytes > 0 && j.restored+j.batchSize > uint64(j.cfg.MaxBytes) {
		return fmt.Errorf("the archive holds more than the stream's max_bytes of %d", j.cfg.MaxBytes)
	}
	j.wrote = true
	msgs := j.batch
	err := j.st.Do(func(b *store.Batch) error {
		for _, m := range msgs {
			if err := b.PutRestoredMsg(j.id, m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store messages: %w", err)
	}
	j.restored += j.batchSize
	clear(j.batch)
	j.batch, j.batchSize = j.batch[:0], 0
	return nil
}

// addConsumer checks a consumer's definition against the stream being
// restored; it is stored with the stream's definition at the end.
func (j *restoreJob) addConsumer(ac *archiveConsumer) (*restoredConsumer, error) {
	var meta consumerMeta
	if err := json.Unmarshal(ac.Meta, &meta); err != nil {
		return nil, fmt.Errorf("consumer %q: unreadable definition: %w", ac.Name, err)
	}
	if meta.Config.Name != ac.Name {
		return nil, fmt.Errorf("consumer %q: its definition names %q", ac.Name, meta.Config.Name)
	}
	if e := meta.Config.validate(j.cfg); e != nil {
		return nil, fmt.Errorf("consumer %q: %s", ac.Name, e.Description)
	}
	for _, c := range j.consumers {
		if c.name == ac.Name {
			return nil, fmt.Errorf("consumer %q appears twice", ac.Name)
		}
	}
	if j.cfg.MaxConsumers > 0 && len(j.consumers) >= j.cfg.MaxConsumers {
		return nil, apiErr(errMaxConsumers)
	}
	c := &restoredConsumer{name: ac.Name, meta: ac.Meta, state: ac.State}
	j.consumers = append(j.consumers, c)
	return c, nil
}

func (j *restoreJob) addPending(c *restoredConsumer, pending []store.Pending) error {
	if err := j.flushMsgs(); err != nil {
		return err
	}
	j.wrote = true
	err := j.st.Do(func(b *store.Batch) error {
		for _, p := range pending {
			if err := b.PutPending(j.id, c.name, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store pending entries of consumer %q: %w", c.name, err)
	}
	return nil
}

// commit stores the definition, last sequence and consumers in one batch
// and brings the stream up, unless a stream of the name or of
// overlapping subjects appeared meanwhile.
func (j *restoreJob) commit(h *archiveHeader) (*stream, error) {
	svc := j.svc
	meta := &streamMeta{ID: j.id, Created: h.Created, Config: *j.cfg}
	if meta.Created.IsZero() {
		meta.Created = j.start
	}
	v, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	svc.mu.Lock()
	s, err := j.commitLocked(meta, v, h)
	svc.mu.Unlock()
	if err != nil {
		return nil, err
	}
	// Consumers start outside svc.mu, and the advisory is sent without
	// a lock of the layer (advisory.go).
	svc.loadConsumers(s)
	svc.streamAdvisory(j.name, actionCreate)
	return s, nil
}

func (j *restoreJob) commitLocked(meta *streamMeta, v []byte, h *archiveHeader) (*stream, error) {
	svc := j.svc
	if svc.streams[j.name] != nil {
		return nil, apiErr(errStreamNameExistRestore)
	}
	if svc.overlapping(j.name, j.cfg.Subjects) {
		return nil, apiErr(errStreamSubjectOverlap)
	}
	j.wrote = true
	err := j.st.Do(func(b *store.Batch) error {
		if err := b.PutMeta(j.name, j.id, v); err != nil {
			return err
		}
		if err := b.SetLastSeq(j.id, h.LastSeq, h.LastTime); err != nil {
			return err
		}
		for _, c := range j.consumers {
			if err := b.PutConsumerMeta(j.id, c.name, c.meta); err != nil {
				return err
			}
			if c.state != nil {
				if err := b.PutConsumerState(j.id, c.name, c.state); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store the stream's definition: %w", err)
	}
	s := newStream(svc, j.st, meta)
	if err := s.load(svc.clock.Now()); err != nil {
		return nil, j.retract(s, err)
	}
	if err := svc.subscribe(s, j.cfg.Subjects); err != nil {
		return nil, j.retract(s, err)
	}
	svc.streams[j.name] = s
	return s, nil
}

// retract undoes a commit whose stream could not be brought up; svc.mu
// is held.
func (j *restoreJob) retract(s *stream, cause error) error {
	j.svc.unsubscribeAll(s)
	s.mu.Lock()
	s.countBytes(-int64(s.state.bytes))
	s.state.bytes = 0
	s.deleted = true
	if s.ageTimer != nil {
		s.ageTimer.Stop()
	}
	s.stopShapingTimers()
	s.mu.Unlock()
	if err := j.st.DoFreeing(func(b *store.Batch) error { return b.DropStream(j.name, j.id) }); err != nil {
		j.svc.log.Error("removing a failed restore", "stream", j.name, "err", err)
	}
	j.wrote = false
	return cause
}

// undo removes what a failed restore wrote under its stream id.
func (j *restoreJob) undo() {
	if !j.wrote {
		return
	}
	if err := j.st.DoFreeing(func(b *store.Batch) error { return b.DropStreamID(j.id) }); err != nil {
		j.svc.log.Error("removing a failed restore", "stream", j.name, "err", err)
	}
}

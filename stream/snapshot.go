package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nuid"
	"github.com/wisp-mq/wisp/stream/store"
)

// Stream snapshots ($JS.API.STREAM.SNAPSHOT.<stream>), as `nats backup
// stream` asks for them. The request names a deliver subject; the reply
// carries the stream's config and state, and the archive (archive.go)
// then goes to the deliver subject in chunks, each with a reply subject
// the client answers to acknowledge it. At most window/chunk chunks are
// unacknowledged at once; a message without data ends the transfer, with
// a Status header of 204 when it succeeded, 408 when the client stopped
// acknowledging or listening, 500 with a description when reading
// failed. These are nats-server's subjects, defaults and limits.
//
// The archive is taken at one moment: a Pebble snapshot opened between
// two of the store's batches, with the stream's state of that moment,
// while publishing goes on. It is read and sent one chunk at a time.
const (
	snapshotAckPrefix    = "$JS.SNAPSHOT.ACK."
	defaultSnapChunk     = 128 * 1024
	defaultSnapWindow    = 8 * 1024 * 1024
	snapshotAckTimeout   = 5 * time.Second
	snapshotInterestWait = 5 * time.Second
	snapshotExactWait    = 2 * time.Second

	typeStreamSnapshot = typePrefix + "stream_snapshot_response"
)

// snapshotRequest is the body of STREAM.SNAPSHOT.
type snapshotRequest struct {
	DeliverSubject string `json:"deliver_subject"`
	NoConsumers    bool   `json:"no_consumers,omitempty"`
	ChunkSize      int    `json:"chunk_size,omitempty"`
	WindowSize     int    `json:"window_size,omitempty"`
	CheckMsgs      bool   `json:"jsck,omitempty"`
}

type snapshotResponse struct {
	apiResponse
	Config *Config      `json:"config,omitempty"`
	State  *StreamState `json:"state,omitempty"`
}

// transfers tracks the snapshots and restores in progress so that Close
// can stop them before it closes the stores.
type transfers struct {
	once     sync.Once
	stopOnce sync.Once
	quit     chan struct{}
}

func (t *transfers) done() <-chan struct{} {
	t.once.Do(func() { t.quit = make(chan struct{}) })
	return t.quit
}

func (t *transfers) stop() {
	t.done()
	t.stopOnce.Do(func() { close(t.quit) })
}

// frozenStream is one stream as it was at one moment: a store reader of
// that moment and the stream's definition and state then.
type frozenStream struct {
	r       store.Reader
	release func()
	id      uint32
	header  archiveHeader
	info    StreamInfo
}

// snapshotter is the store method snapshots need; store.Store has it.
type snapshotter interface {
	Snapshot() (store.Reader, func(), error)
}

// freezeOp opens the store snapshot in its Done, on the writer goroutine
// after a commit and before the next batch is applied, so that the store
// and the stream's in-memory state agree. It writes nothing, and is let
// through while the store refuses writes for lack of space.
type freezeOp struct {
	s   *stream
	out chan freezeResult
}

type freezeResult struct {
	f   *frozenStream
	err error
}

func (*freezeOp) Apply(*store.Batch) error { return nil }
func (*freezeOp) FreesSpace() bool         { return true }

func (o *freezeOp) Done(err error) {
	if err != nil {
		o.out <- freezeResult{err: err}
		return
	}
	s := o.s
	sn, ok := s.localStore().(snapshotter)
	if !ok {
		o.out <- freezeResult{err: errors.New("this store cannot take snapshots")}
		return
	}
	r, release, err := sn.Snapshot()
	if err != nil {
		o.out <- freezeResult{err: err}
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.deleted {
		release()
		o.out <- freezeResult{err: errors.New("stream was deleted")}
		return
	}
	st := s.state
	now := s.svc.clock.Now().UTC()
	f := &frozenStream{r: r, release: release, id: s.id,
		header: archiveHeader{Config: s.cfg, Created: s.created.UTC(), FirstSeq: st.first, LastSeq: st.last,
			LastTime: st.lastTime, Msgs: st.msgs, Bytes: st.bytes, Taken: now, Server: s.svc.serverName},
		info: StreamInfo{Config: s.cfg, Created: s.created.UTC(), TimeStamp: now, State: StreamState{
			Msgs: st.msgs, Bytes: st.bytes, FirstSeq: st.first, LastSeq: st.last,
			FirstTime: unixTime(st.firstTime), LastTime: unixTime(st.lastTime),
			NumSubjects: len(s.subjects), NumDeleted: int(st.numDeleted()), Consumers: s.consumers,
		}},
	}
	o.out <- freezeResult{f: f}
}

// freeze takes the consistent view of s a snapshot sends.
func (s *stream) freeze() (*frozenStream, error) {
	op := &freezeOp{s: s, out: make(chan freezeResult, 1)}
	s.st.Submit(op)
	r := <-op.out
	return r.f, r.err
}

// routeTransfer routes STREAM.SNAPSHOT and STREAM.RESTORE (without the
// API prefix), which need to know who asked; nil for anything else.
func (svc *Service) routeTransfer(rest string, body []byte, client json.RawMessage) any {
	for _, t := range []struct {
		prefix, typ string
		fn          func(string, []byte, json.RawMessage) any
	}{
		{"STREAM.SNAPSHOT.", typeStreamSnapshot, svc.snapshotStream},
		{"STREAM.RESTORE.", typeStreamRestore, svc.restoreStream},
	} {
		name, ok := strings.CutPrefix(rest, t.prefix)
		if !ok || name == "" || strings.Contains(name, ".") {
			continue
		}
		if reason := svc.offlineStream(name); reason != "" {
			return errResponse(t.typ, apiErr(errStreamOffline, reason))
		}
		return t.fn(name, body, client)
	}
	return nil
}

// snapshotStream answers STREAM.SNAPSHOT and starts sending the archive.
func (svc *Service) snapshotStream(name string, body []byte, client json.RawMessage) any {
	if len(bytes.TrimSpace(body)) == 0 {
		return errResponse(typeStreamSnapshot, apiErr(errBadRequest))
	}
	s := svc.lookup(name)
	if s == nil {
		return errResponse(typeStreamSnapshot, apiErr(errStreamNotFound))
	}
	req := &snapshotRequest{}
	if e := decodeRequest(body, req); e != nil {
		return errResponse(typeStreamSnapshot, e)
	}
	if !validSubject(req.DeliverSubject) || hasWildcard(req.DeliverSubject) {
		return errResponse(typeStreamSnapshot, apiErr(errSnapshotDeliverSubject))
	}
	start := svc.clock.Now().UTC()
	f, err := s.freeze()
	if err != nil {
		return errResponse(typeStreamSnapshot, apiErr(errStreamSnapshot, err))
	}
	if req.CheckMsgs {
		if err := f.check(); err != nil {
			f.release()
			return errResponse(typeStreamSnapshot, apiErr(errStreamSnapshot, err))
		}
	}
	// The archive is sent from a goroutine of its own, counted with the
	// API calls in flight so that Close waits for it (and stops it).
	svc.inflight.Add(1)
	go func() {
		defer svc.inflight.Done()
		defer f.release()
		svc.snapshotAdvisoryCreate(name, &f.info.State, client)
		err := svc.sendSnapshot(f, req)
		svc.snapshotAdvisoryComplete(name, start, err, client)
		if err != nil {
			svc.log.Warn("stream snapshot failed", "stream", name, "err", err)
		} else {
			svc.log.Info("stream snapshot sent", "stream", name, "messages", f.info.State.Msgs)
		}
	}()
	cfg, st := f.info.Config, f.info.State
	return &snapshotResponse{apiResponse: apiResponse{Type: typeStreamSnapshot}, Config: &cfg, State: &st}
}

// check is the snapshot's health check (jsck): every message the state
// counts must be readable.
func (f *frozenStream) check() error {
	var n uint64
	if err := f.r.Scan(f.id, 0, func(*store.Msg) bool { n++; return true }); err != nil {
		return err
	}
	if n != f.info.State.Msgs {
		return fmt.Errorf("%d of %d messages are unreadable", f.info.State.Msgs-n, f.info.State.Msgs)
	}
	return nil
}

// Why a transfer stopped early, with the status the final message carries.
var (
	errNoFlowResponse = errors.New("no flow response")
	errNoInterest     = errors.New("no interest")
	errShuttingDown   = errors.New("server is shutting down")
)

// sendSnapshot writes the archive of f to the request's deliver subject
// and ends with the final status message.
func (svc *Service) sendSnapshot(f *frozenStream, req *snapshotRequest) error {
	chunk, window := req.ChunkSize, req.WindowSize
	if chunk == 0 {
		chunk = defaultSnapChunk
	}
	if window == 0 {
		window = defaultSnapWindow
	}
	chunk = min(max(1024, chunk), 1024*1024)
	window = max(min(max(1024, window), 32*1024*1024), chunk)
	cs := &chunkSender{svc: svc, deliver: req.DeliverSubject, size: chunk,
		slots:     make(chan struct{}, window/chunk),
		ackPrefix: snapshotAckPrefix + f.info.Config.Name + "." + nuid.Next()}
	for range window / chunk {
		cs.slots <- struct{}{}
	}
	err := svc.waitInterest(req.DeliverSubject)
	if err == nil {
		var cancel func()
		cancel, err = svc.broker.Subscribe(cs.ackPrefix+".>", "", cs.onAck)
		if err == nil {
			defer cancel()
			err = writeArchive(newArchiveWriter(cs), f, !req.NoConsumers)
		}
		if err == nil {
			err = cs.flush()
		}
	}
	status := "NATS/1.0 204\r\n\r\n"
	switch {
	case errors.Is(err, errNoFlowResponse):
		status = "NATS/1.0 408 No Flow Response\r\n\r\n"
	case errors.Is(err, errNoInterest):
		status = "NATS/1.0 408 No Interest\r\n\r\n"
	case err != nil:
		status = "NATS/1.0 500 " + oneLine(err.Error()) + "\r\n\r\n"
	}
	if perr := svc.broker.Publish(req.DeliverSubject, "", []byte(status), nil); perr != nil && err == nil {
		err = perr
	}
	return err
}

// exactInterestChecker is the optional Broker method telling whether a
// subscription on exactly a subject exists; the server's brokers have it.
type exactInterestChecker interface {
	HasExactInterest(subject string) bool
}

// waitInterest waits for the client to subscribe to the deliver subject,
// which it does only once it has the reply to its request. Its request
// inbox (a wildcard) matches the deliver subject before that, so the wait
// is for a subscription on exactly the subject; a client listening
// through a wildcard of its own is served after snapshotExactWait.
func (svc *Service) waitInterest(subject string) error {
	start := time.Now()
	exact, canTell := svc.broker.(exactInterestChecker)
	for {
		waited := time.Since(start)
		switch {
		case canTell && exact.HasExactInterest(subject):
			return nil
		case (!canTell || waited > snapshotExactWait) && svc.hasInterest(subject):
			return nil
		case waited > snapshotInterestWait:
			return errNoInterest
		}
		select {
		case <-svc.xfers.done():
			return errShuttingDown
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// writeArchive writes f's messages and (with consumers) its consumers.
func writeArchive(aw *archiveWriter, f *frozenStream, consumers bool) error {
	if err := aw.header(&f.header); err != nil {
		return err
	}
	var werr error
	err := f.r.Scan(f.id, 0, func(m *store.Msg) bool {
		werr = aw.msg(m)
		return werr == nil
	})
	if err = errors.Join(werr, err); err != nil {
		return err
	}
	if consumers {
		stored, err := f.r.Consumers(f.id)
		if err != nil {
			return err
		}
		for _, sc := range stored {
			if sc.Meta == nil {
				continue // unreadable definition: the store logged it
			}
			if err := aw.consumer(&archiveConsumer{Name: sc.Name, Meta: sc.Meta, State: sc.State}, sc.Pending); err != nil {
				return err
			}
		}
	}
	return aw.finish()
}

// chunkSender cuts the archive into chunks and sends each once the window
// has room for it.
type chunkSender struct {
	svc       *Service
	deliver   string
	ackPrefix string
	size      int
	buf       []byte
	index     int
	slots     chan struct{}
}

// onAck gives back a slot for each acknowledged chunk.
func (cs *chunkSender) onAck(_, _, _, _ []byte) {
	select {
	case cs.slots <- struct{}{}:
	default: // more acks than chunks: ignore
	}
}

func (cs *chunkSender) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if cs.buf == nil {
			cs.buf = make([]byte, 0, cs.size)
		}
		k := min(len(p), cs.size-len(cs.buf))
		cs.buf = append(cs.buf, p[:k]...)
		p = p[k:]
		if len(cs.buf) == cs.size {
			if err := cs.send(true); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// send waits for a slot and sends the buffered chunk, with a reply
// subject to acknowledge it unless it is the last one. Each chunk is a
// fresh buffer: the broker may keep what it is given.
func (cs *chunkSender) send(withAck bool) error {
	t := time.NewTimer(snapshotAckTimeout)
	defer t.Stop()
	select {
	case <-cs.slots:
	case <-t.C:
		return errNoFlowResponse
	case <-cs.svc.xfers.done():
		return errShuttingDown
	}
	if !cs.svc.hasInterest(cs.deliver) {
		return errNoInterest
	}
	reply := ""
	if withAck {
		cs.index++
		reply = cs.ackPrefix + "." + strconv.Itoa(len(cs.buf)) + "." + strconv.Itoa(cs.index)
	}
	err := cs.svc.broker.Publish(cs.deliver, reply, nil, cs.buf)
	cs.buf = nil
	return err
}

// flush sends what is left as the last chunk, which is not acknowledged.
func (cs *chunkSender) flush() error {
	if len(cs.buf) == 0 {
		return nil
	}
	return cs.send(false)
}

// oneLine keeps a description fit for a status line.
func oneLine(s string) string {
	out := []byte(s)
	for i, c := range out {
		if c == '\r' || c == '\n' {
			out[i] = ' '
		}
	}
	return string(out)
}

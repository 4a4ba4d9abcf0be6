package stream

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wisp-mq/wisp/stream/store"
)

// memBroker is an in-process Broker for unit tests: subscriptions are
// matched with the package's own subject matching, and fn runs on the
// publisher's goroutine as the real server does.
type memBroker struct {
	mu    sync.RWMutex
	subs  map[int]*memSub
	next  int
	inbox atomic.Uint64
}

type memSub struct {
	subject string
	fn      func(subject, reply, hdr, data []byte)
}

func newMemBroker() *memBroker { return &memBroker{subs: map[int]*memSub{}} }

func (b *memBroker) Publish(subject, reply string, hdr, data []byte) error {
	b.mu.RLock()
	var fns []func(subject, reply, hdr, data []byte)
	for _, s := range b.subs {
		if subjectMatches(s.subject, subject) {
			fns = append(fns, s.fn)
		}
	}
	b.mu.RUnlock()
	for _, fn := range fns {
		fn([]byte(subject), []byte(reply), hdr, data)
	}
	return nil
}

func (b *memBroker) Subscribe(subject, _ string, fn func(subject, reply, hdr, data []byte)) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	id := b.next
	b.subs[id] = &memSub{subject: subject, fn: fn}
	return func() { b.mu.Lock(); delete(b.subs, id); b.mu.Unlock() }, nil
}

// reply is one message received on an inbox.
type reply struct {
	hdr, data []byte
}

// request publishes and waits for one reply, failing the test after 5s.
func (b *memBroker) request(t testing.TB, subject string, hdr, data []byte) reply {
	t.Helper()
	inbox := fmt.Sprintf("_INBOX.%d", b.inbox.Add(1))
	ch := make(chan reply, 1)
	cancel, _ := b.Subscribe(inbox, "", func(_, _, hdr, data []byte) {
		select {
		case ch <- reply{append([]byte(nil), hdr...), append([]byte(nil), data...)}:
		default:
		}
	})
	defer cancel()
	_ = b.Publish(subject, inbox, hdr, data)
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatalf("no reply to %s", subject)
		return reply{}
	}
}

// api sends a JSON request and decodes the JSON reply into out (if not
// nil), returning the reply's error object.
func (b *memBroker) api(t testing.TB, subject string, req any, out any) *APIError {
	t.Helper()
	var body []byte
	switch r := req.(type) {
	case nil:
	case string:
		body = []byte(r)
	default:
		var err error
		if body, err = json.Marshal(r); err != nil {
			t.Fatal(err)
		}
	}
	r := b.request(t, apiPrefix+subject, nil, body)
	var resp apiResponse
	if err := json.Unmarshal(r.data, &resp); err != nil {
		t.Fatalf("%s: reply %q is not JSON: %v", subject, r.data, err)
	}
	if resp.Type == "" {
		t.Fatalf("%s: reply %s has no type", subject, r.data)
	}
	if out != nil {
		if err := json.Unmarshal(r.data, out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.Error
}

// pubAck is a decoded PubAck.
type pubAck struct {
	Stream    string    `json:"stream"`
	Seq       uint64    `json:"seq"`
	Duplicate bool      `json:"duplicate"`
	Error     *APIError `json:"error"`
}

func (b *memBroker) publish(t testing.TB, subject string, hdr []byte, data string) pubAck {
	t.Helper()
	r := b.request(t, subject, hdr, []byte(data))
	var a pubAck
	if err := json.Unmarshal(r.data, &a); err != nil {
		t.Fatalf("ack %q: %v", r.data, err)
	}
	return a
}

// harness is a Service over a memBroker with its store in a temp dir.
type harness struct {
	t    testing.TB
	b    *memBroker
	svc  *Service
	dir  string
	opts Options // StoreDir is set by open
}

func newHarness(t testing.TB) *harness { return newHarnessWith(t, Options{}) }

// newClockHarness is a harness whose stream layer runs on a FakeClock, for
// tests that move time instead of sleeping.
func newClockHarness(t testing.TB) (*harness, *FakeClock) {
	clock := NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	return newHarnessWith(t, Options{Clock: clock}), clock
}

// advanceUntil moves clock forward one step at a time until cond holds.
// Work a timer starts may finish on another goroutine (the writer) and
// re-arm the timer there, so one Advance is not always enough; the wall
// clock only bounds how long the test waits for that.
func advanceUntil(t testing.TB, clock *FakeClock, step time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met by %v", clock.Now())
		}
		clock.Advance(step)
		time.Sleep(2 * time.Millisecond)
	}
}

func newHarnessWith(t testing.TB, opts Options) *harness {
	h := &harness{t: t, b: newMemBroker(), dir: t.TempDir(), opts: opts}
	h.open()
	t.Cleanup(func() { h.close() })
	return h
}

func (h *harness) open() {
	h.t.Helper()
	opts := h.opts
	opts.StoreDir = h.dir
	if opts.OpenStore == nil {
		opts.OpenStore = PebbleStores(opts)
	}
	svc, err := New(h.b, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	h.svc = svc
}

func (h *harness) close() {
	if h.svc != nil {
		if err := h.svc.Close(); err != nil {
			h.t.Errorf("close: %v", err)
		}
		h.svc = nil
	}
}

// restart closes and reopens the service on the same directory, with a
// fresh broker (as a restarted process would have).
func (h *harness) restart() {
	h.close()
	h.b = newMemBroker()
	h.open()
}

func (h *harness) create(cfg Config) *StreamInfo {
	h.t.Helper()
	var r streamInfoResponse
	if e := h.b.api(h.t, "STREAM.CREATE."+cfg.Name, cfg, &r); e != nil {
		h.t.Fatalf("create %s: %v", cfg.Name, e)
	}
	return r.StreamInfo
}

func (h *harness) info(name string) *StreamInfo {
	h.t.Helper()
	var r streamInfoResponse
	if e := h.b.api(h.t, "STREAM.INFO."+name, nil, &r); e != nil {
		h.t.Fatalf("info %s: %v", name, e)
	}
	return r.StreamInfo
}

func (h *harness) pub(subject, data string, hdrs ...string) pubAck {
	h.t.Helper()
	return h.b.publish(h.t, subject, makeHdr(hdrs...), data)
}

// makeHdr builds a header block from key, value pairs.
func makeHdr(kv ...string) []byte {
	if len(kv) == 0 {
		return nil
	}
	b := []byte("NATS/1.0\r\n")
	for i := 0; i+1 < len(kv); i += 2 {
		b = appendHeader(b, kv[i], kv[i+1])
	}
	return append(b, "\r\n"...)
}

func wantErr(t testing.TB, got *APIError, code uint16) {
	t.Helper()
	if got == nil || got.ErrCode != code {
		t.Fatalf("error %v, want err_code %d", got, code)
	}
}

func wantState(t testing.TB, si *StreamInfo, msgs, first, last uint64) {
	t.Helper()
	if si.State.Msgs != msgs || si.State.FirstSeq != first || si.State.LastSeq != last {
		t.Fatalf("state msgs=%d first=%d last=%d, want %d %d %d",
			si.State.Msgs, si.State.FirstSeq, si.State.LastSeq, msgs, first, last)
	}
}

var _ = store.ErrNotFound

// withPebble gives opts the stores a server uses (PebbleStores).
func withPebble(opts Options) Options {
	opts.OpenStore = PebbleStores(opts)
	return opts
}

package server

// The console's chart history: the server samples its totals and each
// stream's counters once a second into fixed rings, so charts survive a
// page reload and show what happened before the page was opened. Memory is
// bounded: an hour of server samples, ten minutes for each of at most
// maxHistoryStreams streams (about 20 KiB a stream) and five minutes for
// each of at most maxHistoryConsumers consumers (about 7 KiB each), and
// rings of streams and consumers that are gone are dropped. Sampling runs only while someone has used the
// console in the last historyIdle: an unwatched server pays nothing.

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	historyEvery        = time.Second
	serverHistoryLen    = 3600 // an hour
	streamHistoryLen    = 600  // ten minutes
	maxHistoryStreams   = 500
	consumerHistoryLen  = 300 // five minutes
	maxHistoryConsumers = 1000
	historyIdle         = 15 * time.Minute
)

// serverPoint is one sample of the server's totals.
type serverPoint struct {
	T        int64 `json:"t"` // unix milliseconds
	InMsgs   int64 `json:"in_msgs"`
	OutMsgs  int64 `json:"out_msgs"`
	InBytes  int64 `json:"in_bytes"`
	OutBytes int64 `json:"out_bytes"`
}

// streamPoint is one sample of a stream: its last sequence (which only
// grows, so its slope is the rate of messages stored), bytes and count.
type streamPoint struct {
	T       int64  `json:"t"`
	LastSeq uint64 `json:"last_seq"`
	Bytes   uint64 `json:"bytes"`
	Msgs    uint64 `json:"msgs"`
}

// consumerPoint is one sample of a consumer: its deliveries so far (their
// slope is its delivery rate) and what it has pending.
type consumerPoint struct {
	T          int64  `json:"t"`
	Delivered  uint64 `json:"delivered"`
	NumPending uint64 `json:"num_pending"`
}

// ring keeps the last len(buf) points.
type ring[T any] struct {
	buf  []T
	next int
	full bool
}

func newRing[T any](n int) *ring[T] { return &ring[T]{buf: make([]T, n)} }

func (r *ring[T]) add(p T) {
	r.buf[r.next] = p
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
}

// points returns the points oldest first, as a copy.
func (r *ring[T]) points() []T {
	if !r.full {
		return append([]T(nil), r.buf[:r.next]...)
	}
	return append(append([]T(nil), r.buf[r.next:]...), r.buf[:r.next]...)
}

// chartHistory is the sampled history of one monitoring listener.
type chartHistory struct {
	lastUse   atomic.Int64 // unix nanoseconds of the last console request
	mu        sync.Mutex
	server    *ring[serverPoint]
	streams   map[string]*ring[streamPoint]   // by "account/stream"
	consumers map[string]*ring[consumerPoint] // by "account/stream/consumer"
}

func newChartHistory() *chartHistory {
	return &chartHistory{server: newRing[serverPoint](serverHistoryLen),
		streams: map[string]*ring[streamPoint]{}, consumers: map[string]*ring[consumerPoint]{}}
}

// touch notes that the console is in use.
func (h *chartHistory) touch() { h.lastUse.Store(time.Now().UnixNano()) }

// run samples every historyEvery until stop is closed.
func (s *Server) runChartHistory(h *chartHistory, stop <-chan struct{}) {
	t := time.NewTicker(historyEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			if now.Sub(time.Unix(0, h.lastUse.Load())) < historyIdle {
				s.sampleHistory(h, now)
			}
		}
	}
}

// historyKey names a stream of a /jsz report ("acc/name", or a plain name
// in the global account) as "account/stream".
func historyKey(reportName string) string {
	if strings.Contains(reportName, "/") {
		return reportName
	}
	return GlobalAccount + "/" + reportName
}

// sampleHistory takes one sample of everything.
func (s *Server) sampleHistory(h *chartHistory, now time.Time) {
	st := s.Stats()
	rep, err := s.jetStreamReport()
	ms := now.UnixMilli()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.server.add(serverPoint{T: ms, InMsgs: st.InMsgs, OutMsgs: st.OutMsgs, InBytes: st.InBytes, OutBytes: st.OutBytes})
	if err != nil {
		clear(h.streams)
		clear(h.consumers)
		return
	}
	// Drop what is gone first, so it leaves room for what is new.
	live := make(map[string]bool, len(rep.Streams))
	for _, sr := range rep.Streams {
		key := historyKey(sr.Name)
		live[key] = true
		for _, c := range sr.Consumers {
			live[key+"/"+c.Name] = true
		}
	}
	dropGone(h.streams, live)
	dropGone(h.consumers, live)
	for _, sr := range rep.Streams {
		key := historyKey(sr.Name)
		if r := ringFor(h.streams, key, maxHistoryStreams, streamHistoryLen); r != nil {
			r.add(streamPoint{T: ms, LastSeq: sr.LastSeq, Bytes: sr.Bytes, Msgs: sr.Messages})
		}
		for _, c := range sr.Consumers {
			if r := ringFor(h.consumers, key+"/"+c.Name, maxHistoryConsumers, consumerHistoryLen); r != nil {
				r.add(consumerPoint{T: ms, Delivered: c.Delivered, NumPending: c.NumPending})
			}
		}
	}
}

// dropGone deletes the rings whose keys are not live.
func dropGone[T any](rings map[string]*ring[T], live map[string]bool) {
	for key := range rings {
		if !live[key] {
			delete(rings, key)
		}
	}
}

// ringFor returns key's ring, making one of size n unless rings already
// holds limit; nil then.
func ringFor[T any](rings map[string]*ring[T], key string, limit, n int) *ring[T] {
	r := rings[key]
	if r == nil && len(rings) < limit {
		r = newRing[T](n)
		rings[key] = r
	}
	return r
}

// handleHistory answers GET /console/api/history: the server's samples,
// or with account and stream those of one stream and of its consumers.
func (s *Server) handleHistory(h *chartHistory) consoleHandler {
	return func(w http.ResponseWriter, r *http.Request, _ *consoleSession, id *consoleIdentity) {
		q := r.URL.Query()
		name := q.Get("stream")
		out := map[string]any{"interval_ms": historyEvery.Milliseconds()}
		if name == "" {
			h.mu.Lock()
			out["points"] = h.server.points()
			h.mu.Unlock()
			writeJSON(w, http.StatusOK, out)
			return
		}
		acc := accountOrGlobal(q.Get("account"))
		if !s.permitted(w, id, acc, "", false) {
			return
		}
		key := acc + "/" + name
		points := []streamPoint{}
		consumers := map[string][]consumerPoint{}
		h.mu.Lock()
		if r := h.streams[key]; r != nil {
			points = r.points()
		}
		for ck, r := range h.consumers {
			if c, ok := strings.CutPrefix(ck, key+"/"); ok && !strings.Contains(c, "/") {
				consumers[c] = r.points()
			}
		}
		h.mu.Unlock()
		out["points"] = points
		out["consumers"] = consumers
		writeJSON(w, http.StatusOK, out)
	}
}

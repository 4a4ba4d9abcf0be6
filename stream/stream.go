package stream

import (
	"sync"
	"sync/atomic"
	"time"
)

// stream is one stream's live state. Everything under mu is changed only by
// the store's writer goroutine (inside Op.Apply) or while loading, so the
// writer never waits on a reader for longer than a snapshot copy; API
// readers take mu for reading.
type stream struct {
	svc *Service
	st  Store
	// repl is the stream's replica when it is replicated (replica.go),
	// also its st; nil for a local stream.
	repl     *replica
	group    uint64 // its raft group, 0 for a local stream
	id       uint32
	name     string
	nameJSON []byte // name as a JSON string, for hand-built acks
	created  time.Time

	mu        sync.RWMutex
	cfg       Config
	state     state
	subjects  map[string]*subjState
	dedupe    map[string]dedupeEntry
	dedupeQ   []dedupeRec // in arrival order, for pruning by age
	lastMsgID string
	// dedupeGapUntil (unix nanos): until then message ids are refused,
	// since ids of messages lost from the store cannot be checked (loss.go).
	dedupeGapUntil int64
	consumers      int
	cons           consumerSet // the consumers themselves (consumer.go)
	deleted        bool
	// faulted: a commit of an operation applied to this state failed,
	// so it is ahead of the store and is rebuilt before the next
	// operation (apply.go).
	faulted  bool
	ageTimer Timer

	cancels map[string]func() // broker subscriptions by subject; guarded by svc.mu

	// shape holds the compiled subject_transform and republish
	// (transform.go), swapped whenever the config is set.
	shape atomic.Pointer[shaping]

	// staged holds the atomic batches being published (batch.go); fast
	// the fast batches' flow control (fast_batch.go), and fastBatches
	// what the state machine keeps of them (fast_batch_op.go; under mu).
	staged      batchStage
	fast        fastStage
	fastBatches map[string]*fastApplied

	// Per-message TTLs (ttl.go) and schedules (schedule.go): nil for a
	// stream that uses neither. markersToWake: messages the stream made
	// itself (delete markers, markers.go, and scheduled messages) whose
	// consumers and republished copies wait for the commit.
	ttls          *msgTTLs
	sched         *msgSchedules
	markersToWake []madeMsg
	pendingWake   atomic.Bool
}

// state is the part of a stream's state that StreamInfo reports.
type state struct {
	msgs, bytes         uint64
	first, last         uint64 // first == last+1 when empty
	firstTime, lastTime int64  // unix nanos; 0 when empty
}

// subjState is what the stream knows of one subject without reading the
// index: how many messages it has and its first and last sequences. It
// makes per-subject limits and expected-last-subject-sequence checks free.
type subjState struct {
	msgs, first, last uint64
}

type dedupeEntry struct {
	seq uint64
	ts  int64
}

type dedupeRec struct {
	id string
	ts int64
}

// snapshot returns the state and config under the read lock.
func (s *stream) snapshot() (Config, state, int, int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cfg, s.state, len(s.subjects), s.consumers
}

// numDeleted is the count of gaps between first and last.
func (st state) numDeleted() uint64 {
	if st.msgs == 0 || st.last < st.first {
		return 0
	}
	return st.last - st.first + 1 - st.msgs
}

// pruneDedupe forgets message ids older than the duplicate window.
func (s *stream) pruneDedupe(now int64) {
	cutoff := now - int64(s.cfg.Duplicates)
	n := 0
	for n < len(s.dedupeQ) && s.dedupeQ[n].ts < cutoff {
		r := s.dedupeQ[n]
		if e, ok := s.dedupe[r.id]; ok && e.ts == r.ts {
			delete(s.dedupe, r.id)
		}
		n++
	}
	if n > 0 {
		s.dedupeQ = append(s.dedupeQ[:0], s.dedupeQ[n:]...)
	}
}

func (s *stream) rememberMsgID(id string, seq uint64, ts int64) {
	if s.dedupe == nil {
		s.dedupe = make(map[string]dedupeEntry)
	}
	s.dedupe[id] = dedupeEntry{seq: seq, ts: ts}
	s.dedupeQ = append(s.dedupeQ, dedupeRec{id: id, ts: ts})
}

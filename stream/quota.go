package stream

import (
	"errors"
	"sync/atomic"

	"github.com/wisp-mq/wisp/stream/store"
)

// Quota caps how many bytes of messages file and memory streams may hold
// together, as nats-server's max_file_store and max_memory_store do. A
// stream layer may be under several (Options.Quotas): the server's, shared
// by every account's layer, and its account's own. Usage is the sum of the
// streams' bytes, the figure $JS.API.INFO reports.
//
// A stream whose max_bytes would take the reservations of its storage past
// the limit is not created (10047 or 10028). A publish that would take the
// usage past it is refused with the error nats-server gives for the same
// limit: 10023 "insufficient resources" for the server's, 10002 "resource
// limits exceeded for account" for an account's. The disk itself is
// watched by the store (store/space.go), which refuses with 10023 once the
// free space falls to its headroom: a limit set below the disk's size is
// what refuses first.
type Quota struct {
	max  [2]atomic.Int64 // by Storage; <= 0 means no limit
	used [2]atomic.Int64
	// account marks an account's own quota, whose refusal of a publish
	// names the account (10002) rather than the server (10023).
	account bool
}

// NewQuota returns the server's quota of maxFile bytes of file streams and
// maxMemory of memory streams; 0 means no limit.
func NewQuota(maxFile, maxMemory int64) *Quota {
	q := &Quota{}
	q.SetLimits(maxFile, maxMemory)
	return q
}

// NewAccountQuota is NewQuota for one account's own limits.
func NewAccountQuota(maxFile, maxMemory int64) *Quota {
	q := NewQuota(maxFile, maxMemory)
	q.account = true
	return q
}

// SetLimits changes the limits (a configuration reload); streams already
// over a lowered limit keep their messages, new ones are refused.
func (q *Quota) SetLimits(maxFile, maxMemory int64) {
	q.max[FileStorage].Store(maxFile)
	q.max[MemoryStorage].Store(maxMemory)
}

// Limit returns the limit for storage type t; <= 0 means none.
func (q *Quota) Limit(t Storage) int64 { return q.max[t].Load() }

// Used returns the bytes held by streams of storage type t.
func (q *Quota) Used(t Storage) int64 { return q.used[t].Load() }

// exceededErr is the error for storage type t over its limit.
func exceededErr(t Storage) *APIError {
	if t == MemoryStorage {
		return apiErr(errMemoryResourcesExceeded)
	}
	return apiErr(errStorageResourcesExceeded)
}

// countBytes adds delta to the usage of s's storage type. Called wherever
// the stream's byte count changes.
func (s *stream) countBytes(delta int64) {
	if delta == 0 {
		return
	}
	for _, q := range s.svc.quotas {
		q.used[s.cfg.Storage].Add(delta)
	}
}

// checkQuota refuses a message of size bytes that a limit has no room
// for, with nats-server's error for that limit. An account's limit is
// named first when both are full, as it is the one the account can act on.
func (s *stream) checkQuota(size uint64) *APIError {
	var refused *APIError
	for _, q := range s.svc.quotas {
		if limit := q.Limit(s.cfg.Storage); limit > 0 && q.Used(s.cfg.Storage)+int64(size) > limit {
			if q.account {
				return apiErr(errAccountResourcesExceeded)
			}
			refused = apiErr(errInsufficientResources)
		}
	}
	return refused
}

// limit is the lowest limit of storage type t over the layer's quotas, or
// -1 (nats-server's "unlimited").
func (svc *Service) limit(t Storage) int64 {
	out := int64(-1)
	for _, q := range svc.quotas {
		if l := q.Limit(t); l > 0 && (out < 0 || l < out) {
			out = l
		}
	}
	return out
}

// checkReservation refuses a stream config whose max_bytes the limit of
// its storage type cannot hold beside the other streams' (except self's).
// Called with svc.mu held. Only this layer's streams are counted, also
// against a server quota shared with other accounts.
func (svc *Service) checkReservation(self string, cfg *Config) *APIError {
	limit := svc.limit(cfg.Storage)
	if limit <= 0 || cfg.MaxBytes <= 0 {
		return nil
	}
	reserved := cfg.MaxBytes
	for name, s := range svc.streams {
		if name == self {
			continue
		}
		s.mu.RLock()
		if s.cfg.Storage == cfg.Storage && s.cfg.MaxBytes > 0 {
			reserved += s.cfg.MaxBytes
		}
		s.mu.RUnlock()
	}
	if reserved > limit {
		return exceededErr(cfg.Storage)
	}
	return nil
}

// storeErr is the API error for a failed store write: 10023, as
// nats-server, when the store refused for lack of space or a failed disk,
// otherwise kind with the error's text.
func storeErr(kind errKind, err error) *APIError {
	if errors.Is(err, store.ErrNoSpace) || errors.Is(err, store.ErrFailed) {
		return apiErr(errInsufficientResources)
	}
	return apiErr(kind, err)
}

// reloadFileStreams marks every file stream faulted after the file store
// reopened itself (store/fault.go): a write reported as failed may have
// reached the log and come back, so what each holds in memory is rebuilt
// from the store before its next operation (apply.go). It runs on the
// writer goroutine, where an API call holding svc.mu may be waiting for
// the writer, so it only takes svc.mu if it is free and otherwise works
// from a goroutine.
func (svc *Service) reloadFileStreams() {
	if !svc.mu.TryRLock() {
		go func() {
			for _, s := range svc.sortedStreams() {
				if s.st == svc.file {
					s.fault(errReopened)
				}
			}
		}()
		return
	}
	list := make([]*stream, 0, len(svc.streams))
	for _, s := range svc.streams {
		if s.st == svc.file {
			list = append(list, s)
		}
	}
	svc.mu.RUnlock()
	for _, s := range list {
		s.fault(errReopened)
	}
}

// errReopened is the fault of every file stream after its store reopened.
var errReopened = errors.New("the stream store reopened")

// StoreHealth reports the file and memory stores' state for monitoring.
func (svc *Service) StoreHealth() (file, memory store.Health) {
	return svc.file.Health(), svc.mem.Health()
}

// Limits returns the byte limits in force for this layer's file and memory
// streams, the lowest of its quotas; -1 means none.
func (svc *Service) Limits() (file, memory int64) {
	return svc.limit(FileStorage), svc.limit(MemoryStorage)
}

// releaseQuotas gives back the bytes of every stream on Close, so a shared
// quota does not count a closed layer (an account removed by a reload)
// and counts it once when it starts again.
func (svc *Service) releaseQuotas() {
	for _, s := range svc.sortedStreams() {
		s.mu.Lock()
		s.countBytes(-int64(s.state.bytes))
		s.state.bytes = 0
		s.mu.Unlock()
	}
}

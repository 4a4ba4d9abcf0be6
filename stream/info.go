package stream

import (
	"maps"
	"sort"
	"time"
)

// StreamInfo is a stream's configuration and state, as STREAM.INFO,
// STREAM.CREATE, STREAM.UPDATE and STREAM.LIST return it.
type StreamInfo struct {
	Config    Config      `json:"config"`
	Created   time.Time   `json:"created"`
	State     StreamState `json:"state"`
	TimeStamp time.Time   `json:"ts"`
	// Mirror and Sources report the copying (mirror.go).
	Mirror  *StreamSourceInfo   `json:"mirror,omitempty"`
	Sources []*StreamSourceInfo `json:"sources,omitempty"`
	// Cluster is a replicated stream's group (cluster_info.go).
	Cluster *ClusterInfo `json:"cluster,omitempty"`
}

// StreamState is the state block of StreamInfo.
type StreamState struct {
	Msgs        uint64            `json:"messages"`
	Bytes       uint64            `json:"bytes"`
	FirstSeq    uint64            `json:"first_seq"`
	FirstTime   time.Time         `json:"first_ts"`
	LastSeq     uint64            `json:"last_seq"`
	LastTime    time.Time         `json:"last_ts"`
	NumSubjects int               `json:"num_subjects,omitempty"`
	Subjects    map[string]uint64 `json:"subjects,omitempty"`
	NumDeleted  int               `json:"num_deleted,omitempty"`
	Consumers   int               `json:"consumer_count"`
}

// info builds the stream's StreamInfo; a non-empty filter adds the
// per-subject message counts of matching subjects, taken from the subject
// table without touching the disk.
func (s *stream) info(filter string) *StreamInfo {
	si := s.localInfo(filter)
	si.Cluster = s.apiClusterInfo() // outside the stream's lock: it asks the consensus host
	return si
}

// localInfo is info without the cluster section. It answers once what
// it tells is committed in the store (awaitVisible), so that a client
// told of n messages finds each of them.
func (s *stream) localInfo(filter string) *StreamInfo {
	for retried := false; ; retried = true {
		si, batch := s.localInfoLocked(filter)
		if !s.awaitVisible(batch) || retried {
			return si
		}
	}
}

// awaitVisible waits until the store committed batch, the newest batch
// (store LastBatch) that may hold a change of the state read with it under
// s.mu: the state in memory is updated as its operations apply, before
// their batch commits, and what it tells must be readable before it is
// told. It reports whether that batch failed instead, faulting the
// stream, which then is rebuilt from its store: the state read is ahead
// of the store and is to be read again.
func (s *stream) awaitVisible(batch uint64) (rebuilt bool) {
	s.st.AwaitCommitted(batch)
	s.mu.RLock()
	faulted := s.faulted
	s.mu.RUnlock()
	if faulted {
		s.rebuild()
	}
	return faulted
}

// localInfoLocked builds the info under the stream's lock, and returns
// the store's batch its state may be as new as (awaitVisible).
func (s *stream) localInfoLocked(filter string) (*StreamInfo, uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	batch := s.st.LastBatch()
	st := s.state
	si := &StreamInfo{
		Config:    s.cfg,
		Created:   s.created.UTC(),
		TimeStamp: s.svc.clock.Now().UTC(),
		State: StreamState{
			Msgs: st.msgs, Bytes: st.bytes,
			FirstSeq: st.reportedFirst(), LastSeq: st.last,
			FirstTime: unixTime(st.firstTime), LastTime: unixTime(st.lastTime),
			NumSubjects: len(s.subjects), NumDeleted: int(st.numDeleted()),
			Consumers: s.consumers,
		},
	}
	si.Config.Metadata = withRequiredLevel(s.cfg.Metadata, s.cfg.requiredLevel())
	s.originInfo(si)
	if filter != "" {
		si.State.Subjects = map[string]uint64{}
		for subj, ss := range s.subjects {
			if filter == ">" || subjectMatches(filter, subj) {
				si.State.Subjects[subj] = ss.msgs
			}
		}
	}
	return si, batch
}

// reportedFirst is the first sequence info and monitoring report: 0 for
// a stream that never held a message, as clients know an empty new
// stream (inside, first stays last+1 = 1, where the next message goes).
// A stream emptied by purge or limits reports last+1, except one purged
// before its first message: its state is a new stream's, so it reports 0.
func (st state) reportedFirst() uint64 {
	if st.msgs == 0 && st.last == 0 {
		return 0
	}
	return st.first
}

// unixTime turns stored nanoseconds into a time, the zero time for 0 (how
// nats-server reports an empty stream's first_ts).
func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// Stats is a snapshot of the stream layer for monitoring (/jsz, metrics).
type Stats struct {
	Streams   []StreamStats
	Memory    uint64 // bytes held by memory streams
	Storage   uint64 // bytes held by file streams
	Consumers int
	APITotal  uint64 // API requests answered
	APIErrors uint64 // of which failed
	// CorruptRecords counts stored records skipped because they failed
	// their checksum or did not decode.
	CorruptRecords uint64
	// LostMessages counts acknowledged messages found missing from the
	// file store at start (loss.go); DamagedStreams the streams found
	// damaged; StoreProblems store-wide problems (a damaged manifest, an
	// unreadable definition). OfflineStreams are kept offline, with why.
	LostMessages   uint64
	DamagedStreams uint64
	StoreProblems  uint64
	OfflineStreams map[string]string
}

// StreamStats is one stream's line in Stats.
type StreamStats struct {
	Name      string
	Storage   Storage
	Subjects  []string
	Messages  uint64
	Bytes     uint64
	FirstSeq  uint64
	LastSeq   uint64
	FirstTime time.Time
	LastTime  time.Time
	Consumers int
	Created   time.Time
	// Cluster is a replicated stream's cluster section, nil for a local
	// stream.
	Cluster *ClusterInfo
}

// Stats returns a consistent-per-stream snapshot, streams in name order.
func (svc *Service) Stats() Stats {
	var out Stats
	for _, s := range svc.sortedStreams() {
		cfg, st, _, consumers := s.snapshot()
		out.Streams = append(out.Streams, StreamStats{
			Name: s.name, Storage: cfg.Storage, Subjects: append([]string(nil), cfg.Subjects...),
			Messages: st.msgs, Bytes: st.bytes, FirstSeq: st.reportedFirst(), LastSeq: st.last,
			FirstTime: unixTime(st.firstTime), LastTime: unixTime(st.lastTime),
			Consumers: consumers, Created: s.created, Cluster: s.clusterInfo(),
		})
		if cfg.Storage == MemoryStorage {
			out.Memory += st.bytes
		} else {
			out.Storage += st.bytes
		}
		out.Consumers += consumers
	}
	sort.Slice(out.Streams, func(i, j int) bool { return out.Streams[i].Name < out.Streams[j].Name })
	out.APITotal, out.APIErrors = svc.apiTotal.Load(), svc.apiErrors.Load()
	out.CorruptRecords = svc.file.CorruptRecords() + svc.mem.CorruptRecords()
	out.LostMessages, out.DamagedStreams = svc.lostMsgs.Load(), svc.damagedStreams.Load()
	out.StoreProblems = svc.storeProblems.Load()
	svc.mu.RLock()
	if len(svc.offline) > 0 {
		out.OfflineStreams = maps.Clone(svc.offline)
	}
	svc.mu.RUnlock()
	return out
}

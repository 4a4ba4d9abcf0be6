package server

import (
	"errors"
	"net/http"
	"time"
)

// The stream layer sits above the server (it imports server, never the other
// way round), so the server cannot ask it for figures directly. Instead the
// stream layer hands the server a reporter function through
// SetJetStreamReporter, and the server calls it when /jsz, /varz, /healthz
// or /metrics is read. The types below are the shape the server displays;
// the stream layer copies its own figures into them.

// JetStreamReport is the stream layer's state as monitoring shows it.
type JetStreamReport struct {
	Streams   []StreamReport // in the order to display (by name, say)
	Memory    uint64         // bytes held by memory streams
	Storage   uint64         // bytes held by file streams
	APITotal  uint64         // API requests answered
	APIErrors uint64         // of which failed
	Damage    StoreDamage    // what was found wrong with the stores (monitor_damage.go)
	// Stores and Limits: space and limits (monitor_store.go).
	Stores []StoreReport
	Limits JetStreamLimits
	// StoreDir is where the file stores live (/varz's jetstream.config).
	StoreDir string
	// Meta is the cluster's meta group, nil when this server is not
	// clustered (monitor_meta.go).
	Meta *MetaClusterReport
}

// StreamReport is one stream.
type StreamReport struct {
	Name      string
	Subjects  []string
	Storage   string // "file" or "memory"
	Created   time.Time
	Messages  uint64
	Bytes     uint64
	FirstSeq  uint64
	LastSeq   uint64
	FirstTime time.Time // zero for an empty stream
	LastTime  time.Time
	// NumConsumers is the consumer count; when 0, len(Consumers) is used.
	// It lets a stream layer that does not list consumers still count them.
	NumConsumers int
	Consumers    []ConsumerReport
	// Origins are the streams this one mirrors or sources.
	Origins []OriginReport
	// Cluster is a replicated stream's group as this server sees it, nil
	// for a stream on this server alone.
	Cluster *StreamClusterReport
}

// StreamClusterReport is a replicated stream's raft group: its leader
// and the replicas other than this server.
type StreamClusterReport struct {
	Name      string // the cluster's name
	RaftGroup string
	Leader    string // "" while no leader is known
	// SystemAcc and TrafficAcc say whose traffic the group's replication
	// is, as stream info says it.
	SystemAcc  bool
	TrafficAcc string
	Replicas   []MetaPeerReport
}

// OriginReport is a stream's mirror or one of its sources.
type OriginReport struct {
	Name   string        // the origin stream
	Mirror bool          // a mirror; otherwise a source
	Lag    uint64        // messages the origin still has for it
	Active time.Duration // since the origin last answered; -1 never
	Error  string        // why it is not copying; empty when it is
}

// ConsumerReport is one consumer of a stream.
type ConsumerReport struct {
	Name           string
	NumPending     uint64 // messages not yet delivered
	NumAckPending  uint64 // delivered, awaiting acknowledgement
	NumRedelivered uint64 // delivered more than once
	NumWaiting     uint64 // pull requests waiting for messages
	Delivered      uint64 // deliveries made, redeliveries included (the console charts its rate)
}

// SetJetStreamReporter wires the stream layer into monitoring: fn is called
// on each read of /jsz, /varz, /healthz and /metrics, from HTTP goroutines,
// possibly concurrently, so it must be safe for concurrent use and quick (it
// runs while a Prometheus scrape waits). An error from fn makes /healthz
// answer 503 with the error and /jsz answer 503. nil unwires it. Safe to
// call before or after Start, from any goroutine.
func (s *Server) SetJetStreamReporter(fn func() (JetStreamReport, error)) {
	if fn == nil {
		s.monitor().reporter.Store(nil)
		return
	}
	s.monitor().reporter.Store(&jsReporter{fn: fn})
}

// errNoStreamLayer means no reporter is wired in.
var errNoStreamLayer = errors.New("stream layer not enabled")

// jetStreamReport calls the reporter, if any.
func (s *Server) jetStreamReport() (JetStreamReport, error) {
	m := s.monitorIfAny()
	if m == nil {
		return JetStreamReport{}, errNoStreamLayer
	}
	r := m.reporter.Load()
	if r == nil {
		return JetStreamReport{}, errNoStreamLayer
	}
	return r.fn()
}

// numConsumers is the stream's consumer count.
func (sr *StreamReport) numConsumers() int {
	return max(sr.NumConsumers, len(sr.Consumers))
}

// totals sums the report for /varz and /jsz.
func (rep *JetStreamReport) totals() *JetStreamStats {
	t := &JetStreamStats{
		Memory: rep.Memory, Storage: rep.Storage, Streams: len(rep.Streams),
		API:    JetStreamAPIStats{Level: JetStreamAPILevel, Total: rep.APITotal, Errors: rep.APIErrors},
		Limits: rep.Limits, Stores: storeStatuses(rep),
	}
	accounts := map[string]bool{}
	for _, st := range rep.Stores {
		accounts[st.Account] = true
	}
	t.Accounts = len(accounts)
	for i := range rep.Streams {
		sr := &rep.Streams[i]
		t.Consumers += sr.numConsumers()
		t.Messages += sr.Messages
		t.Bytes += sr.Bytes
	}
	return t
}

// Jsz is the /jsz body. The totals use nats-server's names; stream_detail
// follows nats-server's per-account stream detail, flattened since Wisp has
// one account.
type Jsz struct {
	ServerID string    `json:"server_id"`
	Now      time.Time `json:"now"`
	Enabled  bool      `json:"enabled"`
	JetStreamStats
	StreamDetail []StreamDetail `json:"stream_detail"`
	StoreDamage  *StoreDamage   `json:"store_damage,omitempty"` // only when something was found
	// MetaCluster is the meta group, when clustered (nats-server's name).
	MetaCluster *MetaClusterInfo `json:"meta_cluster,omitempty"`
}

// StreamDetail is one stream in /jsz.
type StreamDetail struct {
	Name      string           `json:"name"`
	Created   time.Time        `json:"created,omitzero"`
	Subjects  []string         `json:"subjects"`
	Storage   string           `json:"storage,omitempty"`
	State     StreamState      `json:"state"`
	Consumers []ConsumerDetail `json:"consumer_detail"`
	// Mirror and Sources, as in nats-server's stream info.
	Mirror  *SourceDetail  `json:"mirror,omitempty"`
	Sources []SourceDetail `json:"sources,omitempty"`
	// Cluster is a replicated stream's group, as in stream info; for a
	// stream on this server alone, the cluster's name and this server as
	// its leader.
	Cluster *StreamClusterDetail `json:"cluster,omitempty"`
}

// StreamClusterDetail is a replicated stream's cluster section in /jsz,
// in stream info's shape.
type StreamClusterDetail struct {
	Name       string          `json:"name,omitempty"`
	RaftGroup  string          `json:"raft_group,omitempty"`
	Leader     string          `json:"leader,omitempty"`
	SystemAcc  bool            `json:"system_account,omitempty"`
	TrafficAcc string          `json:"traffic_account,omitempty"`
	Replicas   []*MetaPeerInfo `json:"replicas,omitempty"`
}

// SourceDetail is a stream's mirror or one of its sources in /jsz.
type SourceDetail struct {
	Name   string        `json:"name"`
	Lag    uint64        `json:"lag"`
	Active time.Duration `json:"active"`
	Error  string        `json:"error,omitempty"`
}

// StreamState holds a stream's counters, as nats-server's "state".
type StreamState struct {
	Messages  uint64    `json:"messages"`
	Bytes     uint64    `json:"bytes"`
	FirstSeq  uint64    `json:"first_seq"`
	FirstTime time.Time `json:"first_ts"`
	LastSeq   uint64    `json:"last_seq"`
	LastTime  time.Time `json:"last_ts"`
	Consumers int       `json:"consumer_count"`
}

// ConsumerDetail is one consumer in /jsz.
type ConsumerDetail struct {
	StreamName     string `json:"stream_name"`
	Name           string `json:"name"`
	NumPending     uint64 `json:"num_pending"`
	NumAckPending  uint64 `json:"num_ack_pending"`
	NumRedelivered uint64 `json:"num_redelivered"`
	NumWaiting     uint64 `json:"num_waiting"`
}

func (s *Server) jsz(rep *JetStreamReport) Jsz {
	routed := s.RoutedServers()
	jz := Jsz{
		ServerID: s.id, Now: time.Now(), Enabled: true,
		JetStreamStats: *rep.totals(),
		StreamDetail:   make([]StreamDetail, 0, len(rep.Streams)),
		MetaCluster:    metaClusterInfo(rep.Meta, routed),
	}
	if rep.Damage.any() {
		jz.StoreDamage = &rep.Damage
	}
	clusterName := ""
	if s.cl != nil {
		clusterName = s.o().Cluster.Name
	}
	for _, sr := range rep.Streams {
		sd := StreamDetail{
			Name: sr.Name, Created: sr.Created, Subjects: sr.Subjects, Storage: sr.Storage,
			State: StreamState{
				Messages: sr.Messages, Bytes: sr.Bytes,
				FirstSeq: sr.FirstSeq, FirstTime: sr.FirstTime,
				LastSeq: sr.LastSeq, LastTime: sr.LastTime,
				Consumers: sr.numConsumers(),
			},
			Consumers: make([]ConsumerDetail, 0, len(sr.Consumers)),
		}
		if sd.Subjects == nil {
			sd.Subjects = []string{}
		}
		for _, cr := range sr.Consumers {
			sd.Consumers = append(sd.Consumers, ConsumerDetail{
				StreamName: sr.Name, Name: cr.Name, NumPending: cr.NumPending,
				NumAckPending: cr.NumAckPending, NumRedelivered: cr.NumRedelivered, NumWaiting: cr.NumWaiting,
			})
		}
		for _, o := range sr.Origins {
			d := SourceDetail{Name: o.Name, Lag: o.Lag, Active: o.Active, Error: o.Error}
			if o.Mirror {
				sd.Mirror = &d
			} else {
				sd.Sources = append(sd.Sources, d)
			}
		}
		if c := sr.Cluster; c != nil {
			sd.Cluster = &StreamClusterDetail{Name: c.Name, RaftGroup: c.RaftGroup, Leader: c.Leader,
				SystemAcc: c.SystemAcc, TrafficAcc: c.TrafficAcc, Replicas: peerInfos(c.Replicas, routed)}
		} else {
			// A stream on this server alone: this server leads it.
			sd.Cluster = &StreamClusterDetail{Name: clusterName, Leader: s.name}
		}
		jz.StreamDetail = append(jz.StreamDetail, sd)
	}
	return jz
}

// jszOff is the /jsz body when there is nothing to report.
type jszOff struct {
	Error   string `json:"error"`
	Enabled bool   `json:"enabled"` // jetstream in the configuration
}

// handleJsz serves the report: 404 when no stream layer is wired in (with
// enabled saying whether the configuration asked for one), 503 when the
// stream layer reports an error.
func (s *Server) handleJsz(w http.ResponseWriter, r *http.Request) {
	rep, err := s.jetStreamReport()
	switch {
	case errors.Is(err, errNoStreamLayer):
		writeJSON(w, http.StatusNotFound, jszOff{Error: err.Error(), Enabled: s.opts.JetStream})
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, jszOff{Error: "stream layer: " + err.Error(), Enabled: true})
	default:
		writeJSON(w, http.StatusOK, s.jsz(&rep))
	}
}

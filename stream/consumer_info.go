package stream

import (
	"time"
)

// ConsumerInfo is a consumer's configuration and state, as CONSUMER.INFO,
// CONSUMER.CREATE and CONSUMER.LIST return it.
type ConsumerInfo struct {
	Stream         string         `json:"stream_name"`
	Name           string         `json:"name"`
	Created        time.Time      `json:"created"`
	Config         ConsumerConfig `json:"config"`
	Delivered      SequenceInfo   `json:"delivered"`
	AckFloor       SequenceInfo   `json:"ack_floor"`
	NumAckPending  int            `json:"num_ack_pending"`
	NumRedelivered int            `json:"num_redelivered"`
	NumWaiting     int            `json:"num_waiting"`
	NumPending     uint64         `json:"num_pending"`
	PushBound      bool           `json:"push_bound,omitempty"`
	TimeStamp      time.Time      `json:"ts"`
	Paused         bool           `json:"paused,omitempty"`
	PauseRemaining time.Duration  `json:"pause_remaining,omitempty"` // until config.pause_until
	// PriorityGroups is the first priority group's pin (priority.go).
	PriorityGroups []PriorityGroupState `json:"priority_groups,omitempty"`
	// Cluster is the group of a replicated stream's consumer: the
	// stream's own (cluster_info.go).
	Cluster *ClusterInfo `json:"cluster,omitempty"`
}

// SequenceInfo is a consumer and stream sequence pair with the time of
// the last activity at it.
type SequenceInfo struct {
	Consumer uint64     `json:"consumer_seq"`
	Stream   uint64     `json:"stream_seq"`
	Last     *time.Time `json:"last_active,omitempty"`
}

// info builds the consumer's ConsumerInfo. num_pending is counted exactly
// (from the subject table, or the index when a count falls inside a
// subject), and refreshes the estimate used in reply subjects.
func (c *consumer) info() *ConsumerInfo {
	now := c.svc.clock.Now()
	c.mu.Lock()
	ci := &ConsumerInfo{
		Stream: c.s.name, Name: c.name, Created: c.created, Config: c.cfg,
		Delivered:      SequenceInfo{Consumer: c.dseq, Stream: c.next - 1, Last: timePtr(c.lastDlv)},
		AckFloor:       SequenceInfo{Consumer: c.afC, Stream: c.afS, Last: timePtr(c.lastAck)},
		NumAckPending:  len(c.pending),
		NumRedelivered: c.redelivered,
		NumWaiting:     len(c.waiting),
		TimeStamp:      now.UTC(),
		PriorityGroups: c.priorityState(),
	}
	ci.Config.Metadata = withRequiredLevel(c.cfg.Metadata, c.cfg.requiredLevel())
	if p := c.cfg.PauseUntil; p != nil && now.Before(*p) {
		ci.Paused, ci.PauseRemaining = true, p.Sub(now)
	}
	next, lps := c.next, uint64(len(c.lps))
	deliver := c.cfg.DeliverSubject
	c.mu.Unlock()
	if deliver != "" {
		ci.PushBound = c.svc.hasInterest(deliver)
	}
	n := c.countPending(next)
	c.est.Store(int64(n))
	ci.NumPending = n + lps
	ci.Cluster = c.s.apiClusterInfo()
	return ci
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// ConsumerStats is one consumer's line for monitoring.
type ConsumerStats struct {
	Stream         string
	Name           string
	Durable        bool
	Push           bool
	NumPending     uint64 // messages matching the filter not yet delivered
	NumAckPending  int    // delivered, not yet acknowledged
	NumRedelivered int    // pending messages delivered more than once
	NumWaiting     int    // pull requests waiting
	Paused         bool   // delivering nothing until config.pause_until
	Delivered      SequenceInfo
	AckFloor       SequenceInfo
	Created        time.Time
}

// ConsumerStats returns every consumer's figures, streams and consumers in
// name order. Like CONSUMER.INFO, num_pending is exact; its cost is a
// count over the subject table per consumer.
func (svc *Service) ConsumerStats() []ConsumerStats {
	var out []ConsumerStats
	for _, s := range svc.sortedStreams() {
		for _, c := range s.cons.all() {
			ci := c.info()
			out = append(out, ConsumerStats{
				Stream: s.name, Name: c.name, Durable: ci.Config.Durable != "", Push: ci.Config.isPush(),
				NumPending: ci.NumPending, NumAckPending: ci.NumAckPending,
				NumRedelivered: ci.NumRedelivered, NumWaiting: ci.NumWaiting, Paused: ci.Paused,
				Delivered: ci.Delivered, AckFloor: ci.AckFloor, Created: ci.Created,
			})
		}
	}
	return out
}

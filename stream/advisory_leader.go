package stream

import (
	"time"

	"github.com/nats-io/nuid"
)

// The advisory a replicated stream's new leader sends, as nats-server
// does, on $JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.<stream>.
const (
	advisoryLeaderElected = "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED."
	typeLeaderElected     = "io.nats.jetstream.advisory.v1.stream_leader_elected"
)

type leaderElectedAdvisory struct {
	Type     string        `json:"type"`
	ID       string        `json:"id"`
	Time     time.Time     `json:"timestamp"`
	Account  string        `json:"account,omitempty"`
	Stream   string        `json:"stream"`
	Leader   string        `json:"leader"`
	Replicas []PeerSummary `json:"replicas"`
}

// leaderElected announces that this server leads s.
func (svc *Service) leaderElected(s *stream) {
	svc.advise(advisoryLeaderElected+s.name, func() any {
		a := &leaderElectedAdvisory{Type: typeLeaderElected, ID: nuid.Next(), Time: svc.clock.Now().UTC(),
			Account: svc.account, Stream: s.name, Leader: svc.serverName, Replicas: []PeerSummary{}}
		if ci := s.clusterInfo(); ci != nil {
			a.Replicas = append(a.Replicas, ci.Replicas...)
		}
		return a
	})
}

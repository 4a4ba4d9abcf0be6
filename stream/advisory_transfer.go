package stream

import (
	"encoding/json"
	"time"

	"github.com/nats-io/nuid"
)

// The snapshot and restore advisories, with nats-server's subjects, types
// and fields: one when a snapshot or restore starts, one when it ends.
const (
	advisorySnapshotCreate   = "$JS.EVENT.ADVISORY.STREAM.SNAPSHOT_CREATE."
	advisorySnapshotComplete = "$JS.EVENT.ADVISORY.STREAM.SNAPSHOT_COMPLETE."
	advisoryRestoreCreate    = "$JS.EVENT.ADVISORY.STREAM.RESTORE_CREATE."
	advisoryRestoreComplete  = "$JS.EVENT.ADVISORY.STREAM.RESTORE_COMPLETE."

	typeSnapshotCreate   = "io.nats.jetstream.advisory.v1.snapshot_create"
	typeSnapshotComplete = "io.nats.jetstream.advisory.v1.snapshot_complete"
	typeRestoreCreate    = "io.nats.jetstream.advisory.v1.restore_create"
	typeRestoreComplete  = "io.nats.jetstream.advisory.v1.restore_complete"
)

type snapshotCreateAdvisory struct {
	Type   string          `json:"type"`
	ID     string          `json:"id"`
	Time   time.Time       `json:"timestamp"`
	Stream string          `json:"stream"`
	State  StreamState     `json:"state"`
	Client json.RawMessage `json:"client"`
}

type snapshotCompleteAdvisory struct {
	Type   string          `json:"type"`
	ID     string          `json:"id"`
	Time   time.Time       `json:"timestamp"`
	Stream string          `json:"stream"`
	Start  time.Time       `json:"start"`
	End    time.Time       `json:"end"`
	Client json.RawMessage `json:"client"`
	Error  string          `json:"error,omitempty"`
}

type restoreCreateAdvisory struct {
	Type   string          `json:"type"`
	ID     string          `json:"id"`
	Time   time.Time       `json:"timestamp"`
	Stream string          `json:"stream"`
	Client json.RawMessage `json:"client"`
}

type restoreCompleteAdvisory struct {
	Type   string          `json:"type"`
	ID     string          `json:"id"`
	Time   time.Time       `json:"timestamp"`
	Stream string          `json:"stream"`
	Start  time.Time       `json:"start"`
	End    time.Time       `json:"end"`
	Bytes  int64           `json:"bytes"`
	Client json.RawMessage `json:"client"`
}

func (svc *Service) snapshotAdvisoryCreate(stream string, st *StreamState, client json.RawMessage) {
	svc.advise(advisorySnapshotCreate+stream, func() any {
		return &snapshotCreateAdvisory{Type: typeSnapshotCreate, ID: nuid.Next(),
			Time: svc.clock.Now().UTC(), Stream: stream, State: *st, Client: svc.clientBlock(client)}
	})
}

func (svc *Service) snapshotAdvisoryComplete(stream string, start time.Time, err error, client json.RawMessage) {
	svc.advise(advisorySnapshotComplete+stream, func() any {
		end := svc.clock.Now().UTC()
		a := &snapshotCompleteAdvisory{Type: typeSnapshotComplete, ID: nuid.Next(), Time: end,
			Stream: stream, Start: start, End: end, Client: svc.clientBlock(client)}
		if err != nil {
			a.Error = err.Error()
		}
		return a
	})
}

func (svc *Service) restoreAdvisoryCreate(stream string, client json.RawMessage) {
	svc.advise(advisoryRestoreCreate+stream, func() any {
		return &restoreCreateAdvisory{Type: typeRestoreCreate, ID: nuid.Next(),
			Time: svc.clock.Now().UTC(), Stream: stream, Client: svc.clientBlock(client)}
	})
}

func (svc *Service) restoreAdvisoryComplete(stream string, start, end time.Time, n int64, client json.RawMessage) {
	svc.advise(advisoryRestoreComplete+stream, func() any {
		return &restoreCompleteAdvisory{Type: typeRestoreComplete, ID: nuid.Next(),
			Time: end, Stream: stream, Start: start, End: end, Bytes: n, Client: svc.clientBlock(client)}
	})
}

package replication

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/wisp-mq/wisp/consensus"
)

// metaSM is the meta group's state machine: the cluster's assignments,
// which servers hold each stream. It lives in memory; after a restart the
// host restores it from the log's snapshot and replays the entries after
// it (Applied starts at 0).
type metaSM struct {
	mu      sync.Mutex
	applied uint64
	streams map[string][]string // stream name → the servers holding it
}

func newMetaSM() *metaSM { return &metaSM{streams: map[string][]string{}} }

// metaOp is one operation on the assignments, as proposed.
type metaOp struct {
	Op     string   `json:"op"` // "assign" or "remove"
	Stream string   `json:"stream"`
	Peers  []string `json:"peers,omitempty"`
}

func (m *metaSM) Applied() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.applied
}

// Apply applies assignments. An entry that does not decode is skipped
// (and counted as applied): every replica skips it alike, so the state
// stays the same everywhere.
func (m *metaSM) Apply(ents []consensus.Entry) ([]any, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range ents {
		if e.Index != m.applied+1 {
			return nil, fmt.Errorf("replication: meta state at %d was given entry %d", m.applied, e.Index)
		}
		m.applied = e.Index
		if e.Data == nil {
			continue
		}
		var op metaOp
		if json.Unmarshal(e.Data, &op) != nil || op.Stream == "" {
			continue
		}
		switch op.Op {
		case "assign":
			m.streams[op.Stream] = slices.Clone(op.Peers)
		case "remove":
			delete(m.streams, op.Stream)
		}
	}
	return nil, nil
}

func (m *metaSM) Snapshot() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return json.Marshal(m.streams)
}

func (m *metaSM) Restore(data []byte, index uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	streams := map[string][]string{}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &streams); err != nil {
			return fmt.Errorf("replication: meta snapshot: %w", err)
		}
	}
	m.streams, m.applied = streams, index
	return nil
}

// assignments returns a copy of the assignments.
func (m *metaSM) assignments() map[string][]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := maps.Clone(m.streams)
	for k, v := range out {
		out[k] = slices.Clone(v)
	}
	return out
}

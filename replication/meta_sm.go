package replication

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/wisp-mq/wisp/consensus"
)

// metaSM is the meta group's state machine: the cluster's assignments,
// which servers hold each stream, in which raft group, with which
// config. It lives in memory; after a restart the host restores it from
// the log's snapshot and replays the entries after it (Applied starts at
// 0).
//
// Group ids are handed out by the state machine itself, in log order
// (the next after the highest handed out, starting above the meta
// group's), so every replica gives the same stream the same group and an
// id is never reused, even after its stream is deleted.
type metaSM struct {
	mu        sync.Mutex
	applied   uint64
	streams   map[string]Assignment
	nextGroup uint64
	// subjects caches each assignment's subjects, decoded from its
	// config, for the overlap checks (r1.go); an entry goes when its
	// assignment changes.
	subjects map[string][]string
	// onChange, if set, is called (on the host's loop, must not block)
	// after entries or a snapshot changed the assignments.
	onChange func()
}

// Assignment is one stream's placement.
type Assignment struct {
	Peers []string `json:"peers"`
	// Group is the stream's raft group; 0 for an assignment made before
	// streams had groups (the meta tests' bare assignments).
	Group   uint64          `json:"group,omitempty"`
	Config  json.RawMessage `json:"config,omitempty"`
	Created time.Time       `json:"created,omitzero"`
	// Former names the servers that held the stream and were removed
	// (peer_remove.go): one given the stream again may have voted in its
	// group before, so it recovers instead of starting fresh.
	Former []string `json:"former,omitempty"`
	// R1: a stream with one replica (r1.go). Its one peer runs it on its
	// own store, without a raft group (Group is 0); the assignment
	// reserves its name and subjects in the account and says where it is.
	R1 bool `json:"r1,omitempty"`
	// Token names the request that placed the stream (an R1 stream, or
	// a replicated one placed by a follower): its proposer knows from it
	// that its placement won.
	Token string `json:"token,omitempty"`
	// Pending is an update of the stream's subjects that the meta group
	// accepted (opConfigCheck) and its server has not yet reported done
	// (opConfig): Config holds the new subjects, Pending keeps the old
	// ones reserved, so that no other stream takes them while the stream
	// may still capture them.
	Pending *PendingUpdate `json:"pending,omitempty"`
	// Refused is the token of the last update of the stream's subjects
	// the meta group refused for overlapping another stream's: its
	// proposer knows from it that it lost.
	Refused string `json:"refused,omitempty"`
	// Settled names the last updates of the stream's subjects whose
	// server gave up on them (opConfigAbandon, settle.go), newest last
	// (at most maxSettled): such an update's check is refused should it
	// reach the log only now, so that it cannot reserve subjects again.
	Settled []string `json:"settled,omitempty"`
}

// PendingUpdate is an accepted update of a stream's subjects in flight.
type PendingUpdate struct {
	// Token names the update: its proposer knows from it that the meta
	// group accepted it.
	Token string `json:"token"`
	// Reserved is the subjects the stream had before the update.
	Reserved []string `json:"reserved,omitempty"`
	// Abandoned: the server that ran the update does not know how it
	// ended (or could not record it) and gave up on it; the stream's
	// leader records the stream's config as it stands, which ends the
	// reservation (settle.go).
	Abandoned bool `json:"abandoned,omitempty"`
}

// firstStreamGroup is the first group id given to a stream.
const firstStreamGroup = MetaGroup + 1

func newMetaSM() *metaSM {
	return &metaSM{streams: map[string]Assignment{}, nextGroup: firstStreamGroup}
}

// metaOp is one operation on the assignments, as proposed.
type metaOp struct {
	Op     string   `json:"op"` // one of the op* names below
	Stream string   `json:"stream"`
	Peers  []string `json:"peers,omitempty"`
	// NewGroup asks for a raft group for the stream (a replicated
	// stream's placement); Config and Created go with it.
	NewGroup bool            `json:"new_group,omitempty"`
	Config   json.RawMessage `json:"config,omitempty"`
	Created  time.Time       `json:"created,omitzero"`
	// Expect, on a reassignment, is the peers the proposer saw: the
	// entry changes nothing unless the stream still has exactly those
	// (a stale or repeated request is a no-op on every replica alike).
	Expect []string `json:"expect,omitempty"`
	// Token and Check go with opPlaceLocal (r1.go): the placement's
	// name, and whether it is refused when its subjects overlap another
	// stream's of the account (a stream registered from disk is not).
	Token string `json:"token,omitempty"`
	Check bool   `json:"check,omitempty"`
	// Reserve goes with opConfigCheck: the subjects the stream captures
	// on its server before the update, kept reserved with those the meta
	// group recorded until the update is done.
	Reserve []string `json:"reserve,omitempty"`
	// Group goes with an opRemove a follower asks the leader for
	// (streams.go, RemoveStream): the leader proposes it only while the
	// stream has that group and Token. Applying it ignores both.
	Group uint64 `json:"group,omitempty"`
}

// The meta operations, by the name in metaOp.Op. A replica that does not
// know an operation skips its entry (every replica of one version alike),
// so operations are only ever added, under new names.
const (
	opAssign = "assign"
	opRemove = "remove"
	// opPlaceLocal places a one-replica stream (r1.go); opUnplaceLocal
	// removes such a placement if its server is still the one named;
	// opConfig records a stream's config after an update (and ends an
	// update in flight, Assignment.Pending).
	opPlaceLocal   = "place1"
	opUnplaceLocal = "unplace1"
	opConfig       = "config"
	// opConfigCheck records the config of an update that changes the
	// stream's subjects before the update is applied, if the new
	// subjects overlap no other stream of the account at that point of
	// the log (r1.go, configCheck). A server that does not know it skips
	// it: its proposer then waits in vain and the update fails, without
	// two streams ever taking the same subjects.
	opConfigCheck = "config2"
	// opConfigAbandon marks an update of the stream's subjects (by its
	// Token) as given up by its server, and opConfigSettle records the
	// config of a stream whose pending update was given up, ending its
	// reservation (settle.go).
	opConfigAbandon = "abandon2"
	opConfigSettle  = "settle2"
)

// Results of opPlaceLocal, and of a replicated placement (opAssign with
// NewGroup) that its Check refused.
const (
	placeDone      uint64 = 0
	placeNameInUse uint64 = 1
	placeOverlap   uint64 = 2
)

// refusedOverlap is the result of a replicated placement its Check
// refused for overlapping subjects (a placement's other results are
// group ids, and 0 for a name in use).
type refusedOverlap struct{}

func (m *metaSM) Applied() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.applied
}

// Apply applies assignments. An entry that does not decode is skipped
// (and counted as applied): every replica skips it alike, so the state
// stays the same everywhere. A placement answers its proposer with the
// group it was given (0 when the stream was placed already: the first
// placement wins).
func (m *metaSM) Apply(ents []consensus.Entry) ([]any, error) {
	m.mu.Lock()
	results := make([]any, len(ents))
	changed := false
	for i, e := range ents {
		if e.Index != m.applied+1 {
			m.mu.Unlock()
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
		case opAssign:
			a := Assignment{Peers: slices.Clone(op.Peers)}
			if op.NewGroup {
				if _, ok := m.streams[op.Stream]; ok {
					results[i] = uint64(0)
					continue
				}
				if op.Check && m.overlaps(op.Stream, op.Config) {
					results[i] = refusedOverlap{}
					continue
				}
				a.Group, a.Config, a.Created, a.Token = m.nextGroup, op.Config, op.Created, op.Token
				m.nextGroup++
				results[i] = a.Group
			} else if old, ok := m.streams[op.Stream]; ok {
				if op.Expect != nil && !slices.Equal(old.Peers, op.Expect) {
					continue
				}
				a.Group, a.Config, a.Created = old.Group, old.Config, old.Created
				a.R1, a.Token, a.Pending, a.Refused, a.Settled = old.R1, old.Token, old.Pending, old.Refused, old.Settled
				a.Former = slices.Clone(old.Former)
				for _, p := range old.Peers {
					if !slices.Contains(a.Peers, p) && !slices.Contains(a.Former, p) {
						a.Former = append(a.Former, p)
					}
				}
			} else if op.Expect != nil {
				continue
			}
			m.streams[op.Stream] = a
			delete(m.subjects, op.Stream)
			changed = true
		case opRemove:
			delete(m.streams, op.Stream)
			delete(m.subjects, op.Stream)
			changed = true
		case opPlaceLocal:
			r := m.placeLocal(op)
			results[i] = r
			changed = changed || r == placeDone
		case opUnplaceLocal:
			if a, ok := m.streams[op.Stream]; ok && a.R1 && slices.Equal(a.Peers, op.Peers) {
				delete(m.streams, op.Stream)
				delete(m.subjects, op.Stream)
				changed = true
			}
		case opConfig:
			if a, ok := m.streams[op.Stream]; ok && len(op.Config) > 0 && (a.Group != 0 || a.R1) {
				a.Config, a.Pending = op.Config, nil
				m.streams[op.Stream] = a
				delete(m.subjects, op.Stream)
				changed = true
			}
		case opConfigCheck:
			r := m.configCheck(op)
			results[i] = r
			changed = changed || r == placeDone
		case opConfigAbandon:
			changed = m.configAbandon(op) || changed
		case opConfigSettle:
			changed = m.configSettle(op) || changed
		}
	}
	notify := m.onChange
	m.mu.Unlock()
	if changed && notify != nil {
		notify()
	}
	return results, nil
}

// metaSnapshot is the snapshot's form.
type metaSnapshot struct {
	Version   int                   `json:"version"`
	Streams   map[string]Assignment `json:"streams"`
	NextGroup uint64                `json:"next_group"`
}

func (m *metaSM) Snapshot() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return json.Marshal(metaSnapshot{Version: 2, Streams: m.streams, NextGroup: m.nextGroup})
}

func (m *metaSM) Restore(data []byte, index uint64) error {
	m.mu.Lock()
	snap := metaSnapshot{Streams: map[string]Assignment{}, NextGroup: firstStreamGroup}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &snap); err != nil || snap.Version != 2 {
			// The first form: a map of stream to servers.
			var old map[string][]string
			if err := json.Unmarshal(data, &old); err != nil {
				m.mu.Unlock()
				return fmt.Errorf("replication: meta snapshot: %w", err)
			}
			snap = metaSnapshot{Streams: map[string]Assignment{}, NextGroup: firstStreamGroup}
			for k, v := range old {
				snap.Streams[k] = Assignment{Peers: v}
			}
		}
	}
	if snap.Streams == nil {
		snap.Streams = map[string]Assignment{}
	}
	m.streams, m.nextGroup, m.applied = snap.Streams, max(snap.NextGroup, firstStreamGroup), index
	m.subjects = nil
	notify := m.onChange
	m.mu.Unlock()
	if notify != nil {
		notify()
	}
	return nil
}

// assignments returns a copy of the servers holding each stream.
func (m *metaSM) assignments() map[string][]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]string, len(m.streams))
	for k, v := range m.streams {
		out[k] = slices.Clone(v.Peers)
	}
	return out
}

// streamAssignments returns a copy of the assignments.
func (m *metaSM) streamAssignments() map[string]Assignment {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := maps.Clone(m.streams)
	for k, v := range out {
		v.Peers, v.Former = slices.Clone(v.Peers), slices.Clone(v.Former)
		v.Pending, v.Settled = v.Pending.clone(), slices.Clone(v.Settled)
		out[k] = v
	}
	return out
}

// assignment returns one stream's assignment.
func (m *metaSM) assignment(name string) (Assignment, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.streams[name]
	a.Peers, a.Former = slices.Clone(a.Peers), slices.Clone(a.Former)
	a.Pending, a.Settled = a.Pending.clone(), slices.Clone(a.Settled)
	return a, ok
}

// setOnChange sets the change callback.
func (m *metaSM) setOnChange(f func()) {
	m.mu.Lock()
	m.onChange = f
	m.mu.Unlock()
}

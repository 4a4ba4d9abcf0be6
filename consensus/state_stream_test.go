package consensus

import (
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// streamSM is a memSM whose state is streamed (StateStreamer): its
// snapshots hold a descriptor only.
type streamSM struct {
	memSM
	refuseReset atomic.Bool // Restore(nil, 0) fails: the state machine is broken
}

func (m *streamSM) Snapshot() ([]byte, error) { return []byte("descriptor"), nil }
func (m *streamSM) Restore(data []byte, index uint64) error {
	if len(data) != 0 {
		return errors.New("a streamed snapshot holds no state")
	}
	if index == 0 && m.refuseReset.Load() {
		return errors.New("state machine cannot be emptied")
	}
	return m.memSM.Restore(nil, index)
}
func (m *streamSM) WriteState(w io.Writer) (uint64, error) {
	m.mu.Lock()
	index, data := m.applied, m.data
	m.mu.Unlock()
	for i, d := range data {
		if i > 0 {
			d = "\n" + d
		}
		if _, err := io.WriteString(w, d); err != nil {
			return 0, err
		}
	}
	return index, nil
}
func (m *streamSM) RestoreState(r io.Reader, index uint64) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return m.memSM.Restore(b, index)
}

// stateNet carries batches over a MemNetwork, except snapshot messages:
// those it delivers itself, with the sender's state written to a file
// beside them, as replication's transport does over the routes.
type stateNet struct {
	net *MemNetwork
	dir string

	keep uint64 // the hosts' KeepEntries (0: testConfig's)

	mu       sync.Mutex
	hosts    map[uint64]*Host
	inFlight map[uint64]bool // by receiving host
	// beforeWrite runs once, off the loop, before the next state is
	// written.
	beforeWrite func()
	// ahead counts states written at an index past their snapshot's.
	ahead int
	// tamper, if set, may alter each snapshot message with its state
	// before it is delivered (a faulty or hostile peer).
	tamper func(m *Message)
}

type stateTransport struct {
	s  *stateNet
	id uint64
}

func (t stateTransport) Send(b Batch) {
	var rest []Message
	for _, m := range b.Messages {
		if m.Raft.GetType() == pb.MsgSnap {
			t.s.sendSnap(b.From, b.To, m)
			continue
		}
		rest = append(rest, m)
	}
	b.Messages = rest
	t.s.net.Transport(t.id).Send(b)
}

func (s *stateNet) sendSnap(from, to uint64, m Message) {
	s.net.mu.Lock()
	ok := s.net.connected(from, to)
	s.net.mu.Unlock()
	s.mu.Lock()
	if !ok || s.inFlight[to] {
		s.mu.Unlock()
		return
	}
	s.inFlight[to] = true
	s.mu.Unlock()
	raw, _ := proto.Marshal(m.Raft)
	go func() {
		defer func() {
			s.mu.Lock()
			delete(s.inFlight, to)
			s.mu.Unlock()
		}()
		s.mu.Lock()
		src, dst, hook := s.hosts[from], s.hosts[to], s.beforeWrite
		s.beforeWrite = nil
		s.mu.Unlock()
		if hook != nil {
			hook()
		}
		f, err := os.CreateTemp(s.dir, "state-*")
		if err != nil {
			return
		}
		index, err := src.WriteState(m.Group, f)
		f.Close()
		if err != nil {
			os.Remove(f.Name())
			return
		}
		msg := &pb.Message{}
		_ = proto.Unmarshal(raw, msg)
		s.mu.Lock()
		if index > msg.GetSnapshot().GetMetadata().GetIndex() {
			s.ahead++
		}
		tamper := s.tamper
		s.mu.Unlock()
		out := Message{Group: m.Group, Raft: msg, State: &SnapshotState{Path: f.Name(), Index: index}}
		if tamper != nil {
			tamper(&out)
		}
		dst.Receive(Batch{From: from, To: to, Messages: []Message{out}})
	}()
}

// streamHosts starts hosts 1..n on a stateNet, each with its own
// in-memory database, running group 5 over streamSMs with every host a
// voter.
func streamHosts(t *testing.T, n, keep uint64) (*stateNet, []*Host, []*streamSM, []*pebble.DB) {
	s := &stateNet{net: NewMemNetwork(7), dir: t.TempDir(), keep: keep, hosts: map[uint64]*Host{}, inFlight: map[uint64]bool{}}
	t.Cleanup(s.net.Close)
	var hosts []*Host
	var sms []*streamSM
	var dbs []*pebble.DB
	var peers []uint64
	for id := uint64(1); id <= n; id++ {
		peers = append(peers, id)
	}
	for id := uint64(1); id <= n; id++ {
		db := openTestDB(t, vfs.NewMem())
		t.Cleanup(func() { db.Close() })
		h, sm := s.start(t, id, db, peers)
		hosts, sms, dbs = append(hosts, h), append(sms, sm), append(dbs, db)
	}
	return s, hosts, sms, dbs
}

// start runs host id on db with a fresh streamSM in group 5.
func (s *stateNet) start(t *testing.T, id uint64, db *pebble.DB, peers []uint64) (*Host, *streamSM) {
	sm := &streamSM{}
	return s.startWith(t, id, db, peers, sm), sm
}

// startWith runs host id on db with sm (a state machine whose state
// survived the host) in group 5.
func (s *stateNet) startWith(t *testing.T, id uint64, db *pebble.DB, peers []uint64, sm *streamSM) *Host {
	cfg := testConfig(id, NewStore(db, nil), stateTransport{s, id})
	if s.keep > 0 {
		cfg.KeepEntries = s.keep
	}
	h, err := NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Stop)
	s.mu.Lock()
	s.hosts[id] = h
	s.mu.Unlock()
	s.net.Attach(h)
	if err := h.AddGroup(context.Background(), GroupConfig{ID: 5, Peers: peers, Bootstrap: true, StateMachine: sm}); err != nil {
		t.Fatal(err)
	}
	return h
}

func votersOf(t *testing.T, h *Host) []uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := h.Voters(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(v)
	return v
}

// TestStreamedStateAheadOfItsSnapshot: a follower cut off while the log
// was compacted catches up through a streamed state written after a
// membership change that followed the snapshot: it installs the state at
// the state's own index, skips the entries it already holds, and still
// applies the membership change among them (its voters match the
// leader's).
func TestStreamedStateAheadOfItsSnapshot(t *testing.T) {
	// The log keeps 30 entries behind each snapshot: the entries after
	// the snapshot sent, the membership change among them, are still
	// there for the follower once it installed the state.
	s, hosts, sms, _ := streamHosts(t, 4, 30)
	s.net.Partition([]uint64{1, 2, 4}, []uint64{3})
	for i := range 45 {
		proposeUntil(t, []*Host{hosts[0], hosts[1], hosts[3]}, 5, string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	// Before the state is written, a voter other than the leader and the
	// follower leaves: the change is after the snapshot, inside the state.
	s.beforeWrite = func() {
		l := leaderOf(hosts, 5)
		if l == nil {
			t.Error("no leader")
			return
		}
		out := uint64(4)
		if l.ID() == 4 {
			out = 2
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := l.RemoveVoter(5, out).Wait(ctx); err != nil {
			t.Errorf("remove voter %d: %v", out, err)
		}
	}
	s.net.Heal()
	waitFor(t, "the follower to hold every entry", func() bool {
		return slices.Equal(sms[2].items(), sms[0].items()) && len(sms[0].items()) == 45
	})
	s.mu.Lock()
	ahead := s.ahead
	s.mu.Unlock()
	if ahead == 0 {
		t.Fatal("no state was written past its snapshot's index: the case is not tested")
	}
	waitFor(t, "the follower's voters to match the leader's", func() bool {
		l := leaderOf(hosts, 5)
		return l != nil && len(votersOf(t, l)) == 3 && slices.Equal(votersOf(t, hosts[2]), votersOf(t, l))
	})
}

// TestStreamedStateBehindItsCompactedLogRecovers: a replica whose state
// machine lost its state (back to index 0) after the log was compacted
// cannot restore from its own log, whose snapshot holds only a
// descriptor: on restart it starts empty, recovers from its peers and
// holds every entry again.
func TestStreamedStateBehindItsCompactedLogRecovers(t *testing.T) {
	s, hosts, sms, dbs := streamHosts(t, 3, 0)
	for i := range 45 {
		proposeUntil(t, hosts, 5, string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	waitFor(t, "every replica to hold every entry", func() bool {
		return len(sms[2].items()) == 45 && len(sms[0].items()) == 45
	})
	hosts[2].Stop()
	s.net.Detach(3)
	h, sm := s.start(t, 3, dbs[2], []uint64{1, 2, 3})
	hosts[2], sms[2] = h, sm
	waitFor(t, "the restarted replica to recover every entry", func() bool {
		st, _ := h.Status(5)
		return !st.Recovering && slices.Equal(sm.items(), sms[0].items())
	})
}

package replication

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/wisp-mq/wisp/consensus"
)

// ErrNoPeers is PlaceStream's error when the meta group has fewer
// members than the stream asks replicas.
var ErrNoPeers = errors.New("replication: no suitable peers for placement")

// StreamLayer is what replication needs of the stream layer to run
// replicated streams: it opens a replica (creating the stream locally
// when needed) and returns its state machine, and drops one whose
// assignment went. stream.Service has both (cmd/wisp wires them).
type StreamLayer interface {
	OpenReplica(name string, group uint64, config []byte, created time.Time) (consensus.StateMachine, error)
	CloseReplica(name string, group uint64)
}

// leaderWatcher is the optional state machine method told of leadership
// changes of its group on this server.
type leaderWatcher interface{ LeaderChanged(isLeader bool) }

// streams runs this server's replicas of replicated streams: it follows
// the meta group's assignments, adding the groups of the streams
// assigned here to the host and removing those no longer assigned, and
// tells each replica when this server leads its group.
type streams struct {
	node  *Node
	layer StreamLayer
	log   interface {
		Info(string, ...any)
		Error(string, ...any)
		Warn(string, ...any)
	}

	mu      sync.Mutex
	running map[string]runningReplica // by stream name
	leaders map[uint64]bool           // groups this server leads, as last told
	// leftAll: this server was removed from the cluster and dropped every
	// replica its copy of the meta group assigned it (dropAllRemoved).
	leftAll bool
	// registered: the local streams this run asked the meta group to
	// register (r1.go); bg: the goroutines asking.
	registered map[string]bool
	bg         sync.WaitGroup
	// openFailed: the R1 streams that could not be opened, with why.
	openFailed map[string]string
	// replicaFailed: the replicas assigned here that could not be started,
	// with why and when that was last logged (logReplicaFailed).
	replicaFailed map[string]replicaFailure
	// settleWarned: when a failed settle of a stream was last logged
	// (settle.go).
	settleWarned map[string]time.Time

	kick chan struct{}
	// changes carries leadership changes from the host's loop to
	// dispatch, in order.
	changesMu sync.Mutex
	changes   []consensus.LeaderChange
	stop      chan struct{}
	done      chan struct{}
	// completeDone closes when completeLoop (peer_complete.go) ends.
	completeDone chan struct{}
}

type runningReplica struct {
	group uint64
	sm    consensus.StateMachine
}

// AttachStreams starts running the replicated streams assigned to this
// server on layer. Called once, after the stream layer was made
// clustered (stream.Service.SetCluster).
func (n *Node) AttachStreams(layer StreamLayer) {
	s := &streams{node: n, layer: layer, log: n.log.With("component", "streams"),
		running: map[string]runningReplica{}, leaders: map[uint64]bool{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		completeDone: make(chan struct{})}
	n.streamsMu.Lock()
	n.streams = s
	n.streamsMu.Unlock()
	n.meta.sm.setOnChange(s.poke)
	go s.run()
	go s.completeLoop()
}

func (s *streams) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// leaderChanged queues a stream group's leadership change; called from
// the host's loop, it must not block.
func (s *streams) leaderChanged(c consensus.LeaderChange) {
	s.changesMu.Lock()
	s.changes = append(s.changes, c)
	s.changesMu.Unlock()
	s.poke()
}

func (s *streams) run() {
	defer close(s.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		s.reconcile()
		s.reconcileLocal()
		s.dispatch()
		select {
		case <-s.stop:
			return
		case <-s.kick:
		case <-t.C:
		}
	}
}

// reconcile makes the running replicas match the assignments.
func (s *streams) reconcile() {
	if !s.node.meta.Started() {
		return
	}
	want := s.node.meta.sm.streamAssignments()
	if s.node.meta.Removed() {
		s.dropAllRemoved(want)
		return
	}
	self := s.node.name
	for name, a := range want {
		if a.Group == 0 || !slices.Contains(a.Peers, self) {
			continue
		}
		s.mu.Lock()
		r, ok := s.running[name]
		s.mu.Unlock()
		if ok && r.group == a.Group {
			continue
		}
		if ok {
			s.drop(name, r)
		}
		s.open(name, a)
	}
	s.mu.Lock()
	for name := range s.replicaFailed {
		if a, ok := want[name]; !ok || !slices.Contains(a.Peers, self) {
			delete(s.replicaFailed, name) // no longer assigned here: a new failure is news
		}
	}
	var gone []string
	for name, r := range s.running {
		if a, ok := want[name]; !ok || a.Group != r.group || !slices.Contains(a.Peers, self) {
			gone = append(gone, name)
		}
	}
	s.mu.Unlock()
	for _, name := range gone {
		s.mu.Lock()
		r := s.running[name]
		s.mu.Unlock()
		s.drop(name, r)
	}
	s.dropUnassigned(want)
}

// heldLayer is the optional StreamLayer method naming the replicated
// streams the layer holds (loaded from its store), with their groups.
type heldLayer interface{ HeldReplicas() map[string]uint64 }

// dropUnassigned drops the replicas the stream layer holds that this
// server does not run and that the meta group's assignment of the same
// group no longer gives this server: it was removed from the stream (a
// peer removal, a smaller replica count) while it was down. The peers'
// removal from the group's voters is made before the meta group records
// it, so the copy counts toward nothing. A stream not assigned at all is
// left alone: its assignment may only not be replayed yet.
func (s *streams) dropUnassigned(want map[string]Assignment) {
	hl, ok := s.layer.(heldLayer)
	if !ok {
		return
	}
	self := s.node.name
	for name, group := range hl.HeldReplicas() {
		s.mu.Lock()
		_, running := s.running[name]
		s.mu.Unlock()
		a, assigned := want[name]
		if running || !assigned || a.Group != group || slices.Contains(a.Peers, self) {
			continue
		}
		s.log.Info("dropping this server's copy of a stream it was removed from while it was down", "stream", name, "group", group, "peers", a.Peers)
		s.drop(name, runningReplica{group: group})
	}
}

// dropAllRemoved drops every stream replica of a server removed from the
// cluster (meta_removed.go): those running, and those its copy of the
// meta group still assigns to it, which its stream layer holds from its
// store whether or not they ran (the cluster moved them before the
// removal completed).
func (s *streams) dropAllRemoved(stale map[string]Assignment) {
	s.mu.Lock()
	running := maps.Clone(s.running)
	done := s.leftAll
	s.leftAll = true
	s.mu.Unlock()
	for name, r := range running {
		s.drop(name, r)
	}
	if done {
		return
	}
	for name, a := range stale {
		if _, ok := running[name]; !ok && a.Group != 0 && slices.Contains(a.Peers, s.node.name) {
			s.drop(name, runningReplica{group: a.Group})
		}
	}
}

// open starts this server's replica of one stream. A group new to this
// server is bootstrapped with the assignment's peers as voters, unless
// this server lost its raft state (its meta replica joined an existing
// group without bootstrapping in this run): then it may have voted in
// the group before, and it recovers from the other members instead
// (consensus/recovery.go). So does a server given back a stream it was
// removed from (Assignment.Former).
func (s *streams) open(name string, a Assignment) {
	sm, err := s.layer.OpenReplica(name, a.Group, a.Config, a.Created)
	if err != nil {
		s.logReplicaFailed(name, a, err)
		return
	}
	peers := make([]uint64, 0, len(a.Peers))
	for _, p := range a.Peers {
		peers = append(peers, NodeID(p))
	}
	s.node.tr.Learn(a.Peers...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A server that held the stream before it was removed from it may
	// have voted in the group: it recovers too.
	fresh := !s.node.meta.joinedExisting() && !slices.Contains(a.Former, s.node.name)
	err = s.node.host.AddGroup(ctx, consensus.GroupConfig{ID: a.Group, Peers: peers,
		Bootstrap: fresh, StateMachine: sm})
	if err != nil && !errors.Is(err, consensus.ErrGroupOpen) {
		s.logReplicaFailed(name, a, fmt.Errorf("starting its raft group: %w", err))
		return
	}
	s.mu.Lock()
	s.running[name] = runningReplica{group: a.Group, sm: sm}
	delete(s.replicaFailed, name)
	s.mu.Unlock()
	s.log.Info("stream replica running", "stream", name, "group", a.Group, "peers", a.Peers)
	if st, ok := s.node.host.Status(a.Group); ok && st.IsLeader {
		s.leaderChanged(consensus.LeaderChange{Group: a.Group, Leader: st.Leader, Term: st.Term})
	}
}

// AccountMissingError: a stream assigned to this server belongs to an
// account this server's configuration lacks, so its replica cannot run
// here (StreamLayer.OpenReplica returns it).
type AccountMissingError struct{ Account, Stream string }

func (e *AccountMissingError) Error() string {
	return fmt.Sprintf("stream %q: account %q is not configured on this server", e.Stream, e.Account)
}

// replicaFailure is why a replica assigned here did not start.
type replicaFailure struct {
	cause  string
	logged time.Time
}

// replicaFailedEvery is how often a replica that still cannot start is
// logged again: reconcile tries every second, and an operator needs to
// hear of a lasting misconfiguration, not a line a second about it.
const replicaFailedEvery = 5 * time.Minute

// logReplicaFailed logs that the replica of stream name, assigned here,
// did not start: once per cause, and again every replicaFailedEvery while
// it lasts. A stream whose account this server lacks is a configuration
// mistake the stream survives on its other replicas: a warning.
func (s *streams) logReplicaFailed(name string, a Assignment, err error) {
	now := time.Now()
	s.mu.Lock()
	if s.replicaFailed == nil {
		s.replicaFailed = map[string]replicaFailure{}
	}
	last, seen := s.replicaFailed[name]
	quiet := seen && last.cause == err.Error() && now.Sub(last.logged) < replicaFailedEvery
	if !quiet {
		s.replicaFailed[name] = replicaFailure{cause: err.Error(), logged: now}
	}
	s.mu.Unlock()
	if quiet {
		return
	}
	if am := (*AccountMissingError)(nil); errors.As(err, &am) {
		s.log.Warn("stream replica cannot run on this server: its account is not configured here; add the account to this server or move the stream's replica off it",
			"account", am.Account, "stream", am.Stream, "server", s.node.name, "group", a.Group, "peers", a.Peers)
		return
	}
	s.log.Error("stream replica not started", "stream", name, "server", s.node.name, "group", a.Group, "err", err)
}

// drop stops a replica whose assignment went, deleting its raft log and
// its stream.
func (s *streams) drop(name string, r runningReplica) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.node.host.RemoveGroup(ctx, r.group, true); err != nil && !errors.Is(err, consensus.ErrUnknownGroup) {
		s.log.Error("removing a stream's raft group", "stream", name, "group", r.group, "err", err)
	}
	s.layer.CloseReplica(name, r.group)
	s.mu.Lock()
	delete(s.running, name)
	delete(s.leaders, r.group)
	s.mu.Unlock()
	s.log.Info("stream replica dropped", "stream", name, "group", r.group)
}

// dispatch tells replicas about leadership changes, in order.
func (s *streams) dispatch() {
	s.changesMu.Lock()
	changes := s.changes
	s.changes = nil
	s.changesMu.Unlock()
	self := s.node.tr.selfID
	for _, c := range changes {
		s.mu.Lock()
		var sm consensus.StateMachine
		for _, r := range s.running {
			if r.group == c.Group {
				sm = r.sm
			}
		}
		isLeader := c.Leader == self
		was := s.leaders[c.Group]
		if sm != nil {
			s.leaders[c.Group] = isLeader
		}
		s.mu.Unlock()
		if lw, ok := sm.(leaderWatcher); ok && was != isLeader {
			lw.LeaderChanged(isLeader)
		}
	}
}

func (s *streams) close() {
	close(s.stop)
	<-s.done
	s.bg.Wait()
	<-s.completeDone
	s.mu.Lock()
	running := s.running
	s.running = map[string]runningReplica{}
	s.mu.Unlock()
	for _, r := range running {
		if lw, ok := r.sm.(leaderWatcher); ok {
			lw.LeaderChanged(false)
		}
	}
}

// PlaceStream places a new replicated stream on replicas of the meta
// group's members that have its account (placePeers) and records the
// assignment with a new raft group. It works on any member: the leader
// proposes it, a follower asks the leader (as PlaceLocal does), so the
// server asked needs the stream's account and the leader does not. The
// subjects are checked against every other stream of the account where
// the placement applies, in log order, so that racing creates cannot
// both take them.
func (n *Node) PlaceStream(ctx context.Context, name string, replicas int, config []byte, created time.Time) error {
	st, ok := n.host.Status(MetaGroup)
	if !ok || !n.meta.Started() || st.Leader == 0 {
		return ErrNoMetaLeader
	}
	peers, err := n.placePeers(ctx, name, replicas)
	if err != nil {
		return err
	}
	token := newToken()
	op := metaOp{Op: opAssign, Stream: name, Peers: peers, NewGroup: true, Config: config, Created: created,
		Check: true, Token: token}
	if !st.IsLeader {
		return n.proposeUntil(ctx, op, func() (bool, error) {
			if a, ok := n.meta.sm.assignment(name); ok {
				if a.Group != 0 && a.Token == token {
					return true, nil
				}
				return true, ErrNameInUse // another placement of that name applied first
			}
			// Once another stream holds overlapping subjects, this
			// placement was or will be refused where it applies.
			if n.meta.sm.overlapsAny(name, config) {
				return true, ErrSubjectsOverlap
			}
			return false, nil
		})
	}
	body, err := json.Marshal(op)
	if err != nil {
		return err
	}
	res, err := n.host.Propose(MetaGroup, body).Wait(ctx)
	if err != nil {
		return err
	}
	switch res.Value.(type) {
	case refusedOverlap:
		return ErrSubjectsOverlap
	case uint64:
		if res.Value.(uint64) == 0 {
			return ErrNameInUse // another placement of that name applied first
		}
	}
	if _, ok := n.meta.sm.assignment(name); !ok {
		return errors.New("replication: the stream's assignment did not apply")
	}
	return nil
}

// newToken names one request to the meta group, so that its proposer
// knows its outcome from the state the group applied.
func newToken() string {
	var tok [12]byte
	_, _ = rand.Read(tok[:])
	return hex.EncodeToString(tok[:])
}

// RemoveStream removes a stream's assignment. It works on any member:
// the leader proposes it, a follower asks the leader to remove the
// assignment it sees (its group and token: a removal asked again after
// the stream was deleted and created anew leaves the new one alone).
func (n *Node) RemoveStream(ctx context.Context, name string) error {
	st, ok := n.host.Status(MetaGroup)
	if !ok || !n.meta.Started() || st.IsLeader {
		return n.meta.Unassign(ctx, name)
	}
	a, ok := n.meta.sm.assignment(name)
	if !ok {
		return nil
	}
	op := metaOp{Op: opRemove, Stream: name, Group: a.Group, Token: a.Token}
	return n.proposeUntil(ctx, op, func() (bool, error) {
		b, ok := n.meta.sm.assignment(name)
		return !ok || b.Group != a.Group || b.Token != a.Token, nil
	})
}

// Assignment returns the servers holding a stream: a replicated one's,
// or an R1 stream's one server (r1.go).
func (n *Node) Assignment(name string) ([]string, bool) {
	a, ok := n.meta.sm.assignment(name)
	if !ok || a.Group == 0 && !a.R1 {
		return nil, false
	}
	return a.Peers, true
}

// LocalAssignment names the server of an R1 stream; false for a stream
// that is not an R1 assignment.
func (n *Node) LocalAssignment(name string) (string, bool) {
	a, ok := n.meta.sm.assignment(name)
	if !ok || !a.R1 || len(a.Peers) != 1 {
		return "", false
	}
	return a.Peers[0], true
}

// Assigned lists the streams the meta group assigned, R1 streams
// included.
func (n *Node) Assigned() []string {
	var out []string
	for name, a := range n.meta.sm.streamAssignments() {
		if a.Group != 0 || a.R1 {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// MetaLeader names the meta group's leader ("" while none is known).
func (n *Node) MetaLeader() string {
	st, ok := n.host.Status(MetaGroup)
	if !ok || st.Leader == 0 {
		return ""
	}
	return n.tr.Name(st.Leader)
}

// Self is this server's name.
func (n *Node) Self() string { return n.name }

// GroupStatus reports a stream group as this server sees it (the meta
// group's fields, without its leader changes).
func (n *Node) GroupStatus(ctx context.Context, group uint64) MetaStatus {
	return n.groupStatus(ctx, group)
}

// StepDown hands a group's leadership to its most caught-up active
// member; this server must lead it.
func (n *Node) StepDown(ctx context.Context, group uint64) error {
	return n.stepDownGroup(ctx, group)
}

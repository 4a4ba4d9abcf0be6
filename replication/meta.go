package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/wisp-mq/wisp/consensus"
)

// MetaGroup is the raft group id of the meta group, the same on every
// server. Stream groups will take other ids.
const MetaGroup uint64 = 1

// Meta runs this server's replica of the meta group: the group of every
// stream-enabled server of the cluster, which holds the assignments
// (which servers hold each stream).
//
// Forming the group. A server whose raft store already holds the meta
// group opens it from there. A server without it must decide whether the
// group is new (bootstrap it: start empty, with the members as voters) or
// exists and this server lost its copy (join without bootstrapping, so
// the consensus package's recovery keeps it from voting until it caught
// up). Bootstrapping a group that exists, on a server that voted in it
// before losing its disk, could elect a second leader in a term: that is
// the case to rule out. The rule (tryStart, below):
//
//  1. The members are this server and the servers at its seed routes
//     that run streams; the server waits until every seed has answered
//     (a route handshaken) so the set is complete. Servers started with
//     the same routes compute the same set.
//  2. Every server says, every HelloInterval, which set it computed and
//     whether its replica is pristine: no group, or a group that never
//     left term 0 (no vote was ever cast in it).
//  3. A server bootstraps only when every other member has said "pristine"
//     with the same set. If any member is not pristine, the group exists:
//     it joins with that member's set, without bootstrapping.
//
// Why this is safe: any election needs votes from a majority, at least one
// of them another member, whose term then leaves 0 for good (its hard
// state is synced before it answers). So if every other member is
// pristine, no leader was ever elected and nothing ever committed, and
// starting empty loses nothing; a member that lost its disk sees the
// others not pristine and recovers instead. Servers that disagree on the
// set never bootstrap: they wait, and say so in the log.
type Meta struct {
	node *Node
	sm   *metaSM
	log  *slog.Logger

	mu      sync.Mutex
	hellos  map[string]heardHello
	started bool
	members []string // names of the voters, once known
	// hadState: the store held the meta group when the server started.
	hadState bool
	warned   map[string]bool
	// didBootstrap: this run bootstrapped the group.
	didBootstrap bool
	// adding: the leader is adding a server to the group (meta_join.go).
	adding bool
	// waitedToJoin: this run found the group without this server and
	// waited to be added: it was never a member, so it cannot have voted
	// in any group (meta_join.go).
	waitedToJoin bool
	// removed: this server found it was removed from the group
	// (meta_removed.go); it takes part in nothing.
	removed bool
	// removedRounds counts the rounds in a row that said so (checkRemoved's
	// loop only).
	removedRounds int

	stop chan struct{}
	done chan struct{}
}

// hello is what a server tells the others about its meta replica.
type hello struct {
	Set      []string `json:"set"`
	Pristine bool     `json:"pristine"`
	// Join: the server found the group exists without it and waits for
	// the leader to add it (meta_join.go).
	Join bool `json:"join,omitempty"`
	// Accounts names the accounts the server has streams in ("" the
	// global account, so a server that says them names one at least).
	// Absent (a server of an earlier version, or one not told): every
	// account (accounts.go).
	Accounts []string `json:"accounts,omitempty"`
}

type heardHello struct {
	hello
	at time.Time
}

// helloFresh is how old a hello may be and still count.
const helloFresh = 5 * time.Second

func newMeta(n *Node, hadState bool) *Meta {
	m := &Meta{
		node: n, sm: newMetaSM(), log: n.log.With("group", "meta"),
		hellos: map[string]heardHello{}, hadState: hadState, warned: map[string]bool{},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	if hadState {
		if ms := loadMembers(n.store.DB()); ms != nil {
			m.members = ms
			n.tr.Learn(ms...)
		}
	}
	n.net.Handle(chanMeta, m.receiveHello)
	n.net.Handle(chanMetaCtl, m.receiveControl)
	return m
}

func (m *Meta) run(interval time.Duration) {
	defer close(m.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		m.step()
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
	}
}

// step does one round: learn the peers' names, start the group if it is
// time, and say hello to every stream-enabled peer.
func (m *Meta) step() {
	peers := m.node.net.Peers()
	for _, p := range peers {
		m.node.tr.Learn(p.Name)
	}
	m.mu.Lock()
	started := m.started
	m.mu.Unlock()
	if !started {
		if err := m.tryStart(peers); err != nil {
			m.log.Error("meta group did not start", "err", err)
		}
	} else if !m.checkRemoved() {
		m.voterNames() // keeps the members' names up with additions
		m.addJoiners(peers)
	}
	h := m.ownHello()
	h.Accounts = m.node.ownAccounts()
	body, _ := json.Marshal(h)
	for _, p := range peers {
		if p.Streams {
			_ = m.node.net.Send(p.Name, chanMeta, body) // best effort: sent again next round
		}
	}
}

// ownHello is this server's hello.
func (m *Meta) ownHello() hello {
	m.mu.Lock()
	started, set := m.started, slices.Clone(m.members)
	m.mu.Unlock()
	if set == nil && !started {
		var complete bool
		if set, complete = m.candidates(m.node.net.Peers()); !complete {
			set = nil // not yet known: says nothing a peer could disagree with
		}
	}
	if m.Removed() {
		// The members as they told it: not pristine, not a member, not
		// asking to join.
		return hello{Set: set}
	}
	if !started {
		m.mu.Lock()
		join := m.waitedToJoin
		m.mu.Unlock()
		return hello{Set: set, Pristine: !m.hadState, Join: join && !m.hadState}
	}
	if set == nil {
		// Opened from the store: the voters' names are known once each
		// has been seen (a raft id is a hash of the name). step keeps
		// members up with the voters once it has them.
		set = m.voterNames()
	}
	st, _ := m.node.host.Status(MetaGroup)
	return hello{Set: set, Pristine: st.Term == 0 && st.Commit == 0 && !st.Recovering}
}

func (m *Meta) receiveHello(from string, payload []byte) {
	var h hello
	if err := json.Unmarshal(payload, &h); err != nil {
		m.log.Warn("dropped a malformed meta hello", "from", from, "err", err)
		return
	}
	if len(h.Set) > 1024 {
		return
	}
	if len(h.Accounts) > maxHelloAccounts {
		h.Accounts = nil // taken as every account rather than trusted in part
	}
	slices.Sort(h.Set)
	m.mu.Lock()
	m.hellos[from] = heardHello{h, time.Now()}
	m.mu.Unlock()
}

// candidates is the member set computed from the seeds (rule 1), and
// whether it is complete.
func (m *Meta) candidates(peers []Peer) ([]string, bool) {
	self := m.node.name
	set := []string{self}
	complete := true
	for _, name := range m.node.net.Seeds() {
		if name == "" {
			complete = false
			continue
		}
		if name == self || slices.Contains(set, name) {
			continue
		}
		i := slices.IndexFunc(peers, func(p Peer) bool { return p.Name == name })
		switch {
		case i < 0:
			complete = false // known once, not connected now: its streams flag is unknown
		case peers[i].Streams:
			set = append(set, name)
		}
	}
	slices.Sort(set)
	return set, complete
}

// warnOnce logs a warning the first time key is seen.
func (m *Meta) warnOnce(key, msg string, args ...any) {
	m.mu.Lock()
	seen := m.warned[key]
	m.warned[key] = true
	m.mu.Unlock()
	if !seen {
		m.log.Warn(msg, args...)
	}
}

// tryStart opens, bootstraps or joins the group when the rule allows.
func (m *Meta) tryStart(peers []Peer) error {
	if m.hadState {
		return m.start(nil, false)
	}
	if len(m.node.net.Seeds()) == 0 {
		m.warnOnce("noseeds", "no meta group without seed routes: list every server's route URL in --routes (this server's own may be among them)")
		return nil
	}
	set, complete := m.candidates(peers)
	if !complete {
		return nil // a seed has not answered yet
	}
	if len(set) < 2 {
		m.warnOnce("alone", "no other server at the seed routes runs streams: no meta group")
		return nil
	}
	m.mu.Lock()
	hellos := make(map[string]heardHello, len(m.hellos))
	for k, v := range m.hellos {
		hellos[k] = v
	}
	m.mu.Unlock()
	for _, p := range set {
		if p == m.node.name {
			continue
		}
		h, ok := hellos[p]
		if !ok || time.Since(h.at) > helloFresh || len(h.Set) == 0 {
			return nil // not heard, or it does not know its set yet
		}
		if !h.Pristine {
			if !slices.Contains(h.Set, m.node.name) {
				m.mu.Lock()
				m.waitedToJoin = true
				m.mu.Unlock()
				m.warnOnce("notmember", "the cluster's meta group exists without this server: waiting for its leader to add it", "members", h.Set)
				return nil
			}
			m.log.Info("meta group exists: joining it, recovering from its members before voting", "members", h.Set, "from", p)
			return m.start(h.Set, false)
		}
		if !slices.Equal(h.Set, set) {
			m.warnOnce("disagree", "servers disagree on the meta group's members: start every server with the same --routes",
				"ours", set, "theirs", h.Set, "server", p)
			return nil
		}
	}
	m.log.Info("bootstrapping the meta group", "members", set)
	return m.start(set, true)
}

// start adds the group to the host: from the store when members is nil.
func (m *Meta) start(members []string, bootstrap bool) error {
	peers := []uint64{m.node.tr.selfID}
	if members != nil {
		peers = peers[:0]
		for _, name := range members {
			peers = append(peers, NodeID(name))
		}
		m.node.tr.Learn(members...)
		if err := saveMembers(m.node.store, members); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := m.node.host.AddGroup(ctx, consensus.GroupConfig{ID: MetaGroup, Peers: peers, Bootstrap: bootstrap, StateMachine: m.sm})
	if err != nil && !errors.Is(err, consensus.ErrGroupOpen) {
		return err
	}
	m.mu.Lock()
	m.started = true
	m.didBootstrap = bootstrap
	if members != nil {
		m.members = slices.Clone(members)
	}
	m.mu.Unlock()
	return nil
}

// voterNames names the group's voters, nil while one is unknown; once
// all are known they are kept as the members.
func (m *Meta) voterNames() []string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ids, err := m.node.host.Voters(ctx, MetaGroup)
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(ids))
	for _, id := range ids {
		n := m.node.tr.Name(id)
		if n == "" {
			return nil
		}
		names = append(names, n)
	}
	slices.Sort(names)
	m.mu.Lock()
	changed := m.members != nil && !slices.Equal(m.members, names)
	m.members = names
	m.mu.Unlock()
	if changed {
		// A member was added (meta_join.go) or removed: the names on disk
		// follow, for a restart before every member is back.
		if err := saveMembers(m.node.store, names); err != nil {
			m.log.Warn("saving the meta members", "err", err)
		}
	}
	return names
}

// Started reports whether this server's replica runs.
func (m *Meta) Started() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.started
}

// Assign records, through the group, that stream is held by peers. Only
// the leader accepts it (*consensus.NotLeaderError elsewhere).
func (m *Meta) Assign(ctx context.Context, stream string, peers []string) error {
	return m.propose(ctx, metaOp{Op: "assign", Stream: stream, Peers: peers})
}

// Unassign removes a stream's assignment.
func (m *Meta) Unassign(ctx context.Context, stream string) error {
	return m.propose(ctx, metaOp{Op: "remove", Stream: stream})
}

func (m *Meta) propose(ctx context.Context, op metaOp) error {
	if op.Stream == "" {
		return errors.New("replication: a stream name is required")
	}
	body, err := json.Marshal(op)
	if err != nil {
		return err
	}
	if _, err := m.node.host.Propose(MetaGroup, body).Wait(ctx); err != nil {
		return fmt.Errorf("replication: meta %s %q: %w", op.Op, op.Stream, err)
	}
	return nil
}

// Assignments returns the assignments as this replica has applied them.
func (m *Meta) Assignments() map[string][]string { return m.sm.assignments() }

// StepDown asks the meta leader on this server to hand leadership to
// another member; *consensus.NotLeaderError when this server does not
// lead. It returns once the request is made; the new leader shows in
// Status.
func (m *Meta) StepDown(ctx context.Context) error {
	return m.node.stepDownGroup(ctx, MetaGroup)
}

// stepDownGroup has this server, the leader of group, hand leadership to
// the group's most caught-up active member.
func (n *Node) stepDownGroup(ctx context.Context, group uint64) error {
	st, ok := n.host.Status(group)
	if !ok {
		return consensus.ErrUnknownGroup
	}
	if !st.IsLeader {
		return &consensus.NotLeaderError{Group: group, Leader: st.Leader}
	}
	pr, err := n.host.Progress(ctx, group)
	if err != nil {
		return err
	}
	var to, best uint64
	for id, p := range pr {
		if id != n.tr.selfID && p.RecentActive && (to == 0 || p.Match > best) {
			to, best = id, p.Match
		}
	}
	if to == 0 {
		return errors.New("replication: no other member is active to take over")
	}
	return n.host.TransferLeadership(ctx, group, to)
}

// joinedExisting reports whether this run joined an existing meta group
// without bootstrapping it while its store held none: this server lost
// its raft state (streams.go). A server that waited to be added as a new
// member did not: it was never one.
func (m *Meta) joinedExisting() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.started && !m.hadState && !m.didBootstrap && !m.waitedToJoin
}

// memberNames names the meta group's members (this server included).
func (m *Meta) memberNames(ctx context.Context) []string {
	m.mu.Lock()
	members := slices.Clone(m.members)
	m.mu.Unlock()
	if members != nil {
		// Without those removed from the group since (server_remove.go).
		if ids, err := m.node.host.Voters(ctx, MetaGroup); err == nil && len(ids) > 0 {
			members = slices.DeleteFunc(members, func(n string) bool { return !slices.Contains(ids, NodeID(n)) })
		}
		return members
	}
	ids, err := m.node.host.Voters(ctx, MetaGroup)
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(ids))
	for _, id := range ids {
		if n := m.node.tr.Name(id); n != "" {
			names = append(names, n)
		}
	}
	return names
}

func (m *Meta) close() {
	close(m.stop)
	<-m.done
}

// bootstrapped reports whether this server bootstrapped the group in this
// run (tests check the bootstrap rule with it).
func (m *Meta) bootstrapped() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.didBootstrap
}

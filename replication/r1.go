package replication

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/wisp-mq/wisp/consensus"
	"github.com/wisp-mq/wisp/sublist"
)

// Streams with one replica (R1). They are assignments of the meta group
// like replicated streams, with the one server as their peers and no raft
// group: that server runs the stream on its own store, as a server that
// is not clustered does. The assignment is what makes the stream the
// cluster's:
//
//   - it reserves the name and the subjects in the account. The
//     placement (opPlaceLocal) is decided when it applies, in log order,
//     the same on every replica: a name already assigned, or subjects
//     overlapping another assignment's of the account, refuse it. So of
//     two creates racing on two servers exactly one wins;
//   - every server knows the stream from it (lists, routing), also while
//     its server is down;
//   - its removal deletes the stream on its server, when it applies there
//     (at once, or when the server comes back).
//
// A server notes on disk, next to its raft log, each R1 stream the meta
// group assigned it, with the meta index at which it saw the assignment
// (r1Marker). A local stream with a note whose assignment is gone, once
// the meta state applied past the note's index, was deleted (possibly
// while the server was down): it is deleted here. A local stream with no
// note was made before its server ran this code (or while it was not
// clustered): it is registered (opPlaceLocal without Check) with its
// config, keeping its name unless another stream of the account has it.

// LocalLayer is the optional part of StreamLayer for R1 streams.
type LocalLayer interface {
	// LocalStreams lists this server's streams that have no raft group.
	LocalStreams() []LocalStream
	// OpenLocal makes sure the R1 stream assigned to this server exists,
	// creating it (empty) from its config when it does not.
	OpenLocal(name string, config []byte, created time.Time) error
	// DropLocal deletes an R1 stream whose assignment went.
	DropLocal(name string)
}

// LocalStream is one stream of LocalLayer.LocalStreams.
type LocalStream struct {
	Name    string
	Config  []byte
	Created time.Time
}

// PlaceLocal's refusals.
var (
	ErrNoMetaGroup     = errors.New("replication: no meta group: this server has no other stream-enabled server at its seed routes")
	ErrNameInUse       = errors.New("replication: stream name already in use")
	ErrSubjectsOverlap = errors.New("replication: subjects overlap with an existing stream")
)

// placeLocal applies opPlaceLocal. Called with m.mu held.
func (m *metaSM) placeLocal(op metaOp) uint64 {
	if len(op.Peers) != 1 || op.Peers[0] == "" {
		return placeNameInUse
	}
	if old, ok := m.streams[op.Stream]; ok {
		// The same placement again (asked twice), or a registration of
		// what is already this server's: nothing to change.
		if old.R1 && slices.Equal(old.Peers, op.Peers) && (old.Token == op.Token || !op.Check) {
			return placeDone
		}
		return placeNameInUse
	}
	if op.Check && m.overlaps(op.Stream, op.Config) {
		return placeOverlap
	}
	m.streams[op.Stream] = Assignment{Peers: slices.Clone(op.Peers), Config: op.Config, Created: op.Created,
		R1: true, Token: op.Token}
	delete(m.subjects, op.Stream)
	return placeDone
}

// overlaps reports whether the subjects of config collide with those of
// another stream of name's account. Called with m.mu held.
func (m *metaSM) overlaps(name string, config json.RawMessage) bool {
	mine := configSubjects(config)
	if len(mine) == 0 {
		return false
	}
	account := keyAccount(name)
	for other, a := range m.streams {
		if other == name || keyAccount(other) != account {
			continue
		}
		subs, ok := m.subjects[other]
		if !ok {
			subs = configSubjects(a.Config)
			if a.Pending != nil {
				subs = append(subs, a.Pending.Reserved...)
			}
			if m.subjects == nil {
				m.subjects = map[string][]string{}
			}
			m.subjects[other] = subs
		}
		for _, x := range subs {
			for _, y := range mine {
				if sublist.SubjectsCollide(x, y) {
					return true
				}
			}
		}
	}
	return false
}

// configCheck applies opConfigCheck: an update of a stream's subjects,
// recorded before its server applies it. It is refused (placeOverlap)
// when the new subjects overlap another stream's of the account, else
// the new config is recorded and the stream's former subjects stay
// reserved (Assignment.Pending) until its server reports the update
// done or undone (opConfig). Called with m.mu held.
func (m *metaSM) configCheck(op metaOp) uint64 {
	a, ok := m.streams[op.Stream]
	if !ok || a.Group == 0 && !a.R1 || len(op.Config) == 0 || op.Token == "" {
		return placeNameInUse
	}
	// The same update asked again (a lost answer): decided already.
	if a.Pending != nil && a.Pending.Token == op.Token {
		return placeDone
	}
	if a.Refused == op.Token || slices.Contains(a.Settled, op.Token) {
		return placeOverlap // refused already, or given up by its server
	}
	if m.overlaps(op.Stream, op.Config) {
		a.Refused = op.Token
		m.streams[op.Stream] = a
		return placeOverlap
	}
	// The reservation: what the meta group had, what the server says the
	// stream captures, and what an earlier update left reserved (its
	// server never said how it ended).
	reserved := configSubjects(a.Config)
	if a.Pending != nil {
		reserved = append(reserved, a.Pending.Reserved...)
	}
	reserved = append(reserved, op.Reserve...)
	slices.Sort(reserved)
	reserved = slices.Compact(reserved)
	a.Config = op.Config
	a.Pending = &PendingUpdate{Token: op.Token, Reserved: reserved}
	m.streams[op.Stream] = a
	delete(m.subjects, op.Stream)
	return placeDone
}

func (p *PendingUpdate) clone() *PendingUpdate {
	if p == nil {
		return nil
	}
	return &PendingUpdate{Token: p.Token, Reserved: slices.Clone(p.Reserved), Abandoned: p.Abandoned}
}

// overlapsAny is overlaps for a caller outside the state machine.
func (m *metaSM) overlapsAny(name string, config json.RawMessage) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.overlaps(name, config)
}

// keyAccount is the account part of a stream's key in the meta group
// ("<account> <stream>", the stream alone for the global account).
func keyAccount(key string) string {
	if i := strings.LastIndexByte(key, ' '); i >= 0 {
		return key[:i]
	}
	return ""
}

// configSubjects decodes the subjects of a stream config.
func configSubjects(config json.RawMessage) []string {
	var c struct {
		Subjects []string `json:"subjects"`
	}
	if len(config) == 0 || json.Unmarshal(config, &c) != nil {
		return nil
	}
	return c.Subjects
}

// PlaceLocal places a new R1 stream on this server through the meta
// group, and returns once this server's meta replica applied the
// placement: nil when it won, ErrNameInUse or ErrSubjectsOverlap when
// another stream of the account had the name or overlapping subjects
// first. It works on any member (a follower asks the leader).
//
// ErrNoMetaGroup: this server has no meta group to join (it has no seed
// routes, or no other server at them runs streams): its streams are its
// own, as on a server that is not clustered, until a meta group forms
// (they are registered then, as after an upgrade).
func (n *Node) PlaceLocal(ctx context.Context, name string, config []byte, created time.Time) error {
	if n.meta.alone() {
		return ErrNoMetaGroup
	}
	var tok [12]byte
	_, _ = rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	op := metaOp{Op: opPlaceLocal, Stream: name, Peers: []string{n.name}, Config: config, Created: created,
		Token: token, Check: true}
	err := n.proposeUntil(ctx, op, func() (bool, error) {
		if a, ok := n.meta.sm.assignment(name); ok {
			if a.R1 && a.Token == token {
				return true, nil
			}
			return true, ErrNameInUse
		}
		// Once another stream holds overlapping subjects, this placement
		// was or will be refused where it applies.
		if n.meta.sm.overlapsAny(name, config) {
			return true, ErrSubjectsOverlap
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	n.noteLocal(name, token)
	return nil
}

// UnplaceLocal removes this server's R1 placement of name (a create that
// failed after its placement won).
func (n *Node) UnplaceLocal(ctx context.Context, name string) error {
	op := metaOp{Op: opUnplaceLocal, Stream: name, Peers: []string{n.name}}
	return n.proposeUntil(ctx, op, func() (bool, error) {
		a, ok := n.meta.sm.assignment(name)
		return !ok || !a.R1 || !slices.Equal(a.Peers, op.Peers), nil
	})
}

// RecordConfig records a stream's config after an update, so that the
// meta group checks other streams' subjects against it. It ends an
// update that CheckConfig recorded (config is its new config when it
// was applied, the old one when it failed), which frees the subjects
// the update left reserved.
func (n *Node) RecordConfig(ctx context.Context, name string, config []byte) error {
	op := metaOp{Op: opConfig, Stream: name, Config: config}
	return n.proposeUntil(ctx, op, func() (bool, error) {
		a, ok := n.meta.sm.assignment(name)
		if !ok {
			return true, fmt.Errorf("replication: stream %q is not assigned", name)
		}
		return bytes.Equal(a.Config, config) && a.Pending == nil, nil
	})
}

// CheckConfig records the config of an update that changes a stream's
// subjects before the update is applied, the way PlaceLocal places a
// create: the meta group refuses it (ErrSubjectsOverlap) when the new
// subjects overlap another stream's of the account at that point of its
// log, so that of two updates (or an update and a create) racing toward
// the same subjects on two servers exactly one wins. Accepted, the
// stream's former subjects (the meta group's, and reserve: those the
// stream captures here) stay reserved until RecordConfig reports the
// update done or undone, as the stream captures them until then. It
// returns the update's token, which AbandonConfig takes when its end
// cannot be recorded (settle.go).
func (n *Node) CheckConfig(ctx context.Context, name string, config []byte, reserve []string) (string, error) {
	if _, ok := n.meta.sm.assignment(name); !ok {
		return "", fmt.Errorf("replication: stream %q is not assigned", name)
	}
	token := newToken()
	op := metaOp{Op: opConfigCheck, Stream: name, Config: config, Token: token, Check: true, Reserve: reserve}
	return token, n.proposeUntil(ctx, op, func() (bool, error) {
		a, ok := n.meta.sm.assignment(name)
		switch {
		case !ok:
			return true, fmt.Errorf("replication: stream %q is not assigned", name)
		case a.Pending != nil && a.Pending.Token == token:
			return true, nil
		case a.Refused == token:
			return true, ErrSubjectsOverlap
		}
		return false, nil
	})
}

// proposeUntil has op applied through the meta group, here on its leader,
// else asked of the leader over the routes, until done reports that this
// server's meta replica shows its outcome. An op proposed twice must
// change nothing the second time.
func (n *Node) proposeUntil(ctx context.Context, op metaOp, done func() (bool, error)) error {
	if !n.meta.Started() {
		return ErrNoMetaLeader
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	var asked time.Time
	for {
		if ok, err := done(); ok {
			return err
		}
		st, ok := n.host.Status(MetaGroup)
		switch {
		case !ok || st.Leader == 0:
		case time.Since(asked) < time.Second: // asked again when lost in an election
		case st.IsLeader:
			asked = time.Now()
			if !n.meta.stillWanted(ctx, op) {
				break // done shows why on the next round
			}
			var nl *consensus.NotLeaderError
			if err := n.meta.propose(ctx, op); err != nil && !errors.As(err, &nl) && ctx.Err() == nil {
				return err
			}
		default:
			body, _ := json.Marshal(stepDownRequest{Term: st.Term, Propose: &op})
			if name := n.tr.Name(st.Leader); name != "" && n.net.Send(name, chanMetaCtl, body) == nil {
				asked = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replication: the meta group did not apply %s %q: %w", op.Op, op.Stream, ctx.Err())
		case <-t.C:
		}
	}
}

// validProposal checks an operation another server asks the meta leader
// to propose.
func validProposal(op *metaOp) bool {
	if op == nil || op.Stream == "" || len(op.Stream) > 1024 {
		return false
	}
	switch op.Op {
	case opPlaceLocal:
		return len(op.Peers) == 1 && op.Token != "" && len(op.Config) > 0
	case opUnplaceLocal:
		return len(op.Peers) == 1
	case opConfig:
		return len(op.Config) > 0
	case opConfigCheck, opConfigSettle:
		return len(op.Config) > 0 && op.Token != ""
	case opConfigAbandon:
		return op.Token != ""
	case opAssign:
		// A replicated stream's placement by a follower (streams.go).
		return op.NewGroup && op.Token != "" && len(op.Config) > 0 && len(op.Peers) > 0 &&
			len(op.Peers) <= maxReplicas && len(op.Expect) == 0
	case opRemove:
		return true
	}
	return false
}

// maxReplicas bounds the peers of a placement asked of the leader.
const maxReplicas = 16

// stillWanted reports, on the leader, whether an operation asked by a
// follower still makes sense here: a placement names only members, a
// removal names the assignment the leader has (RemoveStream).
func (m *Meta) stillWanted(ctx context.Context, op metaOp) bool {
	switch op.Op {
	case opAssign:
		members := m.memberNames(ctx)
		for _, p := range op.Peers {
			if !slices.Contains(members, p) {
				return false
			}
		}
	case opRemove:
		a, ok := m.sm.assignment(op.Stream)
		return ok && a.Group == op.Group && a.Token == op.Token
	}
	return true
}

// r1Prefix is where a server notes the R1 streams assigned to it, next
// to the raft log (under replication's own prefix, as membersKey).
const r1Prefix = "\x00wisp-replication/r1/"

// r1Marker is one note: the placement's token, and the meta index this
// server had applied when it saw the assignment.
type r1Marker struct {
	Token string `json:"token"`
	Index uint64 `json:"index"`
}

// noteLocal notes that name is assigned here, once this server's meta
// replica shows it.
func (n *Node) noteLocal(name, token string) {
	n.notesMu.RLock()
	defer n.notesMu.RUnlock()
	if n.notesClosed {
		return
	}
	m := r1Marker{Token: token, Index: n.meta.sm.Applied()}
	b, _ := json.Marshal(m)
	key := []byte(r1Prefix + name)
	if err := n.store.Write(func(db *pebble.DB) error { return db.Set(key, b, pebble.Sync) }); err != nil {
		n.log.Warn("noting an R1 stream", "stream", name, "err", err)
	}
}

// forgetLocal removes name's note.
func (n *Node) forgetLocal(name string) {
	n.notesMu.RLock()
	defer n.notesMu.RUnlock()
	if n.notesClosed {
		return
	}
	key := []byte(r1Prefix + name)
	if err := n.store.Write(func(db *pebble.DB) error { return db.Delete(key, pebble.Sync) }); err != nil {
		n.log.Warn("forgetting an R1 stream", "stream", name, "err", err)
	}
}

// localNotes reads the notes.
func (n *Node) localNotes() map[string]r1Marker {
	out := map[string]r1Marker{}
	n.notesMu.RLock()
	defer n.notesMu.RUnlock()
	if n.notesClosed {
		return out
	}
	it, err := n.store.DB().NewIter(&pebble.IterOptions{LowerBound: []byte(r1Prefix), UpperBound: []byte(r1Prefix + "\xff")})
	if err != nil {
		return out
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		var m r1Marker
		if json.Unmarshal(it.Value(), &m) == nil {
			out[strings.TrimPrefix(string(it.Key()), r1Prefix)] = m
		}
	}
	return out
}

// reconcileLocal makes this server's R1 streams match the assignments
// (see the top of this file). It runs on the streams loop.
func (s *streams) reconcileLocal() {
	ll, ok := s.layer.(LocalLayer)
	if !ok {
		return
	}
	st, ok := s.node.host.Status(MetaGroup)
	if !ok || st.Leader == 0 {
		return // registering and deleting wait for a meta group that works
	}
	n, self := s.node, s.node.name
	// In this order: every note at or below applied is of an assignment
	// that want shows unless it was removed since.
	applied := n.meta.sm.Applied()
	want := n.meta.sm.streamAssignments()
	notes := n.localNotes()
	mine := func(a Assignment) bool { return a.R1 && len(a.Peers) == 1 && a.Peers[0] == self }
	for name, a := range want {
		if !mine(a) {
			continue
		}
		if note, ok := notes[name]; ok && note.Token != a.Token && applied >= note.Index {
			// The stream noted here was deleted and one of its name
			// placed here again: the old one goes first.
			ll.DropLocal(name)
			delete(notes, name)
		}
		if _, ok := notes[name]; !ok {
			n.noteLocal(name, a.Token)
		}
		err := ll.OpenLocal(name, a.Config, a.Created)
		s.mu.Lock()
		if s.openFailed == nil {
			s.openFailed = map[string]string{}
		}
		logIt := err != nil && s.openFailed[name] != err.Error() // once per cause, not every second
		if err != nil {
			s.openFailed[name] = err.Error()
		} else {
			delete(s.openFailed, name)
		}
		s.mu.Unlock()
		if logIt {
			s.log.Error("opening an R1 stream", "stream", name, "err", err)
		}
	}
	for name, note := range notes {
		if a, ok := want[name]; ok && mine(a) || applied < note.Index {
			continue // assigned here, or the meta state has not replayed past the note
		}
		s.log.Info("R1 stream's assignment went: deleting it", "stream", name)
		ll.DropLocal(name)
		n.forgetLocal(name)
	}
	for _, ls := range ll.LocalStreams() {
		if _, noted := notes[ls.Name]; noted {
			continue
		}
		if a, ok := want[ls.Name]; ok && mine(a) {
			continue // noted above
		}
		s.register(ls)
	}
}

// register asks the meta group to assign a local stream that has no
// note to this server (an upgrade, or a server that joined a cluster
// with streams), once per run for each stream: a refusal (another
// stream of the account has the name) is logged, and the stream stays
// as it is, unregistered.
func (s *streams) register(ls LocalStream) {
	s.mu.Lock()
	if s.registered == nil {
		s.registered = map[string]bool{}
	}
	if s.registered[ls.Name] {
		s.mu.Unlock()
		return
	}
	s.registered[ls.Name] = true
	s.mu.Unlock()
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		n := s.node
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		go func() {
			select {
			case <-s.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		var tok [12]byte
		_, _ = rand.Read(tok[:])
		op := metaOp{Op: opPlaceLocal, Stream: ls.Name, Peers: []string{n.name}, Config: ls.Config, Created: ls.Created,
			Token: hex.EncodeToString(tok[:])}
		var token string
		err := n.proposeUntil(ctx, op, func() (bool, error) {
			a, ok := n.meta.sm.assignment(ls.Name)
			if !ok {
				return false, nil
			}
			if a.R1 && slices.Equal(a.Peers, op.Peers) {
				token = a.Token
				return true, nil
			}
			return true, ErrNameInUse
		})
		switch {
		case err == nil:
			n.noteLocal(ls.Name, token)
			s.log.Info("registered a stream of this server with the meta group", "stream", ls.Name)
		case errors.Is(err, ErrNameInUse):
			s.log.Error("a stream of this server has the name of another stream of the cluster: it stays unregistered; the cluster's requests for that name go to the other",
				"stream", ls.Name)
		case ctx.Err() != nil && isClosed(s.stop):
		default:
			s.log.Warn("registering a stream of this server with the meta group; trying again", "stream", ls.Name, "err", err)
			s.mu.Lock()
			delete(s.registered, ls.Name)
			s.mu.Unlock()
		}
		s.poke()
	}()
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// alone reports whether the meta group does not run and cannot start for
// want of other members: no seed routes, or every seed answered and none
// runs streams.
func (m *Meta) alone() bool {
	if m.Started() {
		return false
	}
	if len(m.node.net.Seeds()) == 0 {
		return true
	}
	set, complete := m.candidates(m.node.net.Peers())
	return complete && len(set) < 2
}

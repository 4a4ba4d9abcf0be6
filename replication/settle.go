package replication

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Settling an update whose end was never recorded. An update that adds
// subjects to a stream has the meta group record its new config first
// (opConfigCheck), keeping the stream's former subjects reserved
// (Assignment.Pending) until its server records how it ended (opConfig).
// When that server cannot say (the stream's entry was proposed and its
// leadership lost before it committed, so it may still apply; or the
// meta group did not answer in time), both sets used to stay reserved
// until the stream's next update. Now:
//
//  1. the server that ran the update, once its request is over (it
//     proposes nothing more for it: proposals are never retried or
//     forwarded), gives it up through the meta group (opConfigAbandon,
//     by its token; AbandonConfig). An abandoned check that reaches the
//     log only later is refused (Assignment.Settled), so it cannot
//     reserve anything again.
//  2. the stream's leader (its server, for a stream with one replica)
//     sees the abandoned update and makes the stream's log settle: it
//     proposes an entry through the stream's group and waits for it to
//     apply (ConfigSettler). Every entry before it is then applied, and
//     an entry of an earlier term that is not before it can never
//     commit; with 1, the update's entry, if any, is one or the other.
//     The stream's config at that point is final for that update.
//  3. it records that config in the meta group, if the same update is
//     still the pending one (opConfigSettle): the reservation ends,
//     exactly the subjects the stream captures stay taken. A later
//     update's check that landed first has made its own update the
//     pending one, and the settle changes nothing.

// maxSettled bounds Assignment.Settled.
const maxSettled = 8

// ConfigSettler is the optional StreamLayer method that settles a
// stream's log (step 2 above) and returns its config: on the leader of a
// replicated stream's group, or the server of a one-replica stream.
type ConfigSettler interface {
	SettledConfig(name string) ([]byte, error)
}

// configAbandon applies opConfigAbandon. Called with m.mu held.
func (m *metaSM) configAbandon(op metaOp) bool {
	a, ok := m.streams[op.Stream]
	if !ok || slices.Contains(a.Settled, op.Token) {
		return false
	}
	a.Settled = append(a.Settled, op.Token)
	if len(a.Settled) > maxSettled {
		a.Settled = slices.Clone(a.Settled[len(a.Settled)-maxSettled:])
	}
	if a.Pending != nil && a.Pending.Token == op.Token {
		a.Pending = a.Pending.clone()
		a.Pending.Abandoned = true
	}
	m.streams[op.Stream] = a
	return true
}

// configSettle applies opConfigSettle. Called with m.mu held.
func (m *metaSM) configSettle(op metaOp) bool {
	a, ok := m.streams[op.Stream]
	if !ok || a.Pending == nil || a.Pending.Token != op.Token || !a.Pending.Abandoned || len(op.Config) == 0 {
		return false
	}
	a.Config, a.Pending = op.Config, nil
	m.streams[op.Stream] = a
	delete(m.subjects, op.Stream)
	return true
}

// AbandonConfig gives up an update of a stream's subjects that
// CheckConfig recorded (by its token) and whose end this server could
// not record (step 1 above). It returns at once; the meta group is
// asked in the background, for up to abandonFor.
func (n *Node) AbandonConfig(name, token string) {
	n.streamsMu.Lock()
	s := n.streams
	n.streamsMu.Unlock()
	if s == nil || token == "" {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), abandonFor)
		defer cancel()
		go func() {
			select {
			case <-s.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		op := metaOp{Op: opConfigAbandon, Stream: name, Token: token}
		err := n.proposeUntil(ctx, op, func() (bool, error) {
			a, ok := n.meta.sm.assignment(name)
			return !ok || slices.Contains(a.Settled, token), nil
		})
		if err != nil && !isClosed(s.stop) {
			s.log.Warn("giving up a stream update through the meta group failed: its subjects stay reserved until the stream's next update",
				"stream", name, "err", err)
		}
	}()
}

// abandonFor is how long a server keeps asking the meta group to record
// that it gave up an update.
const abandonFor = 2 * time.Minute

// settleAbandoned settles, on every stream this server leads (or runs,
// with one replica), a pending update its server gave up (steps 2 and 3
// above). It runs on the complete loop, once a second.
func (s *streams) settleAbandoned() {
	cs, ok := s.layer.(ConfigSettler)
	n := s.node
	if !ok || !n.meta.Started() {
		return
	}
	for name, a := range n.meta.sm.streamAssignments() {
		if a.Pending == nil || !a.Pending.Abandoned || !s.leads(name, a) {
			continue
		}
		err := s.settle(cs, name, a.Pending.Token)
		s.mu.Lock()
		if s.settleWarned == nil {
			s.settleWarned = map[string]time.Time{}
		}
		quiet := err == nil || time.Since(s.settleWarned[name]) < settleWarnEvery
		if err != nil && !quiet {
			s.settleWarned[name] = time.Now()
		} else if err == nil {
			delete(s.settleWarned, name)
		}
		s.mu.Unlock()
		if !quiet {
			// Tried again every second (a stream without a majority, say):
			// said once a minute.
			s.log.Warn("settling a stream update given up by its server; trying again", "stream", name, "err", err)
		}
	}
}

// settleWarnEvery is how often a settle that keeps failing is logged.
const settleWarnEvery = time.Minute

// leads reports whether this server runs stream name's assignment a as
// its leader, or as the server of a one-replica stream.
func (s *streams) leads(name string, a Assignment) bool {
	if a.R1 {
		return len(a.Peers) == 1 && a.Peers[0] == s.node.name
	}
	s.mu.Lock()
	r, ok := s.running[name]
	s.mu.Unlock()
	if !ok || r.group != a.Group {
		return false
	}
	st, ok := s.node.host.Status(a.Group)
	return ok && st.IsLeader
}

// settle records name's settled config for the update token.
func (s *streams) settle(cs ConfigSettler, name, token string) error {
	config, err := cs.SettledConfig(name)
	if err != nil {
		return fmt.Errorf("settling the stream's log: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	n := s.node
	op := metaOp{Op: opConfigSettle, Stream: name, Token: token, Config: config}
	if err := n.proposeUntil(ctx, op, func() (bool, error) {
		a, ok := n.meta.sm.assignment(name)
		return !ok || a.Pending == nil || a.Pending.Token != token, nil
	}); err != nil {
		return err
	}
	s.log.Info("settled a stream update given up by its server: the stream's config is recorded", "stream", name)
	return nil
}

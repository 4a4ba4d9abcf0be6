package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wisp-mq/wisp/consensus"
)

// ErrNoMetaLeader means the meta group has no leader known here (it has
// not formed, or an election is under way).
var ErrNoMetaLeader = errors.New("replication: the meta group has no leader")

// stepDownRequest asks the meta leader of term Term to hand over; a
// leader of another term ignores it (the request is stale).
type stepDownRequest struct {
	StepDown bool   `json:"stepdown"`
	Term     uint64 `json:"term"`
	// Reassign, instead, asks the leader to propose a stream's new
	// peers (peer_remove.go).
	Reassign *metaOp `json:"reassign,omitempty"`
	// RemoveMember asks the leader to remove that server from the
	// group's voters (server_remove.go).
	RemoveMember string `json:"remove_member,omitempty"`
	// Propose, instead, asks the leader to propose an R1 stream's
	// placement or removal, or a stream's new config (r1.go).
	Propose *metaOp `json:"propose,omitempty"`
}

// RequestStepDown makes the meta group's leader hand leadership to another
// member, from any member: the leader does it at once, a follower asks the
// leader over the routes. It returns once this server sees another
// server lead, or with an error when ctx ends first (the transfer may
// still happen; asking again is harmless).
func (m *Meta) RequestStepDown(ctx context.Context) error {
	st, ok := m.node.host.Status(MetaGroup)
	if !ok || !m.Started() || st.Leader == 0 {
		return ErrNoMetaLeader
	}
	old, term := st.Leader, st.Term
	if st.IsLeader {
		if err := m.StepDown(ctx); err != nil {
			return err
		}
	} else {
		name := m.node.tr.Name(old)
		if name == "" {
			return ErrNoMetaLeader
		}
		body, _ := json.Marshal(stepDownRequest{StepDown: true, Term: term})
		if err := m.node.net.Send(name, chanMetaCtl, body); err != nil {
			return fmt.Errorf("replication: ask meta leader %s to step down: %w", name, err)
		}
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if st, _ := m.node.host.Status(MetaGroup); st.Leader != 0 && st.Leader != old {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replication: meta leader did not step down: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// receiveControl handles a request to the meta leader. It runs on a
// route's reader, so the step-down goes on a goroutine of its own.
func (m *Meta) receiveControl(from string, payload []byte) {
	var req stepDownRequest
	if err := json.Unmarshal(payload, &req); err != nil || !req.StepDown && !validReassign(req.Reassign) && req.RemoveMember == "" && !validProposal(req.Propose) {
		m.log.Warn("dropped a malformed meta request", "from", from)
		return
	}
	st, ok := m.node.host.Status(MetaGroup)
	if !ok || !st.IsLeader || st.Term != req.Term {
		return
	}
	if req.Reassign != nil {
		go m.proposeReassign(from, *req.Reassign)
		return
	}
	if validProposal(req.Propose) {
		op := *req.Propose
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if !m.stillWanted(ctx, op) {
				m.log.Info("a meta operation asked by a member no longer applies: not proposed", "op", op.Op, "from", from, "stream", op.Stream)
				return
			}
			m.proposeReassign(from, op)
		}()
		return
	}
	if req.RemoveMember != "" {
		go m.proposeMemberRemoval(from, req.RemoveMember)
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var nl *consensus.NotLeaderError
		if err := m.StepDown(ctx); err != nil && !errors.As(err, &nl) {
			m.log.Warn("meta leader step-down asked by a member failed", "from", from, "err", err)
		} else {
			m.log.Info("meta leader stepping down", "asked_by", from)
		}
	}()
}

package stream

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// removePeerRequest is STREAM.PEER.REMOVE's body: the server to remove.
type removePeerRequest struct {
	Peer string `json:"peer"`
}

// removePeer answers STREAM.PEER.REMOVE on the stream's leader: the
// named server leaves the stream's group and another server takes its
// place, so the stream keeps its replica count (Cluster.ReplacePeer).
// When no other server can take the place, nothing changes and the
// request is refused ("peer remap failed"): a stream never silently
// runs on fewer replicas than it asks for. The leader removing itself
// first hands leadership to another replica and sends the request on
// to it. A nil answer means the request was sent on.
func (svc *Service) removePeer(cl Cluster, name string, reply, body []byte, hops int) any {
	var req removePeerRequest
	if e := decodeRequest(body, &req); e != nil {
		return errResponse(typeStreamRemovePeer, e)
	}
	if req.Peer == "" {
		return errResponse(typeStreamRemovePeer, apiErr(errBadRequest))
	}
	s := svc.lookup(name)
	if s == nil {
		return errResponse(typeStreamRemovePeer, apiErr(errStreamNotFound))
	}
	if s.repl == nil {
		// A stream on this server alone: its one peer is this server,
		// and it cannot move.
		if req.Peer == cl.Self() {
			return errResponse(typeStreamRemovePeer, apiErr(errPeerRemap))
		}
		return errResponse(typeStreamRemovePeer, apiErr(errClusterPeerNotMember))
	}
	peers, _ := cl.Assignment(name)
	if !containsName(peers, req.Peer) {
		return errResponse(typeStreamRemovePeer, apiErr(errClusterPeerNotMember))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Leadership may have just moved (the request was sent here by a
	// server that saw this one lead, or this one is still taking over).
	if leader := servingLeader(ctx, cl, s); leader != cl.Self() {
		if leader != "" && hops < maxCreatedHops && svc.forwardAny(leader, apiPrefix+"STREAM.PEER.REMOVE."+name, reply, body, hops) {
			return nil
		}
		return errResponse(typeStreamRemovePeer, apiErr(errClusterNotLeader))
	}
	if req.Peer == cl.Self() {
		return svc.removeLeader(ctx, cl, s, reply, body, hops)
	}
	if _, err := cl.ReplacePeer(ctx, name, s.group, req.Peer); err != nil {
		switch {
		case errors.Is(err, ErrNotMember):
			return errResponse(typeStreamRemovePeer, apiErr(errClusterPeerNotMember))
		case errors.Is(err, ErrNoReplacement):
			return errResponse(typeStreamRemovePeer, apiErr(errPeerRemap))
		}
		svc.log.Warn("stream peer removal failed", "stream", name, "peer", req.Peer, "err", err)
		return errResponse(typeStreamRemovePeer, apiErr(errClusterNotAvail))
	}
	return &successResponse{apiResponse{Type: typeStreamRemovePeer}, true}
}

// removeLeader hands the stream's leadership to another replica and
// sends the removal of this server on to the new leader, which answers.
func (svc *Service) removeLeader(ctx context.Context, cl Cluster, s *stream, reply, body []byte, hops int) any {
	if hops >= maxCreatedHops {
		return errResponse(typeStreamRemovePeer, apiErr(errClusterNotAvail))
	}
	if err := cl.StepDown(ctx, s.group); err != nil {
		return errResponse(typeStreamRemovePeer, clusterErr(err))
	}
	for {
		if gi := cl.GroupStatus(ctx, s.group); gi.Leader != "" && gi.Leader != cl.Self() {
			if svc.forwardAny(gi.Leader, apiPrefix+"STREAM.PEER.REMOVE."+s.name, reply, body, hops) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return errResponse(typeStreamRemovePeer, apiErr(errClusterNotAvail))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// servingLeader waits (up to 5 seconds) until this server's replica of s
// serves as its leader, or another server leads its group, and names
// that leader; "" when neither happened.
func servingLeader(ctx context.Context, cl Cluster, s *stream) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		if s.repl.leader.Load() {
			return cl.Self()
		}
		if gi := cl.GroupStatus(ctx, s.group); gi.Leader != "" && gi.Leader != cl.Self() {
			return gi.Leader
		}
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// RemovePeer asks, as a client of this server would, that peer leave
// stream's group (STREAM.PEER.REMOVE, answered by the stream's leader
// wherever it is), and waits for the answer. A server's removal from the
// cluster replaces it in each stream it held this way.
func (svc *Service) RemovePeer(ctx context.Context, stream, peer string) error {
	rs, ok := svc.broker.(routedSubscriber)
	if !ok {
		return errors.New("stream: the broker cannot subscribe across the cluster")
	}
	var tok [8]byte
	_, _ = rand.Read(tok[:])
	inbox := "_INBOX.wisp.peer_remove." + hex.EncodeToString(tok[:])
	answer := make(chan []byte, 1)
	cancel, err := rs.SubscribeRouted(inbox, func(_, _, _, data []byte) {
		select {
		case answer <- bytes.Clone(data):
		default:
		}
	})
	if err != nil {
		return fmt.Errorf("stream: remove %s from %q: %w", peer, stream, err)
	}
	defer cancel()
	body, _ := json.Marshal(removePeerRequest{Peer: peer})
	if err := svc.broker.Publish(apiPrefix+"STREAM.PEER.REMOVE."+stream, inbox, nil, body); err != nil {
		return fmt.Errorf("stream: remove %s from %q: %w", peer, stream, err)
	}
	select {
	case data := <-answer:
		var r struct {
			Success bool      `json:"success"`
			Error   *APIError `json:"error"`
		}
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("stream: remove %s from %q: answer: %w", peer, stream, err)
		}
		if r.Error != nil {
			// The description alone: the server removal that asked
			// answers with its own code, which clients print after it.
			return fmt.Errorf("stream: remove %s from %q: %s", peer, stream, r.Error.Description)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stream: remove %s from %q: no answer: %w", peer, stream, ctx.Err())
	}
}

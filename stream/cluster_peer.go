package stream

import (
	"context"
	"errors"
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
	if !s.repl.leader.Load() {
		return errResponse(typeStreamRemovePeer, apiErr(errClusterNotLeader))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
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

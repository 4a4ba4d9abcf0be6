package server

import (
	"bytes"
	"context"
	"encoding/json"
	"time"
)

// $JS.API.META.LEADER.STEPDOWN, as nats-server takes it: a request in the
// system account that makes the cluster's meta leader hand over to another
// server. The replication layer does the work (SetMetaLeaderStepDown);
// the subscription is local to each server (not announced over routes),
// so exactly one server, the requester's, answers, forwarding to the
// leader itself when it does not lead.

const subjMetaStepDown = "$JS.API.META.LEADER.STEPDOWN"

// metaStepDownResponse is nats-server's answer.
type metaStepDownResponse struct {
	Type    string        `json:"type"`
	Success bool          `json:"success,omitempty"`
	Error   *metaAPIError `json:"error,omitempty"`
}

// metaAPIError is a JetStream API error.
type metaAPIError struct {
	Code        int    `json:"code"`
	ErrCode     int    `json:"err_code"`
	Description string `json:"description"`
}

const typeMetaStepDown = "io.nats.jetstream.api.v1.meta_leader_stepdown_response"

// The errors, with nats-server's codes.
var (
	errMetaClusterRequired = &metaAPIError{Code: 503, ErrCode: 10010, Description: "JetStream clustering support required"}
	errMetaNotAvailable    = &metaAPIError{Code: 503, ErrCode: 10008, Description: "JetStream system temporarily unavailable"}
	errMetaBadRequest      = &metaAPIError{Code: 400, ErrCode: 10003, Description: "bad request"}
)

// SetMetaLeaderStepDown wires the meta leader step-down: fn makes the
// meta leader hand over and returns once another server leads, or fails.
// nil unwires it (the request then answers that clustering is required).
func (s *Server) SetMetaLeaderStepDown(fn func(ctx context.Context) error) {
	if fn == nil {
		s.metaStepDown.Store(nil)
		return
	}
	s.metaStepDown.Store(&fn)
}

// metaStepDownTimeout bounds the wait for a new meta leader.
const metaStepDownTimeout = 10 * time.Second

// serveMetaStepDown answers $JS.API.META.LEADER.STEPDOWN.
func (s *Server) serveMetaStepDown(_ *conn, _, reply, data []byte) {
	if len(reply) == 0 {
		return
	}
	r := string(reply)
	body := bytes.TrimSpace(data)
	if len(body) > 0 && !bytes.Equal(body, []byte("{}")) {
		// Preferred placement (and any other option) is not supported:
		// refused, never ignored.
		var req map[string]json.RawMessage
		if json.Unmarshal(body, &req) != nil || len(req) > 0 {
			s.sysReply(s.sysAcc, r, metaStepDownResponse{Type: typeMetaStepDown, Error: errMetaBadRequest})
			return
		}
	}
	fn := s.metaStepDown.Load()
	if fn == nil {
		s.sysReply(s.sysAcc, r, metaStepDownResponse{Type: typeMetaStepDown, Error: errMetaClusterRequired})
		return
	}
	s.sysGo(func() {
		ctx, cancel := context.WithTimeout(context.Background(), metaStepDownTimeout)
		defer cancel()
		resp := metaStepDownResponse{Type: typeMetaStepDown, Success: true}
		if err := (*fn)(ctx); err != nil {
			s.log.Warn("meta leader step-down failed", "err", err)
			resp = metaStepDownResponse{Type: typeMetaStepDown, Error: errMetaNotAvailable}
		}
		s.sysReply(s.sysAcc, r, resp)
	})
}

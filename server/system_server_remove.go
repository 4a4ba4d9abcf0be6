package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"
)

// $JS.API.SERVER.REMOVE, as nats-server takes it: a request in the system
// account that removes a server from the cluster's meta group, by name
// ("peer") or raft id ("peer_id"); the streams it held get other servers
// in its place first. The replication layer does the work
// (SetServerRemove); like the meta step-down, the requester's server
// answers.

const subjServerRemove = "$JS.API.SERVER.REMOVE"

const typeServerRemove = "io.nats.jetstream.api.v1.meta_server_remove_response"

// ErrServerNotMember is the server-remove function's error for a server
// that is not a member of the meta group.
var ErrServerNotMember = errors.New("server is not a member of the cluster")

var (
	errMetaInvalidJSON     = &metaAPIError{Code: 400, ErrCode: 10025, Description: "invalid JSON"}
	errMetaServerNotMember = &metaAPIError{Code: 400, ErrCode: 10044, Description: "server is not a member of the cluster"}
)

// serverRemoveRequest is the request's body.
type serverRemoveRequest struct {
	Server string `json:"peer"`
	PeerID string `json:"peer_id"`
}

// SetServerRemove wires the server removal: fn removes the server named
// (or with raft id peerID) from the cluster, ErrServerNotMember when no
// member is so called. nil unwires it (the request then answers that
// clustering is required).
func (s *Server) SetServerRemove(fn func(ctx context.Context, name, peerID string) error) {
	if fn == nil {
		s.serverRemove.Store(nil)
		return
	}
	s.serverRemove.Store(&fn)
}

// serverRemoveTimeout bounds a removal: each stream the server held gets
// a replacement, one after another.
const serverRemoveTimeout = 60 * time.Second

// serveServerRemove answers $JS.API.SERVER.REMOVE.
func (s *Server) serveServerRemove(_ *conn, _, reply, data []byte) {
	if len(reply) == 0 {
		return
	}
	r := string(reply)
	fn := s.serverRemove.Load()
	if fn == nil {
		s.sysReply(s.sysAcc, r, metaStepDownResponse{Type: typeServerRemove, Error: errMetaClusterRequired})
		return
	}
	body := bytes.TrimSpace(data)
	if len(body) == 0 || bytes.Equal(body, []byte("{}")) {
		s.sysReply(s.sysAcc, r, metaStepDownResponse{Type: typeServerRemove, Error: errMetaBadRequest})
		return
	}
	var req serverRemoveRequest
	if err := json.Unmarshal(body, &req); err != nil {
		s.sysReply(s.sysAcc, r, metaStepDownResponse{Type: typeServerRemove, Error: errMetaInvalidJSON})
		return
	}
	if req.Server == "" && req.PeerID == "" {
		s.sysReply(s.sysAcc, r, metaStepDownResponse{Type: typeServerRemove, Error: errMetaBadRequest})
		return
	}
	s.sysGo(func() {
		ctx, cancel := context.WithTimeout(context.Background(), serverRemoveTimeout)
		defer cancel()
		resp := metaStepDownResponse{Type: typeServerRemove, Success: true}
		if err := (*fn)(ctx, req.Server, req.PeerID); err != nil {
			if errors.Is(err, ErrServerNotMember) {
				resp = metaStepDownResponse{Type: typeServerRemove, Error: errMetaServerNotMember}
			} else {
				s.log.Warn("server removal failed", "server", req.Server, "peer_id", req.PeerID, "err", err)
				resp = metaStepDownResponse{Type: typeServerRemove, Error: &metaAPIError{Code: 500, ErrCode: 10041, Description: err.Error()}}
			}
		}
		s.sysReply(s.sysAcc, r, resp)
	})
}

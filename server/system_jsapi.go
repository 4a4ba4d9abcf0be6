package server

import "strings"

// The system account has no stream layer (cmd/wisp starts none for it):
// it is the operator's, for $SYS. A JetStream API request made in it
// (a system user running "nats stream ls", say) is answered that
// JetStream is not enabled for the account, as nats-server answers it,
// instead of waiting out the client's timeout. The subscription is this
// server's own (not announced over routes), so only the requester's
// server answers. The system-level requests that do belong to the system
// account ($JS.API.META.LEADER.STEPDOWN, $JS.API.SERVER.REMOVE, ...) are
// left to their own responders.

const subjJSAPIAll = "$JS.API.>"

// jsAPISystemLevel are the $JS.API subjects (and prefixes, ending in
// ".") that are system-level, never refused here.
var jsAPISystemLevel = []string{subjMetaStepDown, subjServerRemove, "$JS.API.SERVER.EVACUATE", "$JS.API.META.RESCUE", "$JS.API.ACCOUNT."}

const (
	typeSystemResponse   = "io.nats.jetstream.api.v1.system_response"
	typeAccountInfoReply = "io.nats.jetstream.api.v1.account_info_response"
)

var errJSNotEnabledForAccount = &metaAPIError{Code: 503, ErrCode: 10039, Description: "JetStream not enabled for account"}

// jsAPIRefusal is the reply to a JetStream API request in the system
// account.
type jsAPIRefusal struct {
	Type  string        `json:"type"`
	Error *metaAPIError `json:"error"`
}

// serveSystemJSAPI answers a JetStream API request made in the system
// account.
func (s *Server) serveSystemJSAPI(_ *conn, subject, reply, _ []byte) {
	if len(reply) == 0 {
		return
	}
	subj := string(subject)
	for _, p := range jsAPISystemLevel {
		if subj == p || strings.HasSuffix(p, ".") && strings.HasPrefix(subj, p) {
			return
		}
	}
	typ := typeSystemResponse
	if subj == "$JS.API.INFO" {
		typ = typeAccountInfoReply
	}
	s.sysReply(s.sysAcc, string(reply), jsAPIRefusal{Type: typ, Error: errJSNotEnabledForAccount})
}

package server

import (
	"time"

	"github.com/nats-io/nuid"
)

// authErrorReason is the reason nats-server gives in the auth error event.
const authErrorReason = "Authentication Failure"

// sendAuthErrorEvent announces a client refused for its credentials (or
// for speaking before CONNECT when authentication is required) on
// $SYS.SERVER.<id>.CLIENT.AUTH.ERR, as nats-server does: a
// client_disconnect event whose client block says who tried, from where,
// and under which user name.
func (c *conn) sendAuthErrorEvent(user string) {
	s := c.srv
	if s.sysp.Load() == nil || c.peer != nil {
		return
	}
	subject := "$SYS.SERVER." + s.id + ".CLIENT.AUTH.ERR"
	if !hasInterest(s.sysAcc.sl, subject) {
		return
	}
	cs := c.snapshot(false)
	now := time.Now().UTC()
	ci := s.clientInfo(&cs)
	ci.Stop = &now
	if ci.User == "" {
		ci.User = user
	}
	s.sysSend(subject, "", DisconnectEventMsg{
		Type: typeDisconnect, ID: nuid.Next(), Time: now,
		Server: s.serverInfo(), Client: ci,
		Sent:     DataStats{Msgs: cs.OutMsgs, Bytes: cs.OutBytes},
		Received: DataStats{Msgs: cs.InMsgs, Bytes: cs.InBytes},
		Reason:   authErrorReason,
	})
}

package server

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
	c.sendClosedEvent("$SYS.SERVER."+s.id+".CLIENT.AUTH.ERR", user, authErrorReason)
}

package server

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/wisp-mq/wisp/protocol"
)

// ErrNotReloadable wraps the reason a reload was refused because it changes
// a setting that only a restart can change.
var ErrNotReloadable = errors.New("cannot change at runtime; restart the server")

// Reload puts new options in force without a restart: users and their
// permissions, accounts with their exports and imports, TLS certificates
// (for new connections), limits, auth_timeout, ping settings and debug/trace.
//
// It is all or nothing: options that fail validation, certificates that do
// not load, or a change to a setting that needs a restart (host, port,
// server name, monitoring and profiling addresses, jetstream) leave the old
// options in force and return the reason.
//
// Open connections are kept when still allowed, and re-checked otherwise:
//   - a connection whose user was removed, moved to another account or
//     given a new password, or whose token no longer works, or that has no
//     user while users are now required, or (with verify_and_map) whose
//     certificate no longer names its user, is closed with
//     -ERR 'Authorization Violation';
//   - a connection whose user lost the permission for one of its
//     subscriptions is closed with -ERR 'Permissions Violation for
//     Subscription to "x"' (with ` using queue "q"` for a queue
//     subscription); otherwise its new permissions apply from the next
//     message on.
//
// New limits apply to new connections (max_payload, max_control_line) or at
// once (max_pending, write_deadline, ping settings, max_subscriptions for
// new SUBs); connections above a lowered max_connections are kept.
func (s *Server) Reload(opts *Options) error {
	if opts == nil {
		return errors.New("server: reload: no options")
	}
	o := *opts
	if err := o.Validate(); err != nil {
		return fmt.Errorf("server: reload: %w", err)
	}
	if err := s.checkStatic(&o); err != nil {
		return fmt.Errorf("server: reload: %w", err)
	}
	var ts *tlsState
	if o.TLS != nil {
		cfg, err := buildTLSConfig(o.TLS)
		if err != nil {
			return fmt.Errorf("server: reload: %w", err)
		}
		ts = &tlsState{cfg: cfg, opts: *o.TLS}
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	set, err := s.accountsFor(&o)
	if err != nil {
		return fmt.Errorf("server: reload: %w", err)
	}
	auth := newAuthenticator(&o, set)
	oldToken := s.auth.Load().token

	s.cur.Store(&o)
	s.reloaded.Store(time.Now().UnixNano())
	s.tls.Store(ts)
	before := s.accountList()
	s.install(set, &o)
	if s.cl != nil {
		s.cl.accountsRemoved(removedAccounts(before, set))
		s.cl.accountsAdded(set.added)
	}
	s.syncAccountResponders()
	s.auth.Store(auth)

	closed := 0
	for _, c := range s.connList() {
		if !c.recheck(auth, oldToken) {
			closed++
		}
	}
	s.log.Info("configuration reloaded", "closed_connections", closed)
	return nil
}

// removedAccounts lists the accounts of before that set no longer has.
func removedAccounts(before []*account, set *accountSet) []*account {
	var out []*account
	for _, a := range before {
		if set.byName[a.name] != a {
			out = append(out, a)
		}
	}
	return out
}

// checkStatic refuses changes to settings that need a restart. Each is
// compared with what the server started with.
func (s *Server) checkStatic(o *Options) error {
	var errs []error
	old := s.opts
	diff := func(name string, was, now any) {
		if was != now {
			errs = append(errs, fmt.Errorf("%s: %w (was %v, now %v)", name, ErrNotReloadable, was, now))
		}
	}
	diff("host", old.Host, o.Host)
	diff("port", old.Port, o.Port)
	diff("server_name", old.ServerName, o.ServerName)
	diff("http_host", old.HTTPHost, o.HTTPHost)
	diff("http_port", old.HTTPPort, o.HTTPPort)
	diff("prof_port", old.ProfPort, o.ProfPort)
	diff("jetstream", old.JetStream, o.JetStream)
	diff("system_account", old.SystemAccount, o.SystemAccount)
	if !reflect.DeepEqual(old.HTTPTLS, o.HTTPTLS) {
		errs = append(errs, fmt.Errorf("http.tls: %w", ErrNotReloadable))
	}
	if !reflect.DeepEqual(old.Cluster, o.Cluster) {
		errs = append(errs, fmt.Errorf("cluster: %w", ErrNotReloadable))
	}
	if !reflect.DeepEqual(old.Websocket, o.Websocket) {
		errs = append(errs, fmt.Errorf("websocket: %w", ErrNotReloadable))
	}
	return errors.Join(errs...)
}

// connList snapshots the open connections.
func (s *Server) connList() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		out = append(out, c)
	}
	return out
}

// recheck applies a new authenticator to an open connection. It reports
// false when the connection had to be closed.
func (c *conn) recheck(auth *authenticator, oldToken string) bool {
	c.infoMu.Lock()
	connected, uent, user, acc, byToken := c.connected, c.uent, c.user, c.acc, c.tokenAuth
	c.infoMu.Unlock()
	if !connected {
		return true // will authenticate against the new settings
	}
	deny := func() bool {
		c.srv.log.Info("closing connection after reload: user no longer authorized", "cid", c.id, "user", user)
		c.close(closeAuthViolation, protocol.ErrTextAuthViolation)
		return false
	}
	var u *userEntry
	switch {
	case !auth.required():
		if acc != c.srv.global {
			return deny()
		}
	case auth.token != "":
		if !byToken || auth.token != oldToken {
			return deny()
		}
	default:
		if uent == nil {
			return deny()
		}
		if auth.certMap {
			// The certificate must still name the same user.
			u = auth.certUser(c.cert)
			if u != nil && u.name != user {
				u = nil
			}
		} else {
			u = auth.users[user]
		}
		// A changed password ends the session: the connection proved the
		// old one, and nothing says it knows the new one. A client that
		// does reconnects at once.
		if u == nil || u.acc != acc || u.password != uent.password {
			return deny()
		}
	}
	var ps *permSet
	if u != nil {
		ps = u.perms
	}
	// New permissions first, so a SUB racing with this check is judged by
	// them; then every existing subscription must still be allowed.
	c.infoMu.Lock()
	if u != nil {
		c.uent = u
	}
	c.infoMu.Unlock()
	c.perms.Store(ps)
	c.subsMu.Lock()
	subs := make([]*subscription, 0, len(c.subs))
	for _, sub := range c.subs {
		subs = append(subs, sub)
	}
	c.subsMu.Unlock()
	for _, sub := range subs {
		if ps == nil {
			sub.deny.Store(nil)
			continue
		}
		ok, filter := ps.subscribeVerdict(sub.subject, sub.queue)
		if !ok {
			c.srv.log.Info("closing connection after reload: subscription no longer permitted", "cid", c.id, "user", user, "subject", sub.subject, "queue", sub.queue)
			c.close(closeAuthViolation, subViolationText(sub.subject, sub.queue))
			return false
		}
		if filter != nil {
			sub.deny.Store(&filter)
		} else {
			sub.deny.Store(nil)
		}
	}
	return true
}

package server

import (
	"cmp"
	"crypto/tls"
	"errors"
	"slices"
	"sync"
)

// Clients of other protocols (MQTT) live outside this package but log in
// with the server's users and show in /connz. The methods here are their
// whole view of the server, next to Account's broker.

// ExternalUser is a user an outside protocol's client logged in as.
type ExternalUser struct {
	Account string // "$G" for the global account
	User    string // "" when authentication is off
	// CanPublish and CanSubscribe apply the user's permissions; nil when
	// the user has none (everything allowed).
	CanPublish   func(subject string) bool
	CanSubscribe func(subject, queue string) bool
}

// CheckUser checks a user name and password as CONNECT would. With
// authentication off every client is let in, to the global account. With
// a token configured, the token is expected as the password.
func (s *Server) CheckUser(user, password string) (ExternalUser, bool) {
	a := s.auth.Load()
	if !a.required() {
		return ExternalUser{Account: GlobalAccount}, true
	}
	u, ok := a.check(&connectOpts{User: user, Pass: password, AuthToken: password}, nil)
	if !ok {
		return ExternalUser{}, false
	}
	return externalUser(u, s.global.name), true
}

// LookupUser finds a configured user by name without a password, for a
// protocol's no-auth user.
func (s *Server) LookupUser(user string) (ExternalUser, bool) {
	a := s.auth.Load()
	u, ok := a.users[user]
	if !ok {
		return ExternalUser{}, false
	}
	return externalUser(u, s.global.name), true
}

func externalUser(u *userEntry, global string) ExternalUser {
	if u == nil {
		return ExternalUser{Account: global}
	}
	eu := ExternalUser{Account: u.acc.name, User: u.name}
	if ps := u.perms; ps != nil {
		eu.CanPublish = func(subject string) bool { return ps.publishVerdict([]byte(subject)) == pubAllowed }
		eu.CanSubscribe = func(subject, queue string) bool {
			ok, _ := ps.subscribeVerdict(subject, queue)
			return ok
		}
	}
	return eu
}

// Errors of AddExternalConn.
var (
	ErrMaxConnections        = errors.New("server: maximum connections exceeded")
	ErrMaxAccountConnections = errors.New("server: maximum account active connections exceeded")
)

// AddExternalConn counts a connection of another protocol against
// max_connections and its account's limit, and lists it in /connz (and in
// what the system requests built on it report) until remove is called.
// snapshot is called for every listing; the snapshot's CID is set by the
// server.
func (s *Server) AddExternalConn(account string, snapshot func() ConnSnapshot) (cid uint64, remove func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, nil, ErrServerClosed
	}
	if len(s.conns)+len(s.ext) >= s.o().MaxConnections {
		return 0, nil, ErrMaxConnections
	}
	acc := s.global
	if a := s.accounts[account]; a != nil {
		acc = a
	}
	if !acc.tryAcquire() {
		return 0, nil, ErrMaxAccountConnections
	}
	cid = s.nextCID.Add(1)
	if s.ext == nil {
		s.ext = make(map[uint64]func() ConnSnapshot)
	}
	s.ext[cid] = snapshot
	s.stats.totalConns.Add(1)
	var once sync.Once
	return cid, func() {
		once.Do(func() {
			acc.nconns.Add(-1)
			s.mu.Lock()
			delete(s.ext, cid)
			s.mu.Unlock()
		})
	}, nil
}

// externalSnapshots lists the outside protocols' connections.
func (s *Server) externalSnapshots() []ConnSnapshot {
	s.mu.Lock()
	fns := make(map[uint64]func() ConnSnapshot, len(s.ext))
	for cid, fn := range s.ext {
		fns[cid] = fn
	}
	s.mu.Unlock()
	out := make([]ConnSnapshot, 0, len(fns))
	for cid, fn := range fns {
		cs := fn()
		cs.CID = cid
		out = append(out, cs)
	}
	slices.SortFunc(out, func(a, b ConnSnapshot) int { return cmp.Compare(a.CID, b.CID) })
	return out
}

// TLSConfig builds the server side of TLS from t, for a listener of
// another protocol that takes the same tls settings as the client port.
func (t *TLSOptions) TLSConfig() (*tls.Config, error) { return buildTLSConfig(t) }

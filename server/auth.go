package server

import (
	"crypto/subtle"
	"crypto/x509"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// authenticator checks CONNECT credentials against the configured token,
// user/password or user lists, or a client's certificate against the user
// lists (verify_and_map). It is immutable: a reload builds a new one.
type authenticator struct {
	token string
	users map[string]*userEntry // nil when users are not in use
	// certMap finds users through client certificates instead of the
	// user name in CONNECT (auth_cert.go); dnUsers serves it.
	certMap bool
	dnUsers []dnUser
}

// userEntry is one user: the password (plain or bcrypt), the account the
// user works in, and the user's permissions (nil: everything allowed).
type userEntry struct {
	name     string
	password string
	acc      *account
	perms    *permSet
}

// newAuthenticator builds the checker for o, with accounts from set.
func newAuthenticator(o *Options, set *accountSet) *authenticator {
	a := &authenticator{token: o.AuthToken}
	global := set.byName[GlobalAccount]
	defaults := defaultPermSets(o) // shared by the users they apply to
	add := func(u User, acc *account) {
		if a.users == nil {
			a.users = make(map[string]*userEntry)
		}
		perms := defaults[acc.name]
		if u.Permissions != nil {
			perms = newPermSet(u.Permissions) // replaces the defaults, never merged
		}
		a.users[u.Username] = &userEntry{name: u.Username, password: u.Password, acc: acc, perms: perms}
	}
	if o.Username != "" {
		add(User{Username: o.Username, Password: o.Password}, global)
	}
	for _, u := range o.Users {
		add(u, global)
	}
	for _, ac := range o.Accounts {
		for _, u := range ac.Users {
			add(u, set.byName[ac.Name])
		}
	}
	if o.TLS != nil && o.TLS.VerifyAndMap {
		a.certMap = true
		a.dnUsers = dnUsersOf(a.users)
	}
	return a
}

func (a *authenticator) required() bool { return a.token != "" || a.users != nil }

// check reports whether the CONNECT credentials are good, and the user they
// authenticate as (nil for a token or when auth is off). cert is the
// client's verified certificate, if any. Comparisons take the same time
// whatever the input.
func (a *authenticator) check(o *connectOpts, cert *x509.Certificate) (*userEntry, bool) {
	switch {
	case !a.required():
		return nil, true
	case a.token != "":
		// Only auth_token carries a token, as with nats-server: a token
		// sent as a password (or a user name) is refused, so that one
		// secret never works under two names.
		return nil, equalConstantTime(o.AuthToken, a.token)
	case a.certMap:
		// The certificate says who the client is; a user that also has a
		// password needs it too, as with nats-server.
		u := a.certUser(cert)
		if u == nil {
			return nil, false
		}
		return u, u.password == "" || passwordMatches(o.Pass, u.password)
	default:
		u, ok := a.users[o.User]
		if !ok || u.password == "" { // no password: a certificate-only user
			// Spend the same effort as a real comparison so response time
			// does not reveal which user names exist.
			equalConstantTime(o.Pass, o.Pass+"x")
			return nil, false
		}
		return u, passwordMatches(o.Pass, u.password)
	}
}

// passwordMatches compares against a bcrypt hash or a plain password.
func passwordMatches(given, want string) bool {
	if strings.HasPrefix(want, "$2") {
		return bcrypt.CompareHashAndPassword([]byte(want), []byte(given)) == nil
	}
	return equalConstantTime(given, want)
}

func equalConstantTime(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// claimed names whom a client tried to authenticate as, for the log.
func (a *authenticator) claimed(o *connectOpts, cert *x509.Certificate) string {
	if a.certMap {
		return certName(cert)
	}
	return o.User
}

// authLog rate-limits the log lines for failed authentications.
type authLog struct{ limit logLimiter }

// logFailure logs failed authentications, at most once a second, so a
// client hammering with bad passwords cannot flood the log.
func (a *authLog) logFailure(log *slog.Logger, host, user string) {
	if ok, suppressed := a.limit.allow(time.Now()); ok {
		log.Warn("authorization violation", "client", host, "user", user, "suppressed_since_last", suppressed)
	}
}

package server

import (
	"crypto/subtle"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// authenticator checks CONNECT credentials against the configured token,
// user/password or user list.
type authenticator struct {
	token string
	users map[string]string // user name → plain password or bcrypt hash

	logMu      sync.Mutex
	lastLog    time.Time
	suppressed int
}

func newAuthenticator(o *Options) *authenticator {
	a := &authenticator{token: o.AuthToken}
	if o.Username != "" {
		a.users = map[string]string{o.Username: o.Password}
	}
	if len(o.Users) > 0 {
		a.users = make(map[string]string, len(o.Users))
		for _, u := range o.Users {
			a.users[u.Username] = u.Password
		}
	}
	return a
}

func (a *authenticator) required() bool { return a.token != "" || a.users != nil }

// check reports whether the CONNECT credentials are good, and the user name
// they authenticate as. Comparisons take the same time whatever the input.
func (a *authenticator) check(o *connectOpts) (string, bool) {
	switch {
	case !a.required():
		return "", true
	case a.token != "":
		tok := o.AuthToken
		if tok == "" {
			tok = o.Pass // some clients send a token as the password
		}
		return "", equalConstantTime(tok, a.token)
	default:
		want, ok := a.users[o.User]
		if !ok {
			// Spend the same effort as a real comparison so response time
			// does not reveal which user names exist.
			equalConstantTime(o.Pass, o.Pass+"x")
			return "", false
		}
		return o.User, passwordMatches(o.Pass, want)
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

// logFailure logs failed authentications, at most once a second, so a
// client hammering with bad passwords cannot flood the log.
func (a *authenticator) logFailure(log *slog.Logger, host, user string) {
	a.logMu.Lock()
	defer a.logMu.Unlock()
	now := time.Now()
	if now.Sub(a.lastLog) < time.Second {
		a.suppressed++
		return
	}
	log.Warn("authorization violation", "client", host, "user", user, "suppressed_since_last", a.suppressed)
	a.lastLog, a.suppressed = now, 0
}

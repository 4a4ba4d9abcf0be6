package server

// Console logins. A person logs in with a server user's name and password
// (the token, when the server uses one); the server keeps the session in
// memory and hands the browser an opaque id in a cookie that scripts cannot
// read (HttpOnly), that other sites cannot make the browser send
// (SameSite=Strict) and that never travels in clear text when the port
// speaks TLS (Secure). Each session also has a CSRF token, which the page
// reads from /console/api/session and sends back in a header with every
// POST: a page on another origin can neither read it nor set the header
// without a CORS preflight this server never grants.
//
// Sessions hold only the user's name: what the user may do is looked up on
// every request from the options in force, so a reload that removes a user
// or changes their grant takes effect at once.

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"slices"
	"sync"
	"time"
)

const (
	sessionCookie  = "wisp_console"
	csrfHeader     = "X-Wisp-CSRF"
	sessionIdle    = 30 * time.Minute // a session unused this long ends
	sessionMaxLife = 12 * time.Hour   // and none lives longer than this
	maxSessions    = 4096             // the oldest goes when a new one would exceed this
)

// consoleSession is one logged-in browser.
type consoleSession struct {
	id       string
	csrf     string
	user     string // "" for the anonymous session of an open console or a token login
	token    bool   // logged in with the server's token
	created  time.Time
	lastSeen time.Time
}

// consoleIdentity is what a session may do, resolved at request time.
type consoleIdentity struct {
	User     string      `json:"user"`
	Role     ConsoleRole `json:"role"`
	Account  string      `json:"account"`  // the account the user belongs to
	Accounts []string    `json:"accounts"` // the accounts the user may see; nil: every account
}

// mayAct reports whether the identity may change things in account.
func (id *consoleIdentity) mayAct(account string) bool {
	return id.Role == ConsoleOperator && id.maySee(account)
}

// maySee reports whether the identity may look into account.
func (id *consoleIdentity) maySee(account string) bool {
	return id.Accounts == nil || slices.Contains(id.Accounts, account)
}

// sessionStore holds the live sessions of one monitoring listener.
type sessionStore struct {
	mu       sync.Mutex
	sessions map[string]*consoleSession
	now      func() time.Time // time.Now; tests move it
}

func newSessionStore() *sessionStore {
	return &sessionStore{sessions: make(map[string]*consoleSession), now: time.Now}
}

// randomToken is 32 random bytes, URL-safe.
func randomToken() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand documents it)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session for user.
func (st *sessionStore) create(user string, token bool) *consoleSession {
	st.mu.Lock()
	defer st.mu.Unlock()
	now := st.now()
	st.expireLocked(now)
	if len(st.sessions) >= maxSessions {
		var oldest *consoleSession
		for _, s := range st.sessions {
			if oldest == nil || s.lastSeen.Before(oldest.lastSeen) {
				oldest = s
			}
		}
		delete(st.sessions, oldest.id)
	}
	s := &consoleSession{id: randomToken(), csrf: randomToken(), user: user, token: token, created: now, lastSeen: now}
	st.sessions[s.id] = s
	return s
}

// lookup finds the request's live session, touching it, or nil.
func (st *sessionStore) lookup(r *http.Request) *consoleSession {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.sessions[c.Value]
	if s == nil {
		return nil
	}
	now := st.now()
	if st.expired(s, now) {
		delete(st.sessions, s.id)
		return nil
	}
	s.lastSeen = now
	cp := *s
	return &cp
}

// end removes a session.
func (st *sessionStore) end(id string) {
	st.mu.Lock()
	delete(st.sessions, id)
	st.mu.Unlock()
}

func (st *sessionStore) expired(s *consoleSession, now time.Time) bool {
	return now.Sub(s.lastSeen) > sessionIdle || now.Sub(s.created) > sessionMaxLife
}

func (st *sessionStore) expireLocked(now time.Time) {
	for id, s := range st.sessions {
		if st.expired(s, now) {
			delete(st.sessions, id)
		}
	}
}

// setSessionCookie hands the browser its session id.
func setSessionCookie(w http.ResponseWriter, r *http.Request, id string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    id,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
}

// identity resolves what session s may do under the options in force; ok
// is false when the session's user no longer exists.
func (s *Server) consoleIdentity(sess *consoleSession) (*consoleIdentity, bool) {
	o := s.o()
	if !o.consoleLoginRequired() {
		// An open console: whoever reaches it is trusted, as any client
		// of a server without auth is.
		return &consoleIdentity{User: "", Role: ConsoleOperator, Account: GlobalAccount}, true
	}
	if sess.token {
		if s.auth.Load().token == "" {
			return nil, false
		}
		return &consoleIdentity{Role: ConsoleViewer, Account: GlobalAccount, Accounts: []string{GlobalAccount}}, true
	}
	u := s.auth.Load().users[sess.user]
	if u == nil || sess.user == "" {
		return nil, false
	}
	id := &consoleIdentity{User: u.name, Role: ConsoleViewer, Account: u.acc.name, Accounts: []string{u.acc.name}}
	for _, a := range o.Console.Access {
		if a.User != u.name {
			continue
		}
		if a.Role != "" {
			id.Role = a.Role
		}
		switch {
		case slices.Contains(a.Accounts, "*"):
			id.Accounts = nil
		case len(a.Accounts) > 0:
			id.Accounts = slices.Clone(a.Accounts)
		}
	}
	return id, true
}

// checkLogin reports whether user and password log in, and whether it was
// by token. Unknown users cost as much as known ones.
func (s *Server) checkLogin(user, password string) (ok, byToken bool) {
	a := s.auth.Load()
	if a.token != "" {
		return equalConstantTime(password, a.token), true
	}
	u := a.users[user]
	if u == nil || u.password == "" {
		equalConstantTime(password, password+"x")
		return false, false
	}
	return passwordMatches(password, u.password), false
}

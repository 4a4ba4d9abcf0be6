package server

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// consoleState is the console's part of the monitoring listener: live
// sessions, the login throttle and the charts' history.
type consoleState struct {
	sessions *sessionStore
	throttle *loginThrottle
	history  *chartHistory
}

func newConsoleState() *consoleState {
	return &consoleState{sessions: newSessionStore(), throttle: newLoginThrottle(), history: newChartHistory()}
}

// consoleHandler is a console endpoint that runs for a checked session.
type consoleHandler func(w http.ResponseWriter, r *http.Request, sess *consoleSession, id *consoleIdentity)

// maxConsoleBody bounds a console request body: a published payload fits
// under the largest max_payload, with room for its JSON encoding.
const maxConsoleBody = 96 << 20

// registerConsoleAPI adds the console's session and management endpoints.
func (s *Server) registerConsoleAPI(mux *http.ServeMux, cs *consoleState) {
	mux.HandleFunc("GET /console/api/session", func(w http.ResponseWriter, r *http.Request) { s.handleSession(w, r, cs) })
	mux.HandleFunc("POST /console/api/login", func(w http.ResponseWriter, r *http.Request) { s.handleLogin(w, r, cs) })
	mux.HandleFunc("POST /console/api/logout", s.guard(cs, s.handleLogout(cs)))
	mux.HandleFunc("POST /console/api/js", s.guard(cs, s.handleJSRequest))
	mux.HandleFunc("GET /console/api/messages", s.guard(cs, s.handleMessages))
	mux.HandleFunc("POST /console/api/publish", s.guard(cs, s.handlePublish))
	mux.HandleFunc("POST /console/api/kick", s.guard(cs, s.handleKick))
	mux.HandleFunc("GET /console/api/history", s.guard(cs, s.handleHistory(cs.history)))
}

// guard admits a request only with a live session whose user still
// exists and, for anything but GET, the session's CSRF token in the
// X-Wisp-CSRF header and no foreign Origin.
func (s *Server) guard(cs *consoleState, h consoleHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		noStore(w)
		sess := cs.sessions.lookup(r)
		if sess == nil {
			writeError(w, http.StatusUnauthorized, "login required")
			return
		}
		id, ok := s.consoleIdentity(sess)
		if !ok {
			cs.sessions.end(sess.id)
			writeError(w, http.StatusUnauthorized, "login required: the session's user no longer exists")
			return
		}
		if !s.o().consoleLoginRequired() && !addressedDirectly(r) {
			writeError(w, http.StatusForbidden, openConsoleByName)
			return
		}
		if r.Method != http.MethodGet {
			got := r.Header.Get(csrfHeader)
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) != 1 {
				s.log.Warn("console: request refused: missing or wrong CSRF token", "user", id.User, "path", r.URL.Path, "client", r.RemoteAddr)
				writeError(w, http.StatusForbidden, "missing or wrong CSRF token: reload the page")
				return
			}
			if !sameOrigin(r) {
				writeError(w, http.StatusForbidden, "cross-origin request refused")
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxConsoleBody)
		}
		cs.history.touch()
		h(w, r, sess, id)
	}
}

// sameOrigin reports whether the request's Origin, when the browser sent
// one, names this server.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// openConsoleByName refuses an open console's API to a request addressed
// by a host name.
const openConsoleByName = "a console without login answers only requests addressed to an IP address or localhost: add users to reach it by name"

// addressedDirectly reports whether the request names the server by IP
// address or as localhost. An open console (no login) asks this of every
// API request: a web page whose own host name an attacker points at
// 127.0.0.1 (DNS rebinding) counts as the console's origin to the browser,
// and could otherwise read a session's CSRF token and act. Such a page
// always sends its own host name.
func addressedDirectly(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	return host == "localhost" || net.ParseIP(host) != nil
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
}

// sessionView is the answer to GET /console/api/session and a login.
type sessionView struct {
	consoleIdentity
	CSRF          string `json:"csrf"`
	LoginRequired bool   `json:"login_required"`
	// Visible lists the accounts the user may pick, their own first.
	Visible []string `json:"visible_accounts"`
}

// newSessionView describes the session to the page.
func (s *Server) newSessionView(sess *consoleSession, id *consoleIdentity, required bool) sessionView {
	v := sessionView{consoleIdentity: *id, CSRF: sess.csrf, LoginRequired: required}
	if id.Accounts != nil {
		v.Visible = id.Accounts
	} else {
		v.Visible = []string{GlobalAccount}
		s.mu.Lock()
		for name := range s.accounts {
			v.Visible = append(v.Visible, name)
		}
		s.mu.Unlock()
		slices.Sort(v.Visible[1:])
	}
	if i := slices.Index(v.Visible, id.Account); i > 0 {
		v.Visible = append([]string{id.Account}, slices.Delete(slices.Clone(v.Visible), i, i+1)...)
	}
	return v
}

// handleSession tells the page who is logged in and hands it the CSRF
// token. An open console (no users) gets a session without a login, so
// its POSTs carry a CSRF token like everyone else's.
func (s *Server) handleSession(w http.ResponseWriter, r *http.Request, cs *consoleState) {
	noStore(w)
	required := s.o().consoleLoginRequired()
	if !required && !addressedDirectly(r) {
		writeError(w, http.StatusForbidden, openConsoleByName)
		return
	}
	sess := cs.sessions.lookup(r)
	if sess == nil && !required {
		sess = cs.sessions.create("", false)
		setSessionCookie(w, r, sess.id, 0)
	}
	if sess == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "login required", "login_required": true})
		return
	}
	id, ok := s.consoleIdentity(sess)
	if !ok {
		cs.sessions.end(sess.id)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "login required", "login_required": true})
		return
	}
	cs.history.touch()
	writeJSON(w, http.StatusOK, s.newSessionView(sess, id, required))
}

type loginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// handleLogin checks a user's password, throttled per client address, and
// starts a session. Every failure is logged; a throttled client is told
// how long to wait (429 with Retry-After).
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request, cs *consoleState) {
	noStore(w)
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "cross-origin request refused")
		return
	}
	if !s.o().consoleLoginRequired() {
		writeError(w, http.StatusBadRequest, "this console has no login: the server has no users")
		return
	}
	client := clientHost(r)
	if wait := cs.throttle.wait(client); wait > 0 {
		s.log.Warn("console: login refused: too many failures", "client", client, "retry_after", wait.Round(time.Second).String())
		tooManyLogins(w, wait)
		return
	}
	var req loginRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "expected {\"user\": ..., \"password\": ...}")
		return
	}
	ok, byToken := s.checkLogin(req.User, req.Password)
	if !ok {
		wait := cs.throttle.failed(client)
		s.stats.authFailures.Add(1)
		s.log.Warn("console: login failed", "user", req.User, "client", client)
		if wait > 0 {
			tooManyLogins(w, wait)
			return
		}
		writeError(w, http.StatusUnauthorized, "wrong user or password")
		return
	}
	cs.throttle.succeeded(client)
	user := req.User
	if byToken {
		user = ""
	}
	sess := cs.sessions.create(user, byToken)
	id, _ := s.consoleIdentity(sess)
	setSessionCookie(w, r, sess.id, 0)
	s.log.Info("console: login", "user", req.User, "role", id.Role, "client", client)
	writeJSON(w, http.StatusOK, s.newSessionView(sess, id, true))
}

func tooManyLogins(w http.ResponseWriter, wait time.Duration) {
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, http.StatusTooManyRequests, fmt.Sprintf("too many failed logins: try again in %ds", secs))
}

func (s *Server) handleLogout(cs *consoleState) consoleHandler {
	return func(w http.ResponseWriter, r *http.Request, sess *consoleSession, id *consoleIdentity) {
		cs.sessions.end(sess.id)
		setSessionCookie(w, r, "", -1)
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	}
}

// clientHost is the address the request came from, without the port:
// the throttle counts per machine, not per connection.
func clientHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

package server

import (
	"net"
	"slices"
)

// ConsoleOptions configure who may use the web console and what they may
// do there (the [http.console] table). The console asks for a login
// whenever the server has users (or RequireLogin is set); people log in as
// one of those users. A user is read-only in their own account unless
// Access lists them.
type ConsoleOptions struct {
	// RequireLogin insists on a login; it needs server users (a login with
	// nobody to log in as would lock everyone out). Users imply a login
	// anyway: it is for configs that want the file to say so.
	RequireLogin bool
	// Access grants users more than the default: another role, or other
	// accounts. Users not listed are viewers of their own account.
	Access []ConsoleAccess
}

// ConsoleRole is what a console user may do.
type ConsoleRole string

const (
	// ConsoleViewer looks: pages, stream details, messages.
	ConsoleViewer ConsoleRole = "viewer"
	// ConsoleOperator also acts: publish, purge, delete, create, kick.
	ConsoleOperator ConsoleRole = "operator"
)

// ConsoleAccess is one user's grant.
type ConsoleAccess struct {
	User string
	Role ConsoleRole // default ConsoleViewer
	// Accounts the user sees (and acts on, as an operator); empty means the
	// user's own account, "*" every account.
	Accounts []string
}

// loginRequired reports whether the console asks for a login: whenever
// clients must authenticate, or the config insists.
func (o *Options) consoleLoginRequired() bool {
	return o.AuthRequired() || o.Console.RequireLogin
}

// validateConsole checks [http.console] and [http.tls].
func validateConsole(o *Options, bad func(name, format string, args ...any)) {
	c := &o.Console
	if c.RequireLogin && !o.AuthRequired() {
		bad("http.console.login", "a login needs server users (authorization.users or accounts' users) to log in as")
	}
	known := map[string]bool{}
	if o.Username != "" {
		known[o.Username] = true
	}
	for _, u := range o.Users {
		known[u.Username] = true
	}
	accounts := map[string]bool{GlobalAccount: true}
	for _, ac := range o.Accounts {
		accounts[ac.Name] = true
		for _, u := range ac.Users {
			known[u.Username] = true
		}
	}
	seen := map[string]bool{}
	for i, a := range c.Access {
		switch {
		case a.User == "":
			bad("http.console.access", "entry %d has no user", i+1)
		case !known[a.User]:
			bad("http.console.access", "user %q is not a server user (log in needs one with a password)", a.User)
		case seen[a.User]:
			bad("http.console.access", "user %q is listed twice", a.User)
		}
		seen[a.User] = true
		switch a.Role {
		case "", ConsoleViewer, ConsoleOperator:
		default:
			bad("http.console.access", "user %q: role %q is not %q or %q", a.User, a.Role, ConsoleViewer, ConsoleOperator)
		}
		for _, name := range a.Accounts {
			if name != "*" && !accounts[name] {
				bad("http.console.access", "user %q: no account %q", a.User, name)
			}
		}
		if slices.Contains(a.Accounts, "*") && len(a.Accounts) > 1 {
			bad("http.console.access", "user %q: \"*\" already means every account; list nothing else", a.User)
		}
	}
	if o.HTTPTLS != nil {
		o.HTTPTLS.validate(func(name, format string, args ...any) { bad("http."+name, format, args...) })
		if o.HTTPTLS.verifyClients() {
			bad("http.tls", "verify and verify_and_map are for clients of the NATS port; the console logs people in instead")
		}
		if o.HTTPTLS.HandshakeFirst {
			bad("http.tls", "handshake_first is a NATS port setting; HTTPS always starts with TLS")
		}
	}
}

// isLoopback reports whether host only accepts connections from this
// machine ("localhost" or a loopback address).
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// warnOpenConsole warns when a console without login, whose visitors may
// act, listens beyond this machine.
func (s *Server) warnOpenConsole() {
	o := s.o()
	if o.consoleLoginRequired() || isLoopback(o.HTTPHost) {
		return
	}
	s.log.Warn("the web console has no login and listens beyond this machine: anyone who reaches it may publish, purge and delete; add users (authorization) or listen on 127.0.0.1",
		"http_host", o.HTTPHost)
}

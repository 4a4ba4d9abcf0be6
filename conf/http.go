package conf

import (
	"github.com/wisp-mq/wisp/server"
)

// The [http] table: HTTPS for the monitoring port, and who may use the web
// console (see docs/console.md).
//
//	[http.tls]
//	cert_file = "monitor.pem"
//	key_file = "monitor-key.pem"
//
//	[http.console]
//	login = true                  # implied when the server has users
//	[[http.console.access]]
//	user = "alice"
//	role = "operator"             # or "viewer", the default for every user
//	accounts = ["ORDERS", "OPS"]  # default: the user's own account; "*": all

type fileHTTP struct {
	TLS     *fileTLS     `toml:"tls"`
	Console *fileConsole `toml:"console"`
}

type fileConsole struct {
	Login  *boolValue          `toml:"login"`
	Access []fileConsoleAccess `toml:"access"`
}

type fileConsoleAccess struct {
	User     *stringValue `toml:"user"`
	Role     *stringValue `toml:"role"`
	Accounts []string     `toml:"accounts"`
}

// apply copies the table onto the server's options; Options.Validate
// refuses what cannot work (unknown users, roles or accounts, a login
// with nobody to log in as, client-certificate settings under http.tls).
func (h *fileHTTP) apply(o *server.Options) {
	if h.TLS != nil {
		o.HTTPTLS = h.TLS.options()
	}
	if c := h.Console; c != nil {
		setBool(&o.Console.RequireLogin, c.Login)
		for _, a := range c.Access {
			var ca server.ConsoleAccess
			setString(&ca.User, a.User)
			var role string
			setString(&role, a.Role)
			ca.Role = server.ConsoleRole(role)
			ca.Accounts = a.Accounts
			o.Console.Access = append(o.Console.Access, ca)
		}
	}
}

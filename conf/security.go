package conf

import (
	"fmt"
	"sort"
	"time"

	"github.com/wisp-mq/wisp/server"
)

// The file forms of permissions and accounts follow nats-server's:
//
//	users = [{ user = "a", password = "...", permissions = {
//	    publish = { allow = ["orders.>"], deny = ["orders.secret"] },
//	    subscribe = ["news.>", "_INBOX.>"],   # a list (or one string) means allow
//	    # a subscribe entry may name queue groups: "jobs.> workers", "jobs.> *.dev"
//	    allow_responses = true,               # or { max = 1, expires = "1m" }
//	}}]
//
//	default_permissions = { subscribe = ["news.>"] }   # in [authorization]: for its users without permissions
//
//	[accounts.A]
//	users = [...]
//	default_permissions = { publish = "a.>" }         # for A's users without permissions
//	max_connections = 100
//	exports = [{ stream = "events.>" }, { service = "svc.req", accounts = ["B"] }]
//
//	[accounts.B]
//	imports = [
//	    { stream = { account = "A", subject = "events.>" }, prefix = "a" },
//	    { service = { account = "A", subject = "svc.req" }, to = "a.svc" },
//	]

type filePerms struct {
	Publish        *filePermList  `toml:"publish"`
	Subscribe      *filePermList  `toml:"subscribe"`
	AllowResponses *fileResponses `toml:"allow_responses"`
}

// filePermList is a subject, a list of subjects (both: the allow list), or
// a table with allow and deny lists.
type filePermList struct {
	Allow []string `toml:"allow"`
	Deny  []string `toml:"deny"`
}

func (l *filePermList) UnmarshalTOML(data any) error {
	switch d := data.(type) {
	case string:
		l.Allow = []string{d}
		return nil
	case []any:
		var err error
		l.Allow, err = stringList(d)
		return err
	case map[string]any:
		for k, v := range d {
			list, err := stringOrList(v)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			switch k {
			case "allow":
				l.Allow = list
			case "deny":
				l.Deny = list
			default:
				return fmt.Errorf("unknown key %q (want allow or deny)", k)
			}
		}
		return nil
	}
	return fmt.Errorf("expected a subject, a list of subjects or a table with allow and deny, got %s", tomlKind(data))
}

func stringOrList(v any) ([]string, error) {
	if s, ok := v.(string); ok {
		return []string{s}, nil
	}
	if l, ok := v.([]any); ok {
		return stringList(l)
	}
	return nil, fmt.Errorf("expected a subject or a list of subjects, got %s", tomlKind(v))
}

func stringList(l []any) ([]string, error) {
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("expected a list of strings, found %s", tomlKind(e))
		}
		out = append(out, s)
	}
	return out, nil
}

// fileResponses is allow_responses: true/false, or { max, expires }.
type fileResponses struct {
	Max     int           `toml:"max"`
	Expires durationValue `toml:"expires"`
	off     bool
}

func (r *fileResponses) UnmarshalTOML(data any) error {
	switch d := data.(type) {
	case bool:
		r.off = !d
		return nil
	case map[string]any:
		for k, v := range d {
			switch k {
			case "max":
				n, ok := v.(int64)
				if !ok || n < 0 || n > 1<<31 {
					return fmt.Errorf("max: expected a non-negative integer, got %v", v)
				}
				r.Max = int(n)
			case "expires":
				if err := r.Expires.UnmarshalTOML(v); err != nil {
					return fmt.Errorf("expires: %w", err)
				}
			default:
				return fmt.Errorf("unknown key %q (want max or expires)", k)
			}
		}
		return nil
	}
	return fmt.Errorf("expected true, false or a table with max and expires, got %s", tomlKind(data))
}

func (p *filePerms) options() *server.Permissions {
	out := &server.Permissions{}
	if p.Publish != nil {
		out.Publish = server.SubjectPermission{Allow: p.Publish.Allow, Deny: p.Publish.Deny}
	}
	if p.Subscribe != nil {
		out.Subscribe = server.SubjectPermission{Allow: p.Subscribe.Allow, Deny: p.Subscribe.Deny}
	}
	if r := p.AllowResponses; r != nil && !r.off {
		out.Responses = &server.ResponsePermission{MaxMsgs: r.Max, Expires: time.Duration(r.Expires)}
	}
	return out
}

type fileAccount struct {
	Users              []fileUser   `toml:"users"`
	DefaultPermissions *filePerms   `toml:"default_permissions"`
	MaxConnections     *intValue    `toml:"max_connections"`
	Exports            []fileExport `toml:"exports"`
	Imports            []fileImport `toml:"imports"`
	// Mappings rewrite the account's published subjects (mapping.go).
	Mappings map[string]*fileMapping `toml:"mappings"`
	// JetStream holds the account's stream limits (config.go).
	JetStream *fileAccountJetStream `toml:"jetstream"`
}

type fileExport struct {
	Stream            *stringValue   `toml:"stream"`
	Service           *stringValue   `toml:"service"`
	Accounts          []string       `toml:"accounts"`
	ResponseType      *stringValue   `toml:"response_type"`
	ResponseThreshold *durationValue `toml:"response_threshold"`
}

type fileImport struct {
	Stream  *fileImportSource `toml:"stream"`
	Service *fileImportSource `toml:"service"`
	Prefix  *stringValue      `toml:"prefix"`
	To      *stringValue      `toml:"to"`
}

type fileImportSource struct {
	Account *stringValue `toml:"account"`
	Subject *stringValue `toml:"subject"`
}

func (u *fileUser) options() server.User {
	var su server.User
	setString(&su.Username, u.User)
	setString(&su.Password, u.Password)
	if u.Permissions != nil {
		su.Permissions = u.Permissions.options()
	}
	return su
}

// applyAccounts turns the accounts table into options, in name order so
// that errors come out the same way every time.
func applyAccounts(o *server.Options, accs map[string]*fileAccount) {
	names := make([]string, 0, len(accs))
	for n := range accs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		fa := accs[name]
		ac := server.AccountConfig{Name: name}
		if fa == nil {
			o.Accounts = append(o.Accounts, ac)
			continue
		}
		for _, u := range fa.Users {
			ac.Users = append(ac.Users, u.options())
		}
		setDefaultPermissions(o, name, fa.DefaultPermissions)
		setInt(&ac.MaxConnections, fa.MaxConnections)
		for _, e := range fa.Exports {
			var ex server.Export
			setString(&ex.Stream, e.Stream)
			setString(&ex.Service, e.Service)
			ex.Accounts = e.Accounts
			setString(&ex.ResponseType, e.ResponseType)
			setDuration(&ex.ResponseThreshold, e.ResponseThreshold)
			ac.Exports = append(ac.Exports, ex)
		}
		for _, i := range fa.Imports {
			var im server.Import
			if i.Stream != nil {
				im.Stream = i.Stream.options()
			}
			if i.Service != nil {
				im.Service = i.Service.options()
			}
			setString(&im.Prefix, i.Prefix)
			setString(&im.To, i.To)
			ac.Imports = append(ac.Imports, im)
		}
		o.Accounts = append(o.Accounts, ac)
	}
}

// setDefaultPermissions records an account's default_permissions, when the
// file gives them.
func setDefaultPermissions(o *server.Options, account string, p *filePerms) {
	if p == nil {
		return
	}
	if o.DefaultPermissions == nil {
		o.DefaultPermissions = make(map[string]*server.Permissions)
	}
	o.DefaultPermissions[account] = p.options()
}

func (s *fileImportSource) options() *server.ImportSource {
	var src server.ImportSource
	setString(&src.Account, s.Account)
	setString(&src.Subject, s.Subject)
	return &src
}

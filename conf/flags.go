package conf

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/wisp-mq/wisp/server"
)

// flagDef is one command-line setting, possibly under several names (all
// spellings nats-server accepts, so that scripts move over unchanged). Go's
// flag package treats -name and --name alike.
type flagDef struct {
	names   []string // without dashes
	arg     string   // placeholder for the value in usage; "" for a boolean flag
	usage   string
	section string
	key     string // the config-file key it overrides, for error messages
	auth    authStyle
	// set applies the value to a Config. It runs twice: once while flags
	// are parsed, on a scratch Config, to reject bad values early; and again
	// after the config file has been loaded, so that flags win.
	set func(c *Config, v string) error
	// meta handles flags that steer loading itself (-c, --help, --version).
	meta func(st *flagState, v string) error
}

// authStyle groups the flags that choose an authentication style. Setting
// any of them replaces the file's authorization of the other style, so that
// "--user a --pass b" works against a file that configures a token.
type authStyle uint8

const (
	authNone authStyle = iota
	authToken
	authUserPass
)

// flagState collects what parsing the command line found.
type flagState struct {
	configFile string
	help       bool
	version    bool
	signal     string
	pending    []pendingFlag // in command-line order
}

type pendingFlag struct {
	def   *flagDef
	value string
}

func boolArg(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("expected true or false")
	}
	return b, nil
}

// flagDefs lists every flag, in the order the usage text shows them.
var flagDefs = []*flagDef{
	{names: []string{"a", "addr", "net"}, arg: "<host>", section: "Server",
		usage: "Bind to host address (default 0.0.0.0)", key: "host",
		set: func(c *Config, v string) error { c.Server.Host = v; return nil }},
	{names: []string{"p", "port"}, arg: "<port>", section: "Server",
		usage: "Client port (default 4222; -1 for any free port)", key: "port",
		set: func(c *Config, v string) (err error) { c.Server.Port, err = parsePort(v); return err }},
	{names: []string{"n", "name", "server_name"}, arg: "<name>", section: "Server",
		usage: "Server name (default: the server id)", key: "server_name",
		set: func(c *Config, v string) error { c.Server.ServerName = v; return nil }},
	{names: []string{"m", "http_port"}, arg: "<port>", section: "Server",
		usage: "HTTP monitoring port (default 0 = off)", key: "http_port",
		set: func(c *Config, v string) (err error) { c.Server.HTTPPort, err = parsePort(v); return err }},
	{names: []string{"profile", "prof_port"}, arg: "<port>", section: "Server",
		usage: "Go pprof profiling port, /debug/pprof/ (default 0 = off)", key: "prof_port",
		set: func(c *Config, v string) (err error) { c.Server.ProfPort, err = parsePort(v); return err }},
	{names: []string{"c", "config"}, arg: "<file>", section: "Server",
		usage: "Configuration file (TOML; see wisp.conf.example)",
		meta:  func(st *flagState, v string) error { st.configFile = v; return nil }},

	{names: []string{"P", "pid"}, arg: "<file>", section: "Server", key: "pid_file",
		usage: "Write the process id to this file (for --signal)",
		set:   func(c *Config, v string) error { c.PidFile = v; return nil }},
	{names: []string{"sl", "signal"}, arg: "<signal>[=<pid>]", section: "Server",
		usage: "Send reload, ldm (lame-duck mode) or stop to a running wisp found through -P or pid_file, then exit",
		meta: func(st *flagState, v string) error {
			name, _, _ := strings.Cut(v, "=")
			switch name {
			case "reload", "ldm", "stop", "quit", "term":
				st.signal = v
				return nil
			}
			return fmt.Errorf("unknown signal %q (want reload, ldm or stop)", v)
		}},

	{names: []string{"auth"}, arg: "<token>", section: "Authorization", key: "authorization.token", auth: authToken,
		usage: "Token clients must present",
		set:   func(c *Config, v string) error { c.Server.AuthToken = v; return nil }},
	{names: []string{"user"}, arg: "<user>", section: "Authorization", key: "authorization.user", auth: authUserPass,
		usage: "User name clients must present",
		set:   func(c *Config, v string) error { c.Server.Username = v; return nil }},
	{names: []string{"pass"}, arg: "<password>", section: "Authorization", key: "authorization.password", auth: authUserPass,
		usage: "Password for --user (plain text or a bcrypt hash from 'wisp passwd')",
		set:   func(c *Config, v string) error { c.Server.Password = v; return nil }},

	{names: []string{"tls"}, section: "TLS", key: "tls",
		usage: "Require TLS on client connections (needs --tlscert and --tlskey)",
		set: func(c *Config, v string) error {
			on, err := boolArg(v)
			if err != nil {
				return err
			}
			if !on {
				c.Server.TLS = nil
			} else {
				tlsOf(c)
			}
			return nil
		}},
	{names: []string{"tlscert"}, arg: "<file>", section: "TLS", key: "tls.cert_file",
		usage: "Server certificate chain (PEM); turns TLS on",
		set:   func(c *Config, v string) error { tlsOf(c).CertFile = v; return nil }},
	{names: []string{"tlskey"}, arg: "<file>", section: "TLS", key: "tls.key_file",
		usage: "Server private key (PEM); turns TLS on",
		set:   func(c *Config, v string) error { tlsOf(c).KeyFile = v; return nil }},
	{names: []string{"tlscacert"}, arg: "<file>", section: "TLS", key: "tls.ca_file",
		usage: "CA certificates (PEM) that client certificates must chain to",
		set:   func(c *Config, v string) error { tlsOf(c).CAFile = v; return nil }},
	{names: []string{"tlsverify"}, section: "TLS", key: "tls.verify",
		usage: "Require and verify client certificates; turns TLS on",
		set: func(c *Config, v string) (err error) {
			on, err := boolArg(v)
			tlsOf(c).Verify = on
			return err
		}},

	{names: []string{"js", "jetstream"}, section: "Stream layer", key: "jetstream.enabled",
		usage: "Enable the stream layer: streams and consumers on the JetStream API (docs/streams.md)",
		set:   func(c *Config, v string) (err error) { c.JetStream, err = boolArg(v); return err }},
	{names: []string{"sd", "store_dir"}, arg: "<dir>", section: "Stream layer", key: "jetstream.store_dir",
		usage: "Directory for stream data (default " + DefaultStoreDir + ")",
		set:   func(c *Config, v string) error { c.StoreDir = v; return nil }},

	clusterFlags[0], clusterFlags[1], clusterFlags[2], clusterFlags[3], clusterFlags[4],

	{names: []string{"max_payload"}, arg: "<size>", section: "Limits", key: "max_payload",
		usage: `Largest message payload, e.g. 1048576 or "1MB" (default 1MB)`,
		set: func(c *Config, v string) error {
			n, err := parseSize(v)
			c.Server.MaxPayload = int(n)
			return err
		}},
	{names: []string{"max_connections"}, arg: "<n>", section: "Limits", key: "max_connections",
		usage: "Most client connections at once (default 65536)",
		set: func(c *Config, v string) (err error) {
			c.Server.MaxConnections, err = strconv.Atoi(v)
			if err != nil {
				err = errors.New("expected an integer")
			}
			return err
		}},
	{names: []string{"max_pending"}, arg: "<size>", section: "Limits", key: "max_pending",
		usage: "Outbound bytes buffered per connection before it counts as a slow consumer (default 64MB)",
		set: func(c *Config, v string) (err error) {
			c.Server.MaxPending, err = parseSize(v)
			return err
		}},
	{names: []string{"write_deadline"}, arg: "<duration>", section: "Limits", key: "write_deadline",
		usage: `Longest a write to a client may block, e.g. "10s" (default 10s)`,
		set: func(c *Config, v string) (err error) {
			c.Server.WriteDeadline, err = parseDuration(v)
			return err
		}},
	{names: []string{"ping_interval"}, arg: "<duration>", section: "Limits", key: "ping_interval",
		usage: `Time between server PINGs, e.g. "2m" (default 2m)`,
		set: func(c *Config, v string) (err error) {
			c.Server.PingInterval, err = parseDuration(v)
			return err
		}},
	{names: []string{"ping_max"}, arg: "<n>", section: "Limits", key: "ping_max",
		usage: "Unanswered PINGs before a client is closed as stale (default 2)",
		set: func(c *Config, v string) (err error) {
			c.Server.MaxPingsOut, err = strconv.Atoi(v)
			if err != nil {
				err = errors.New("expected an integer")
			}
			return err
		}},

	{names: []string{"D", "debug"}, section: "Logging", key: "debug",
		usage: "Log debug messages",
		set:   func(c *Config, v string) (err error) { c.Server.Debug, err = boolArg(v); return err }},
	{names: []string{"V", "trace"}, section: "Logging", key: "trace",
		usage: "Log every protocol line (slow; implies debug-level logging)",
		set:   func(c *Config, v string) (err error) { c.Server.Trace, err = boolArg(v); return err }},
	{names: []string{"DV"}, section: "Logging",
		usage: "Debug and trace",
		set: func(c *Config, v string) (err error) {
			c.Server.Debug, err = boolArg(v)
			c.Server.Trace = c.Server.Debug
			return err
		}},

	{names: []string{"v", "version"}, section: "Other",
		usage: "Print Wisp's version and commit, and the nats-server version it advertises, then exit",
		meta: func(st *flagState, v string) (err error) {
			st.version, err = boolArg(v)
			return err
		}},
	{names: []string{"h", "help"}, section: "Other",
		usage: "Print this help and exit",
		meta: func(st *flagState, v string) (err error) {
			st.help, err = boolArg(v)
			return err
		}},
}

// tlsOf returns the config's TLS settings, turning TLS on if it was off.
func tlsOf(c *Config) *server.TLSOptions {
	if c.Server.TLS == nil {
		c.Server.TLS = &server.TLSOptions{}
	}
	return c.Server.TLS
}

// flagValue adapts a flagDef to flag.Value.
type flagValue struct {
	def *flagDef
	st  *flagState
}

func (v *flagValue) String() string   { return "" }
func (v *flagValue) IsBoolFlag() bool { return v.def.arg == "" }

func (v *flagValue) Set(s string) error {
	if v.def.meta != nil {
		return v.def.meta(v.st, s)
	}
	if err := v.def.set(DefaultConfig(), s); err != nil {
		return err
	}
	v.st.pending = append(v.st.pending, pendingFlag{v.def, s})
	return nil
}

// parseFlags reads the command line. It does not touch any Config: the
// values are kept in order and applied after the config file.
func parseFlags(args []string) (*flagState, error) {
	st := &flagState{}
	fs := flag.NewFlagSet("wisp", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned; --help prints Usage
	fs.Usage = func() {}
	for _, d := range flagDefs {
		for _, n := range d.names {
			fs.Var(&flagValue{def: d, st: st}, n, d.usage)
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%v (see wisp --help)", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (see wisp --help)", fs.Arg(0))
	}
	return st, nil
}

// apply sets the flags' values on c, after the file. A flag choosing an
// authentication style first removes the file's settings of the other style.
func (st *flagState) apply(c *Config) {
	var styles [3]bool
	for _, p := range st.pending {
		styles[p.def.auth] = true
	}
	if styles[authToken] || styles[authUserPass] {
		c.Server.Users = nil
		if !styles[authToken] {
			c.Server.AuthToken = ""
		}
		if !styles[authUserPass] {
			c.Server.Username, c.Server.Password = "", ""
		}
	}
	for _, p := range st.pending {
		// Cannot fail: Set already ran the same function on the same value.
		_ = p.def.set(c, p.value)
	}
}

// setsKey reports whether a flag on the command line set the given file key.
func (st *flagState) setsKey(key string) bool {
	for _, p := range st.pending {
		if p.def.key == key {
			return true
		}
	}
	return false
}

// Usage writes the command-line help.
func Usage(w io.Writer) {
	var b strings.Builder
	b.WriteString(`Usage: wisp [options]                  run the server
       wisp passwd [--password <pw>]   print a bcrypt hash of a password for the config file
       wisp bench [options]            load generator and comparison with other servers (docs/bench.md)
       wisp store verify [-sd <dir>]   check a stopped server's stream store (docs/operations.md)
`)
	section := ""
	for _, d := range flagDefs {
		if d.section != section {
			section = d.section
			fmt.Fprintf(&b, "\n%s options:\n", section)
		}
		left := strings.Join(d.dashedNames(), ", ")
		if d.arg != "" {
			left += " " + d.arg
		}
		fmt.Fprintf(&b, "  %-36s %s\n", left, d.usage)
	}
	b.WriteString("\nFlags override the config file. Sizes take units (\"1MB\" = 1 MiB); durations take\n" +
		"units (\"10s\", \"2m\") or are whole seconds.\n")
	io.WriteString(w, b.String())
}

// SettingFor names the flags and the config-file key that set key, for
// messages that tell the user what to change, e.g. for "http_port":
// `-m/--http_port or http_port in the config file`.
func SettingFor(key string) string {
	for _, d := range flagDefs {
		if d.key != key {
			continue
		}
		return strings.Join(d.dashedNames(), "/") + " or " + key + " in the config file"
	}
	return key + " in the config file"
}

// dashedNames are the flag's names as typed: one dash for the short ones.
func (d *flagDef) dashedNames() []string {
	var names []string
	for _, n := range d.names {
		dash := "--"
		if len(n) <= 2 {
			dash = "-"
		}
		names = append(names, dash+n)
	}
	return names
}

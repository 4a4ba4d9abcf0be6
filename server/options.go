package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/wisp-mq/wisp/subjectmap"
)

// User is one account holder allowed to connect. Password is either plain
// text or a bcrypt hash (starting with "$2"), compared in constant time.
type User struct {
	Username string `toml:"user"`
	Password string `toml:"password"`
	// Permissions limit what the user may publish and subscribe to; nil
	// allows everything.
	Permissions *Permissions `toml:"-"`
}

// Options configures a Server. Zero values mean "use the default": call
// DefaultOptions for a filled-in copy and Validate before use.
type Options struct {
	ServerName string // defaults to the server id
	Host       string // listen address, default 0.0.0.0
	Port       int    // client port, default 4222; -1 picks a free port
	HTTPHost   string // monitoring address, default same as Host
	HTTPPort   int    // monitoring port, 0 = off; -1 picks a free port
	ProfPort   int    // pprof port on HTTPHost (profile.go), 0 = off; -1 picks a free port
	// HTTPTLS, when set, serves the monitoring port (and console) over HTTPS.
	HTTPTLS *TLSOptions
	// Console says who may log in to the web console and act there
	// (console_options.go).
	Console ConsoleOptions

	// Authentication: a token, one user/password pair, or a list of users.
	// Only one style may be set.
	AuthToken   string
	Username    string
	Password    string
	Users       []User
	AuthTimeout time.Duration // default 2s

	// Accounts are isolated subject spaces with their own users (see
	// account.go). Users above belong to the global account.
	Accounts []AccountConfig

	// SystemAccount names the account (one of Accounts) whose users reach
	// the $SYS subjects: the server's requests and events (system.go).
	// Empty: a built-in "$SYS" account that only in-process users reach.
	SystemAccount string

	// Mappings rewrite the subjects that clients of the global account
	// publish on (mapping.go); AccountConfig.Mappings for other accounts.
	Mappings []subjectmap.Mapping

	// DefaultPermissions, by account name (GlobalAccount for the users
	// above), apply to that account's users that have no Permissions of
	// their own. A user's own permissions replace them entirely.
	DefaultPermissions map[string]*Permissions

	MaxConnections   int           // default 65536
	MaxSubscriptions int           // per connection, 0 = unlimited
	MaxPayload       int           // default 1 MiB
	MaxControlLine   int           // default 4096
	MaxPending       int64         // outbound bytes per connection, default 64 MiB
	WriteDeadline    time.Duration // default 10s
	PingInterval     time.Duration // default 2m
	MaxPingsOut      int           // default 2

	// Lame-duck mode (see LameDuck): the whole time it takes, and the wait
	// before it starts closing connections. Defaults 2m and 10s.
	LameDuckDuration    time.Duration
	LameDuckGracePeriod time.Duration

	// TLS, when set, requires TLS on every client connection.
	TLS *TLSOptions

	// Cluster joins this server to others (routes); off unless its Port is set.
	Cluster ClusterOptions

	// Websocket opens a WebSocket port for clients; off unless its Port
	// is set (websocket_options.go).
	Websocket WebsocketOptions

	// JetStream is reported in INFO; the stream layer itself is wired by
	// the caller (cmd/wisp) through the Publish/Subscribe methods.
	JetStream bool

	Debug bool // log debug messages
	Trace bool // log every protocol line (slow; for troubleshooting)
}

// Defaults, matching nats-server's where the two overlap.
const (
	DefaultPort           = 4222
	DefaultHTTPPort       = 8222
	DefaultMaxPayload     = 1 << 20
	DefaultMaxControlLine = 4096
	DefaultMaxPending     = 64 << 20
	DefaultMaxConnections = 64 * 1024
	DefaultWriteDeadline  = 10 * time.Second
	DefaultPingInterval   = 2 * time.Minute
	DefaultMaxPingsOut    = 2
	DefaultAuthTimeout    = 2 * time.Second
)

// DefaultOptions returns options with every default filled in.
func DefaultOptions() *Options {
	o := &Options{}
	o.setDefaults()
	return o
}

func (o *Options) setDefaults() {
	if o.Host == "" {
		o.Host = "0.0.0.0"
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.HTTPHost == "" {
		o.HTTPHost = o.Host
	}
	if o.AuthTimeout == 0 {
		o.AuthTimeout = DefaultAuthTimeout
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.MaxPayload == 0 {
		o.MaxPayload = DefaultMaxPayload
	}
	if o.MaxControlLine == 0 {
		o.MaxControlLine = DefaultMaxControlLine
	}
	if o.MaxPending == 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.WriteDeadline == 0 {
		o.WriteDeadline = DefaultWriteDeadline
	}
	if o.PingInterval == 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.MaxPingsOut == 0 {
		o.MaxPingsOut = DefaultMaxPingsOut
	}
	if o.LameDuckDuration == 0 {
		o.LameDuckDuration = DefaultLameDuckDuration
	}
	if o.LameDuckGracePeriod == 0 {
		o.LameDuckGracePeriod = DefaultLameDuckGracePeriod
	}
	o.Cluster.setDefaults(o)
	o.Websocket.setDefaults(o)
}

// Validate fills in defaults and rejects settings that cannot work, naming
// the setting and the reason.
func (o *Options) Validate() error {
	o.setDefaults()
	var errs []error
	bad := func(name string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	if o.Port < -1 || o.Port > 65535 {
		bad("port", "%d is not a TCP port (0-65535, or -1 for any free port)", o.Port)
	}
	if o.HTTPPort < -1 || o.HTTPPort > 65535 {
		bad("http_port", "%d is not a TCP port", o.HTTPPort)
	}
	if o.ProfPort < -1 || o.ProfPort > 65535 {
		bad("prof_port", "%d is not a TCP port", o.ProfPort)
	}
	styles := 0
	if o.AuthToken != "" {
		styles++
	}
	if o.Username != "" || o.Password != "" {
		styles++
		if o.Username == "" || o.Password == "" {
			bad("user", "user and password must be given together")
		}
	}
	accountUsers := 0
	for _, ac := range o.Accounts {
		accountUsers += len(ac.Users)
	}
	if len(o.Users) > 0 || accountUsers > 0 {
		styles++
	}
	if styles > 1 {
		if accountUsers > 0 && len(o.Users) == 0 && o.AuthToken == "" {
			bad("authorization", "a single user/password cannot be combined with account users; list it under users")
		} else {
			bad("authorization", "choose one of token, user/password, or users")
		}
	}
	seen := map[string]bool{}
	checkUser := func(key string, i int, u User) {
		if u.Username == "" {
			bad(key, "entry %d has no user name", i+1)
		}
		if seen[u.Username] {
			bad(key, "user %q is listed twice", u.Username)
		}
		seen[u.Username] = true
		if u.Permissions != nil {
			u.Permissions.validate(u.Username, bad)
		}
	}
	for i, u := range o.Users {
		checkUser("users", i, u)
	}
	for _, ac := range o.Accounts {
		for i, u := range ac.Users {
			checkUser("accounts", i, u)
		}
	}
	validateAccounts(o, bad)
	validateMappings(o, bad)
	validateSystemAccount(o, bad)
	validateDefaultPermissions(o, bad)
	validateCertMapping(o, bad)
	validateConsole(o, bad)
	if o.MaxConnections < 0 {
		bad("max_connections", "must not be negative")
	}
	if o.MaxSubscriptions < 0 {
		bad("max_subscriptions", "must not be negative")
	}
	if o.MaxPayload < 0 || o.MaxPayload > 64<<20 {
		bad("max_payload", "%d is outside 1 B to 64 MiB", o.MaxPayload)
	}
	if o.MaxControlLine < 0 || o.MaxControlLine < 64 && o.MaxControlLine != 0 {
		bad("max_control_line", "%d is below 64 bytes", o.MaxControlLine)
	}
	if o.MaxPending < int64(o.MaxPayload) {
		bad("max_pending", "%d is below max_payload (%d)", o.MaxPending, o.MaxPayload)
	}
	if o.WriteDeadline < 0 || o.PingInterval < 0 || o.AuthTimeout < 0 {
		bad("timeouts", "durations must not be negative")
	}
	if o.TLS != nil {
		o.TLS.validate(bad)
	}
	if o.LameDuckDuration < 0 || o.LameDuckGracePeriod < 0 {
		bad("lame_duck_duration", "durations must not be negative")
	} else if o.LameDuckGracePeriod > o.LameDuckDuration {
		bad("lame_duck_grace_period", "%v is longer than lame_duck_duration (%v)", o.LameDuckGracePeriod, o.LameDuckDuration)
	}
	if o.MaxPingsOut < 0 {
		bad("ping_max", "must not be negative")
	}
	if !validName(o.ServerName) {
		bad("server_name", "%q must not contain spaces or control characters", o.ServerName)
	}
	o.Cluster.validate(bad)
	o.Websocket.validate(bad)
	return errors.Join(errs...)
}

// AuthRequired reports whether clients must present credentials.
func (o *Options) AuthRequired() bool {
	if o.AuthToken != "" || o.Username != "" || len(o.Users) > 0 {
		return true
	}
	for _, ac := range o.Accounts {
		if len(ac.Users) > 0 {
			return true
		}
	}
	return false
}

package bench

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Config is one invocation of the bench. Zero values mean "the default":
// call DefaultConfig for a filled-in copy and Validate before use.
type Config struct {
	// Scenarios to run, by name; empty means StandardScenarios.
	Scenarios []string

	Msgs     int           // messages (or requests) per scenario
	Size     int           // payload bytes, used as given: 0 is an empty payload (DefaultConfig sets DefaultSize)
	Pubs     int           // publishers (pub) or requesters (reqrep-par); 0 = scenario default
	Subs     int           // subscribers (fanout), members (queue), responders (reqrep-par); 0 = scenario default
	Conns    int           // connections opened by the conn scenario
	Duration time.Duration // time cap per scenario run
	Runs     int           // runs per scenario and target; the report uses the median

	// Server is the URL of the server under test; "" starts an embedded one
	// (or, when Binary is set, a fresh child process per run).
	Server string
	// Binary, when Server is empty, is a server binary started per run
	// instead of the embedded server; cmd/wisp sets it to itself when
	// comparing with another binary, so that both sides are child processes
	// measured the same way.
	Binary string
	// Compare is a second server, a URL or a binary, run alternately with
	// the first.
	Compare string

	// StartEmbedded starts an in-process server on a free loopback port,
	// with the stream layer when jetstream is true. nil means a core-only
	// Wisp server (the js scenarios then report that streams are missing).
	StartEmbedded func(jetstream bool) (url string, stop func(), err error)
	// StartEmbeddedMQTT starts an in-process server with the stream layer
	// and an MQTT listener on free loopback ports, for the MQTT scenarios:
	// natsURL is its NATS client URL, mqttURL its MQTT one (tcp://host:port).
	// nil means the embedded target cannot run them.
	StartEmbeddedMQTT func() (natsURL, mqttURL string, stop func(), err error)
	// Sync is the durability rule of the Wisp under test's file streams:
	// "" for Wisp's default (always), SyncAlways or SyncInterval. It is
	// Wisp's alone: a compared server keeps its own. cmd/wisp passes it to
	// the embedded server through its hooks; a started wisp binary gets it
	// in its config file.
	Sync string
	// CompareSync is the sync_interval of a compared nats-server binary
	// ("" for its default, which acknowledges before the fsync):
	// SyncAlways starts it with jetstream { sync_interval: always }, an
	// fsync on every write. It applies to the replicated-stream
	// scenarios, whose cluster is started with a config file.
	CompareSync string

	// Progress receives the live status line (scenario k of n, the
	// current phase, elapsed, time left), rewritten in place with "\r";
	// nil means none. The caller sets it only when stdout is a terminal.
	Progress io.Writer
	// Log receives one line per finished run; nil means none.
	Log io.Writer
}

// Defaults. The message count and the time cap are chosen so the standard
// set finishes in a minute or two on a small machine.
const (
	DefaultMsgs     = 200_000
	DefaultSize     = 128
	DefaultConns    = 1000
	DefaultDuration = 10 * time.Second
	DefaultRuns     = 1

	defaultPubs       = 1 // pub
	defaultRequesters = 8 // reqrep-par
	defaultSubs       = 4 // fanout, queue, reqrep-par responders

	// WildcardSubs is the number of wildcard subscriptions of the wildcard
	// scenario.
	WildcardSubs = 1000
	// maxSize bounds --size below the usual 1 MiB max_payload.
	maxSize = 1 << 20
	// maxClients bounds --pubs and --subs: each is a connection and a goroutine.
	maxClients = 1000
	// maxMsgs bounds --msgs, maxConns bounds --conns.
	maxMsgs  = 1_000_000_000
	maxConns = 10_000
)

// The values of Config.Sync, as in Wisp's [jetstream] sync.
const (
	SyncAlways   = "always"
	SyncInterval = "interval"
)

// ErrUsage marks configuration errors: the caller should print them and
// exit with a usage status.
var ErrUsage = errors.New("usage")

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() *Config {
	c := &Config{Size: DefaultSize}
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.Msgs == 0 {
		c.Msgs = DefaultMsgs
	}
	if c.Conns == 0 {
		c.Conns = DefaultConns
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Runs == 0 {
		c.Runs = DefaultRuns
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = append([]string(nil), StandardScenarios...)
	}
}

// Validate fills in defaults (except Size) and rejects values that cannot work, one
// reason per problem, each wrapping ErrUsage.
func (c *Config) Validate() error {
	c.setDefaults()
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrUsage, name, fmt.Sprintf(format, args...)))
	}
	for _, name := range c.Scenarios {
		if lookup(name) == nil {
			bad("scenario", "unknown scenario %q (known: %s)", name, strings.Join(ScenarioNames(), ", "))
		}
	}
	if c.Msgs < 1 || c.Msgs > maxMsgs {
		bad("--msgs", "%d is outside 1 to %d", c.Msgs, maxMsgs)
	}
	if c.Size < 0 || c.Size > maxSize {
		bad("--size", "%d is outside 0 to %d bytes", c.Size, maxSize)
	}
	if c.Pubs < 0 || c.Pubs > maxClients {
		bad("--pubs", "%d is outside 1 to %d", c.Pubs, maxClients)
	}
	if c.Subs < 0 || c.Subs > maxClients {
		bad("--subs", "%d is outside 1 to %d", c.Subs, maxClients)
	}
	if c.Conns < 1 || c.Conns > maxConns {
		bad("--conns", "%d is outside 1 to %d", c.Conns, maxConns)
	}
	if c.Duration < 100*time.Millisecond || c.Duration > time.Hour {
		bad("--duration", "%v is outside 100ms to 1h", c.Duration)
	}
	if c.Runs < 1 || c.Runs > 100 {
		bad("--runs", "%d is outside 1 to 100", c.Runs)
	}
	if c.Server != "" && !isURL(c.Server) {
		bad("--server", "%q is not a URL (nats://host:port)", c.Server)
	}
	if c.Sync != "" && c.Sync != SyncAlways && c.Sync != SyncInterval {
		bad("--sync", "%q is not %q or %q", c.Sync, SyncAlways, SyncInterval)
	}
	if c.Sync != "" && c.Server != "" {
		bad("--sync", "sets the rule of a server the bench starts, not of one reached by --server")
	}
	if c.CompareSync != "" && c.CompareSync != SyncAlways {
		bad("--compare-sync", "%q is not %q", c.CompareSync, SyncAlways)
	}
	if c.CompareSync != "" && (c.Compare == "" || isURL(c.Compare)) {
		bad("--compare-sync", "sets the rule of a compared server binary the bench starts (--compare BINARY)")
	}
	if c.Server != "" && c.Binary != "" {
		bad("--server", "give a URL or a binary for the server under test, not both")
	}
	return errors.Join(errs...)
}

// isURL tells a server URL from a binary path: URLs name a scheme.
func isURL(s string) bool {
	return strings.Contains(s, "://")
}

// pubs returns the number of publishers or requesters for a scenario.
func (c *Config) pubs(def int) int {
	if c.Pubs > 0 {
		return c.Pubs
	}
	return def
}

// subs returns the number of subscribers for a scenario.
func (c *Config) subs() int {
	if c.Subs > 0 {
		return c.Subs
	}
	return defaultSubs
}

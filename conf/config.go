// Package conf turns wisp's command line and its TOML config file into a
// Config: the server's Options plus the settings of the layers cmd/wisp wires
// around the server (the stream layer).
//
// Names follow nats-server wherever the two overlap, both for flags (-a, -p,
// -m, --user, -js, -sd, -D, -V, ...) and for file keys (host, port,
// authorization { user, password }, max_payload, write_deadline, ...), so that
// scripts and config files move over with few changes. Flags override the
// file, and only flags actually given do.
//
// Every mistake is an error, never a silent default: unknown keys and bad
// values are reported with the file, the line and the key
// ("wisp.conf:12: unknown key "max_paylod""), and the result is checked with
// server.Options.Validate before Load returns.
//
// conf only reads: it never opens sockets, starts goroutines or writes files.
package conf

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/wisp-mq/wisp/server"
)

// Config is everything cmd/wisp needs to start.
type Config struct {
	// Server holds the core server's settings. Zero values mean "the
	// server's default"; Load has already run Validate, which fills them in.
	Server server.Options

	// JetStream turns the stream layer on (-js, [jetstream] enabled).
	JetStream bool
	// StoreDir is where the stream layer keeps its data (-sd,
	// [jetstream] store_dir).
	StoreDir string
	// Sync is the durability rule for file streams ([jetstream] sync):
	// "always" fsyncs before every acknowledgement; "interval" acknowledges
	// once the write reaches the operating system and fsyncs every
	// SyncInterval ([jetstream] sync_interval, default 1s).
	Sync         string
	SyncInterval time.Duration
	// MaxFileStore and MaxMemoryStore cap the bytes of file and memory
	// streams of all accounts together ([jetstream] max_file_store,
	// max_memory_store, nats-server's names); 0 means no limit.
	MaxFileStore   int64
	MaxMemoryStore int64
	// AccountStoreLimits are per-account caps ([accounts.NAME.jetstream]
	// max_file_store, max_memory_store), by account name.
	AccountStoreLimits map[string]StoreLimits
	// OnDamage is what the stream layer does with a file stream whose
	// store holds less than was acknowledged ([jetstream] on_damage):
	// "serve" what survived, recording the loss, or "refuse" to serve it
	// until the operator acts. Either way the loss is logged and counted.
	OnDamage string

	// MQTT is the MQTT listener ([mqtt]); nil when off.
	MQTT *MQTT

	// File is the config file that was loaded, or "" if none was given.
	File string

	// PidFile is where the running server writes its process id (-P,
	// pid_file), so that "wisp --signal" can find it. "" for none.
	PidFile string

	// Signal is set by --signal: instead of running a server, send this
	// signal ("reload", "ldm", "stop"; optionally "=pid") to the running one.
	Signal string
}

// StoreLimits are one account's byte caps; 0 means no limit.
type StoreLimits struct {
	MaxFileStore   int64
	MaxMemoryStore int64
}

// The durability rules for file streams.
const (
	SyncAlways   = "always"
	SyncInterval = "interval"
	// DefaultSyncInterval is how often "interval" fsyncs.
	DefaultSyncInterval = time.Second
)

// What to do with a damaged file stream ([jetstream] on_damage).
const (
	DamageServe  = "serve"
	DamageRefuse = "refuse"
)

// DefaultStoreDir is where stream data goes unless -sd or store_dir says
// otherwise.
const DefaultStoreDir = "./data"

// DefaultConfig returns the settings used when neither flags nor a file say
// otherwise: the stream layer off, data under DefaultStoreDir. The server's
// own defaults live in the server package (server.DefaultOptions); they are
// left as zero values here and filled in by Options.Validate, so that, for
// example, the monitoring host follows a host given later by a flag.
func DefaultConfig() *Config {
	return &Config{
		JetStream:    false,
		StoreDir:     DefaultStoreDir,
		Sync:         SyncAlways,
		SyncInterval: DefaultSyncInterval,
		OnDamage:     DamageServe,
	}
}

// Sentinel errors that are not failures: the caller should exit with status 0.
var (
	// ErrHelp is returned after --help printed the usage text.
	ErrHelp = errors.New("help requested")
	// ErrVersion is returned for --version; the caller, which knows its
	// version, prints it.
	ErrVersion = errors.New("version requested")
)

// Load parses the command line (without the program name) and the config
// file it names with -c, applies the flags over the file, and validates the
// result. --help prints the usage text to stdout and returns ErrHelp.
func Load(args []string) (*Config, error) {
	return load(args, os.Stdout)
}

func load(args []string, stdout io.Writer) (*Config, error) {
	st, err := parseFlags(args)
	if err != nil {
		return nil, err
	}
	if st.help {
		Usage(stdout)
		return nil, ErrHelp
	}
	if st.version {
		return nil, ErrVersion
	}
	cfg := DefaultConfig()
	var file *parsedFile
	if st.configFile != "" {
		data, err := os.ReadFile(st.configFile)
		if err != nil {
			return nil, fmt.Errorf("config file: %w", err)
		}
		if file, err = parseFile(st.configFile, data); err != nil {
			return nil, err
		}
		if err := file.apply(cfg); err != nil {
			return nil, err
		}
		cfg.File = st.configFile
	}
	st.apply(cfg)
	cfg.Signal = st.signal
	if err := cfg.validate(); err != nil {
		return nil, attribute(err, file, st)
	}
	return cfg, nil
}

// LoadFile reads only a config file, with no flags: what tests and tools
// that check a file need. name is used in error messages.
func LoadFile(name string, data []byte) (*Config, error) {
	cfg := DefaultConfig()
	file, err := parseFile(name, data)
	if err != nil {
		return nil, err
	}
	if err := file.apply(cfg); err != nil {
		return nil, err
	}
	cfg.File = name
	if err := cfg.validate(); err != nil {
		return nil, attribute(err, file, &flagState{})
	}
	return cfg, nil
}

// validate checks the server's options and conf's own settings. Each
// failure is a separate error of the form "key: reason".
func (c *Config) validate() error {
	var errs []error
	if err := c.Server.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.JetStream && strings.TrimSpace(c.StoreDir) == "" {
		errs = append(errs, errors.New("jetstream.store_dir: must not be empty when the stream layer is on"))
	}
	if c.Sync != SyncAlways && c.Sync != SyncInterval {
		errs = append(errs, fmt.Errorf("jetstream.sync: %q is not %q or %q", c.Sync, SyncAlways, SyncInterval))
	}
	if c.OnDamage != DamageServe && c.OnDamage != DamageRefuse {
		errs = append(errs, fmt.Errorf("jetstream.on_damage: %q is not %q or %q", c.OnDamage, DamageServe, DamageRefuse))
	}
	if c.SyncInterval < 0 {
		errs = append(errs, errors.New("jetstream.sync_interval: must not be negative"))
	}
	if c.MaxFileStore < 0 {
		errs = append(errs, errors.New("jetstream.max_file_store: must not be negative"))
	}
	if c.MaxMemoryStore < 0 {
		errs = append(errs, errors.New("jetstream.max_memory_store: must not be negative"))
	}
	for name, l := range c.AccountStoreLimits {
		if l.MaxFileStore < 0 {
			errs = append(errs, fmt.Errorf("accounts.%s.jetstream.max_file_store: must not be negative", name))
		}
		if l.MaxMemoryStore < 0 {
			errs = append(errs, fmt.Errorf("accounts.%s.jetstream.max_memory_store: must not be negative", name))
		}
		if name == c.Server.SystemAccount {
			errs = append(errs, fmt.Errorf("accounts.%s.jetstream: the system account has no streams", name))
		}
	}
	errs = append(errs, c.validateMQTT()...)
	return errors.Join(errs...)
}

// validateKeys maps the names Options.Validate uses to file keys.
var validateKeys = map[string]string{
	"lame_duck_duration":     "lame_duck_duration",
	"lame_duck_grace_period": "lame_duck_grace_period",
	"user":                   "authorization.user",
	"users":                  "authorization.users",
	"permissions":            "authorization.users",
	"default_permissions":    "authorization.default_permissions",
}

// attribute gives each validation error the file, line and key it came
// from, when it came from the file (not from a flag that overrode it).
func attribute(err error, file *parsedFile, st *flagState) error {
	var out []error
	for _, e := range flatten(err) {
		name, reason, ok := strings.Cut(e.Error(), ": ")
		if !ok || file == nil {
			out = append(out, e)
			continue
		}
		key := name
		if k, ok := validateKeys[name]; ok {
			key = k
		}
		if st.setsKey(key) {
			out = append(out, e) // the command line set it
			continue
		}
		if key == "port" && file.md.IsDefined("listen") {
			key = "listen"
		}
		path := toml.Key(strings.Split(key, "."))
		if !file.md.IsDefined(path...) {
			out = append(out, fmt.Errorf("%s: %w", file.name, e))
			continue
		}
		out = append(out, &FileError{File: file.name, Line: file.line(path), Key: key, Err: errors.New(reason)})
	}
	return errors.Join(out...)
}

// flatten undoes errors.Join, one level at a time.
func flatten(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flatten(e)...)
	}
	return out
}

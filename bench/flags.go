package bench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Command is a parsed "wisp bench" command line: the Config plus where the
// report goes.
type Command struct {
	Config   Config
	JSONFile string // --json
	HTMLFile string // --html
	Quiet    bool   // --quiet: no status line, no per-run lines or warnings on stderr
}

// ErrHelp is returned by ParseArgs for -h or --help.
var ErrHelp = flag.ErrHelp

const usageText = `usage: wisp bench [SCENARIO...] [flags]

Runs load scenarios against an embedded Wisp (default), a running server
(--server URL) and, with --compare, a second server run alternately.
No scenario named runs the standard set. Every run checks its own
correctness; a failed check is reported and makes the exit status 1.

Scenarios:
%s
Flags:
  --msgs N          messages (or requests) per scenario (default %d)
  --size BYTES      payload size (default %d)
  --pubs N          publishers (pub, ws-pub, mqtt-pub*, default 1) or requesters
                    (reqrep-par, default 8)
  --subs N          subscribers (fanout), members (queue), responders (reqrep-par); default 4
  --conns N         connections opened by the conn scenario (default %d)
  --duration D      time cap per scenario run, e.g. 10s (default %v)
  --runs N          runs per scenario and server; figures are medians (default %d)
  --server URL      run against this server instead of an embedded one
  --compare X       also run against X, a URL or a server binary (e.g. nats-server);
                    a binary is started per run on a free 127.0.0.1 port with
                    -a 127.0.0.1 -p PORT (and -js -sd DIR for the js scenarios;
                    -c FILE opening a WebSocket or MQTT port for those scenarios),
                    and Wisp then runs as a child process too, measured alike
  --sync RULE       durability rule of Wisp's file streams, always (Wisp's default)
                    or interval (acknowledge before the fsync, as nats-server does);
                    for the js and mqtt scenarios; Wisp's only, a compared server
                    keeps its own, and the report labels Wisp "wisp-interval"
  --compare-sync always
                    start the compared nats-server with jetstream { sync_interval:
                    always } (an fsync on every write, as Wisp's default) for the
                    r3 scenarios; the report labels it "nats-server-sync-always"
  --json FILE       write every figure as JSON
  --html FILE       write a self-contained HTML report with SVG charts
  --quiet           no status line on a terminal, no per-run lines or warnings on
                    stderr (the report still carries the warnings)
`

// Usage writes the help text.
func Usage(w io.Writer) {
	var sc strings.Builder
	for _, s := range scenarios {
		fmt.Fprintf(&sc, "  %-13s %s\n", s.Name, s.Desc)
	}
	fmt.Fprintf(w, usageText, sc.String(), DefaultMsgs, DefaultSize, DefaultConns, DefaultDuration, DefaultRuns)
}

// ParseArgs reads scenario names and flags, in any order, and validates
// the result. Errors wrap ErrUsage (or are ErrHelp) and name the flag.
func ParseArgs(args []string) (*Command, error) {
	cmd := &Command{}
	cfg := &cmd.Config
	fs := flag.NewFlagSet("wisp bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.IntVar(&cfg.Msgs, "msgs", DefaultMsgs, "")
	fs.IntVar(&cfg.Size, "size", DefaultSize, "")
	fs.IntVar(&cfg.Pubs, "pubs", 0, "")
	fs.IntVar(&cfg.Subs, "subs", 0, "")
	fs.IntVar(&cfg.Conns, "conns", DefaultConns, "")
	fs.DurationVar(&cfg.Duration, "duration", DefaultDuration, "")
	fs.IntVar(&cfg.Runs, "runs", DefaultRuns, "")
	fs.StringVar(&cfg.Server, "server", "", "")
	fs.StringVar(&cfg.Compare, "compare", "", "")
	fs.StringVar(&cfg.Sync, "sync", "", "")
	fs.StringVar(&cfg.CompareSync, "compare-sync", "", "")
	fs.StringVar(&cmd.JSONFile, "json", "", "")
	fs.StringVar(&cmd.HTMLFile, "html", "", "")
	fs.BoolVar(&cmd.Quiet, "quiet", false, "")
	// The flag package stops at the first non-flag: take scenario names
	// off the front and carry on, so "pub --msgs 10 reqrep" works.
	for range len(args) + 1 {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, ErrHelp
			}
			msg := strings.Replace(err.Error(), "flag provided but not defined: -", "unknown flag --", 1)
			msg = strings.Replace(msg, " for flag -", " for flag --", 1)
			return nil, fmt.Errorf("%w: %s", ErrUsage, msg)
		}
		args = fs.Args()
		for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			cfg.Scenarios = append(cfg.Scenarios, args[0])
			args = args[1:]
		}
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			cfg.Scenarios = append(cfg.Scenarios, args[1:]...)
			break
		}
	}
	// In Config 0 means "the scenario's default"; given explicitly, it is
	// a mistake.
	var errs []error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "pubs", "subs", "msgs", "conns", "runs":
			if f.Value.String() == "0" {
				errs = append(errs, fmt.Errorf("%w: --%s: must be at least 1", ErrUsage, f.Name))
			}
		case "duration":
			if cfg.Duration <= 0 {
				errs = append(errs, fmt.Errorf("%w: --duration: must be positive", ErrUsage))
			}
		case "server", "compare", "sync", "compare-sync":
			if f.Value.String() == "" {
				errs = append(errs, fmt.Errorf("%w: --%s: empty", ErrUsage, f.Name))
			}
		}
	})
	if err := errors.Join(append(errs, cfg.Validate())...); err != nil {
		return nil, err
	}
	return cmd, nil
}

// UsageMessage strips the ErrUsage prefix from each line of err, for
// printing after a program name.
func UsageMessage(err error) []string {
	var lines []string
	for _, line := range strings.Split(err.Error(), "\n") {
		lines = append(lines, strings.TrimPrefix(line, ErrUsage.Error()+": "))
	}
	return lines
}

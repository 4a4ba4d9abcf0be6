// Command wisp is the Wisp message server: one static binary that speaks the
// NATS client protocol.
//
//	wisp [flags]          run the server (see wisp --help)
//	wisp passwd           print a bcrypt hash of a password for the config file
//	wisp bench [flags]    load generator (in progress)
//
// main only wires parts together: conf reads the settings, server runs the
// protocol, startStreams (jetstream.go) adds the stream layer. It holds no
// protocol logic of its own.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
)

// version is set at build time: go build -ldflags "-X main.version=1.2.3".
var version = "0.1.0-dev"

// shutdownTimeout bounds a graceful shutdown: after it, remaining clients
// are cut off.
const shutdownTimeout = 10 * time.Second

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1 // the server could not start or stop cleanly
	exitUsage  = 2 // bad flags or config
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches on the first argument: a subcommand, or flags for the
// server. It returns the process exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "bench":
			return runBench(args[1:])
		case "passwd":
			return runPasswd(args[1:], stdin, stdout, stderr)
		}
	}
	cfg, err := conf.Load(args)
	switch {
	case errors.Is(err, conf.ErrHelp):
		return exitOK
	case errors.Is(err, conf.ErrVersion):
		fmt.Fprintf(stdout, "wisp %s %s\n", version, runtime.Version())
		return exitOK
	case err != nil:
		printError(stderr, err)
		return exitUsage
	}
	log := newLogger(stderr, cfg)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, stop, cfg, log); err != nil {
		log.Error("wisp stopped", "err", err)
		return exitFailed
	}
	return exitOK
}

// printError writes err one line per problem, so that a config file with
// three mistakes shows three "wisp: file:line: ..." lines.
func printError(w io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(w, "wisp: %s\n", line)
	}
}

// newLogger logs text to w. -D gives debug level; so does -V, since protocol
// trace lines are logged at debug level.
func newLogger(w io.Writer, cfg *conf.Config) *slog.Logger {
	level := slog.LevelInfo
	if cfg.Server.Debug || cfg.Server.Trace {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// serve starts the server (and the stream layer, if asked), waits for ctx
// to end, then shuts down gracefully. stopSignals is called once shutdown
// begins, so that a second Ctrl-C kills the process at once.
func serve(ctx context.Context, stopSignals func(), cfg *conf.Config, log *slog.Logger) error {
	// INFO reports the binary's version, stamped in at build time.
	server.Version = version
	opts := cfg.Server
	// INFO advertises jetstream when the stream layer is asked for; if it
	// then fails to start, the server is shut down below.
	opts.JetStream = cfg.JetStream
	srv, err := server.New(&opts, log)
	if err != nil {
		return fmt.Errorf("creating server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("starting server: %w", err)
	}
	log.Info("wisp started", "version", version, "url", srv.ClientURL(), "config", cfg.File)

	stopStreams := func() {}
	if cfg.JetStream {
		stop, err := startStreams(cfg, srv, log)
		if err != nil {
			shutdown(srv, log)
			return fmt.Errorf("stream layer: %w", err)
		}
		if stop != nil {
			stopStreams = stop
		}
	}

	<-ctx.Done()
	stopSignals()
	log.Info("shutting down", "timeout", shutdownTimeout)
	err = shutdown(srv, log)
	// Streams stop after the server: no client can publish into a stream
	// that is closing.
	stopStreams()
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("wisp stopped")
	return nil
}

func shutdown(srv *server.Server, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(ctx)
	if err != nil {
		log.Warn("shutdown was not clean", "err", err)
	}
	return err
}

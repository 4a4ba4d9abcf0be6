// Command wisp is the Wisp message server: one static binary that speaks the
// NATS client protocol.
//
//	wisp [flags]          run the server (see wisp --help)
//	wisp passwd           print a bcrypt hash of a password for the config file
//	wisp bench [flags]    load generator and comparison with other servers
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
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
)

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
		case "store":
			return runStore(args[1:], stdout, stderr)
		}
	}
	cfg, err := conf.Load(args)
	switch {
	case errors.Is(err, conf.ErrHelp):
		return exitOK
	case errors.Is(err, conf.ErrVersion):
		fmt.Fprint(stdout, versionLine())
		return exitOK
	case err != nil:
		printError(stderr, err)
		return exitUsage
	}
	if cfg.Signal != "" {
		if err := sendSignal(cfg); err != nil {
			printError(stderr, err)
			return exitFailed
		}
		return exitOK
	}
	level := new(slog.LevelVar)
	level.Set(logLevel(cfg))
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A reload reads the same command line again: the new file, with the
	// same flags over it.
	reload := func() (*conf.Config, error) { return conf.Load(args) }
	if err := serve(ctx, stop, cfg, log, level, reload); err != nil {
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

// logLevel is the level for cfg: -D gives debug level; so does -V, since
// protocol trace lines are logged at debug level. A reload may change it.
func logLevel(cfg *conf.Config) slog.Level {
	if cfg.Server.Debug || cfg.Server.Trace {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// serve starts the server (and the stream layer, if asked), waits for ctx
// to end, then shuts down gracefully. stopSignals is called once shutdown
// begins, so that a second Ctrl-C kills the process at once. Meanwhile
// SIGHUP reloads the configuration (reread by reload) and SIGUSR2 starts
// lame-duck mode, after which serve returns.
func serve(ctx context.Context, stopSignals func(), cfg *conf.Config, log *slog.Logger, level *slog.LevelVar, reload func() (*conf.Config, error)) error {
	stampVersion()
	if err := checkReplication(cfg); err != nil {
		return err
	}
	opts := cfg.Server
	// INFO advertises jetstream when the stream layer is asked for; if it
	// then fails to start, the server is shut down below.
	opts.JetStream = cfg.JetStream
	srv, err := server.New(&opts, log)
	if err != nil {
		return fmt.Errorf("creating server: %w", err)
	}
	// The stream layer recovers and subscribes before the server accepts
	// anyone, so no client sees "no responders" from a stream that is
	// still loading.
	stopStreams := func() {}
	var layers *streamLayers
	if cfg.JetStream {
		layers, err = startStreams(cfg, srv, log)
		if err != nil {
			return fmt.Errorf("stream layer: %w", err)
		}
		stopStreams = layers.close
	}
	if err := srv.Start(); err != nil {
		stopStreams()
		return startError(err)
	}
	if clustered(cfg) {
		node, err := startReplication(cfg, srv, layers, log)
		if err != nil {
			shutdown(srv, log)
			stopStreams()
			return fmt.Errorf("replication: %w", err)
		}
		// The node stops before the stream layer and after the server.
		inner := stopStreams
		stopStreams = func() {
			srv.SetMetaLeaderStepDown(nil)
			srv.SetServerRemove(nil)
			layers.meta.Store(nil)
			if err := node.Close(); err != nil {
				log.Error("closing replication", "err", err)
			}
			inner()
		}
	}
	// MQTT clients go first when stopping: their sessions live in the
	// streams, which they still use while they close.
	stopMQTT := func() {}
	if cfg.MQTT != nil {
		mq, err := startMQTT(cfg, srv, log)
		if err != nil {
			shutdown(srv, log)
			stopStreams()
			return err
		}
		stopMQTT = mq.Close
	}
	log.Info("wisp started", startedFields(srv, cfg)...)

	if cfg.PidFile != "" {
		if err := os.WriteFile(cfg.PidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			shutdown(srv, log)
			stopStreams()
			return fmt.Errorf("pid file: %w", err)
		}
		defer os.Remove(cfg.PidFile)
	}

	hup := make(chan os.Signal, 1)
	ldm := make(chan os.Signal, 1)
	signal.Notify(hup, reloadSignal)
	signal.Notify(ldm, ldmSignal)
	defer signal.Stop(hup)
	defer signal.Stop(ldm)
	// $SYS.REQ.SERVER.<id>.RELOAD reloads as SIGHUP does, on this
	// goroutine, which owns cfg.
	reloads, served := make(chan chan error), make(chan struct{})
	defer close(served)
	srv.SetReloader(func() error {
		done := make(chan error, 1)
		select {
		case reloads <- done:
			return <-done
		case <-served:
			return errors.New("the server is stopping")
		}
	})
	for {
		select {
		case <-hup:
			_ = reloadConfig(srv, layers, cfg, reload, level, log)
			continue
		case done := <-reloads:
			done <- reloadConfig(srv, layers, cfg, reload, level, log)
			continue
		case <-ldm:
			stopMQTT()
			err = srv.LameDuck(ctx)
			stopSignals()
			stopStreams()
			if err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("lame-duck mode: %w", err)
			}
			log.Info("wisp stopped after lame-duck mode")
			return nil
		case <-ctx.Done():
		}
		break
	}
	stopSignals()
	stopMQTT()
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

// reloadConfig rereads the configuration and puts it in force. A config
// that does not load, or that changes what only a restart can change, is
// rejected with the reason logged, and the old one stays. Accounts added
// or removed get their stream layers started or closed (layers is nil when
// streams are off). The error is why the reload was rejected.
func reloadConfig(srv *server.Server, layers *streamLayers, cur *conf.Config, reload func() (*conf.Config, error), level *slog.LevelVar, log *slog.Logger) error {
	log.Info("reloading configuration", "config", cur.File)
	next, err := reload()
	if err == nil {
		err = checkStatic(cur, next)
	}
	if err == nil {
		opts := next.Server
		opts.JetStream = next.JetStream
		err = srv.Reload(&opts)
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			log.Error("configuration reload rejected; the old one stays in force", "reason", line)
		}
		return err
	}
	level.Set(logLevel(next))
	*cur = *next
	if layers != nil {
		layers.setLimits(next)
		if err := layers.reconcile(next.Server.Accounts); err != nil {
			log.Error("starting the stream layer of an added account", "err", err)
		}
	}
	return nil
}

// checkStatic refuses changes to cmd/wisp's own settings that need a
// restart (the server checks its own).
func checkStatic(cur, next *conf.Config) error {
	var errs []error
	if cur.StoreDir != next.StoreDir {
		errs = append(errs, fmt.Errorf("store_dir: %w (was %q, now %q)", server.ErrNotReloadable, cur.StoreDir, next.StoreDir))
	}
	if cur.PidFile != next.PidFile {
		errs = append(errs, fmt.Errorf("pid_file: %w (was %q, now %q)", server.ErrNotReloadable, cur.PidFile, next.PidFile))
	}
	if cur.JetStream && (cur.Sync != next.Sync || cur.SyncInterval != next.SyncInterval) {
		errs = append(errs, fmt.Errorf("jetstream.sync: %w (was %s every %v, now %s every %v)", server.ErrNotReloadable,
			cur.Sync, cur.SyncInterval, next.Sync, next.SyncInterval))
	}
	// The MQTT listener and its settings are read once, at start.
	if !reflect.DeepEqual(cur.MQTT, next.MQTT) {
		errs = append(errs, fmt.Errorf("mqtt: %w (restart to change the [mqtt] settings)", server.ErrNotReloadable))
	}
	return errors.Join(errs...)
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

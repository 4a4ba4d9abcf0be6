package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/wisp-mq/wisp/bench"
	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
)

// runBench runs "wisp bench ...", the load generator, and returns the exit
// status: 0 when every run passed its checks, 1 when one failed or the
// bench could not run, 2 for bad flags.
func runBench(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The progress line is only for a terminal: isTerminal checks that
	// stdout is a character device.
	return benchMain(ctx, args, os.Stdout, os.Stderr, isTerminal(os.Stdout))
}

// benchMain is runBench with its inputs and outputs passed in.
func benchMain(ctx context.Context, args []string, stdout, stderr io.Writer, terminal bool) int {
	cmd, err := bench.ParseArgs(args)
	switch {
	case errors.Is(err, bench.ErrHelp):
		bench.Usage(stdout)
		return exitOK
	case err != nil:
		for _, line := range bench.UsageMessage(err) {
			fmt.Fprintf(stderr, "wisp bench: %s\n", line)
		}
		fmt.Fprintln(stderr, "wisp bench: see wisp bench --help")
		return exitUsage
	}
	cfg := &cmd.Config
	cfg.StartEmbedded = func(js bool) (string, func(), error) { return startEmbedded(js, cfg.Sync) }
	cfg.StartEmbeddedMQTT = func() (string, string, func(), error) { return startEmbeddedMQTT(cfg.Sync) }
	if self, err := os.Executable(); err == nil {
		chooseBinary(cfg, self)
	}
	if !cmd.Quiet {
		cfg.Log = stderr
		if terminal {
			cfg.Progress = stdout
		}
	}
	rep, err := bench.Run(ctx, cfg)
	if errors.Is(err, bench.ErrUsage) {
		for _, line := range bench.UsageMessage(err) {
			fmt.Fprintf(stderr, "wisp bench: %s\n", line)
		}
		return exitUsage
	}
	status := exitOK
	if err != nil {
		fmt.Fprintf(stderr, "wisp bench: %v\n", err)
		status = exitFailed
		if rep == nil {
			return status
		}
	}
	if err := rep.WriteTable(stdout); err != nil {
		fmt.Fprintf(stderr, "wisp bench: %v\n", err)
		status = exitFailed
	}
	for _, out := range []struct {
		file  string
		write func(io.Writer) error
	}{{cmd.JSONFile, rep.WriteJSON}, {cmd.HTMLFile, rep.WriteHTML}} {
		if out.file == "" {
			continue
		}
		if err := writeFile(out.file, out.write); err != nil {
			fmt.Fprintf(stderr, "wisp bench: %v\n", err)
			status = exitFailed
		}
	}
	if !rep.OK() {
		fmt.Fprintln(stderr, "wisp bench: some runs failed their checks (see the ERROR lines)")
		status = exitFailed
	}
	return status
}

// writeFile writes a report file, creating its directory.
func writeFile(path string, write func(io.Writer) error) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

// startEmbedded is bench.Config.StartEmbedded: a Wisp server in this
// process on a free loopback port, with the stream layer (in a temporary
// store directory, with the sync rule given, "" for the default) when
// jetstream is true.
func startEmbedded(jetstream bool, sync string) (url string, stop func(), err error) {
	srv, stop, err := startEmbeddedServer(jetstream, sync, nil)
	if err != nil {
		return "", nil, err
	}
	return srv.ClientURL(), stop, nil
}

// startEmbeddedMQTT is bench.Config.StartEmbeddedMQTT: as startEmbedded
// with the stream layer, plus an MQTT listener on a free loopback port.
func startEmbeddedMQTT(sync string) (natsURL, mqttURL string, stop func(), err error) {
	var mqttAddr string
	srv, stop, err := startEmbeddedServer(true, sync, func(cfg *conf.Config, srv *server.Server, log *slog.Logger) (func(), error) {
		cfg.MQTT = &conf.MQTT{Host: "127.0.0.1", Port: -1}
		mq, err := startMQTT(cfg, srv, log)
		if err != nil {
			return nil, err
		}
		mqttAddr = mq.Addr().String()
		return mq.Close, nil
	})
	if err != nil {
		return "", "", nil, err
	}
	return srv.ClientURL(), "tcp://" + mqttAddr, stop, nil
}

// startEmbeddedServer starts the embedded server, its stream layer when
// jetstream is true, and then, if given, a listener of another protocol
// (whose stop function runs first at the end, as in serve).
func startEmbeddedServer(jetstream bool, sync string, listener func(*conf.Config, *server.Server, *slog.Logger) (func(), error)) (*server.Server, func(), error) {
	server.Version = version
	log := slog.New(slog.DiscardHandler)
	cfg := conf.DefaultConfig()
	cfg.Server = server.Options{Host: "127.0.0.1", Port: -1, JetStream: jetstream}
	cfg.JetStream = jetstream
	if sync != "" {
		cfg.Sync = sync
	}
	srv, err := server.New(&cfg.Server, log)
	if err != nil {
		return nil, nil, err
	}
	if err := srv.Start(); err != nil {
		return nil, nil, err
	}
	stopServer := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	if !jetstream {
		return srv, stopServer, nil
	}
	dir, err := os.MkdirTemp("", "wisp-bench-store-")
	if err != nil {
		stopServer()
		return nil, nil, err
	}
	cfg.StoreDir = dir
	layers, err := startStreams(cfg, srv, log)
	if err != nil {
		stopServer()
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("stream layer: %w", err)
	}
	stopAll := func() {
		stopServer() // streams stop after the server, as in serve
		layers.close()
		os.RemoveAll(dir)
	}
	if listener != nil {
		stopListener, err := listener(cfg, srv, log)
		if err != nil {
			stopAll()
			return nil, nil, err
		}
		inner := stopAll
		stopAll = func() { stopListener(); inner() }
	}
	return srv, stopAll, nil
}

// chooseBinary makes self, the running wisp binary, the server under test
// where the bench must start server processes rather than use the
// embedded server: when the other side is a binary (a child process too,
// so both pay the same socket costs and both get server-only CPU and
// memory figures), and for the replicated-stream scenarios, whose
// cluster is wired by this binary's main, not by the embedded server.
func chooseBinary(cfg *bench.Config, self string) {
	if cfg.Server != "" || cfg.Binary != "" {
		return
	}
	if (cfg.Compare != "" && !strings.Contains(cfg.Compare, "://")) || bench.NeedsBinary(cfg.Scenarios) {
		cfg.Binary = self
	}
}

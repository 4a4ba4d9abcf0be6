//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/wisp-mq/wisp/conf"
)

// The signals a running wisp acts on, besides SIGINT and SIGTERM (stop):
// SIGHUP reloads the config file, SIGUSR2 enters lame-duck mode.
var (
	reloadSignal os.Signal = syscall.SIGHUP
	ldmSignal    os.Signal = syscall.SIGUSR2
)

// signalNames maps --signal names to signals, as nats-server names them.
var signalNames = map[string]syscall.Signal{
	"reload": syscall.SIGHUP,
	"ldm":    syscall.SIGUSR2,
	"stop":   syscall.SIGTERM,
	"term":   syscall.SIGTERM,
	"quit":   syscall.SIGINT,
}

// sendSignal implements "wisp --signal name[=pid]": it finds the running
// server through the pid given or the pid file, and signals it.
func sendSignal(cfg *conf.Config) error {
	name, pidText, hasPid := strings.Cut(cfg.Signal, "=")
	sig, ok := signalNames[name]
	if !ok {
		return fmt.Errorf("unknown signal %q", name)
	}
	if !hasPid {
		if cfg.PidFile == "" {
			return errors.New("--signal: no pid file; give -P <file>, pid_file in the config (-c), or --signal " + name + "=<pid>")
		}
		data, err := os.ReadFile(cfg.PidFile)
		if err != nil {
			return fmt.Errorf("--signal: reading the pid file: %w", err)
		}
		pidText = strings.TrimSpace(string(data))
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return fmt.Errorf("--signal: %q is not a process id", pidText)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("--signal: sending %s to process %d: %w", name, pid, err)
	}
	return nil
}

package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wisp-mq/wisp/server"
)

// Target is a server a scenario runs against: embedded in this process, a
// URL, or a binary started afresh (on a free loopback port) for each run.
type Target struct {
	Label string // "wisp", or a name for the compared server
	Desc  string // "embedded", the URL, or the binary path

	url          string
	bin          string
	embedded     func(jetstream bool) (string, func(), error)
	embeddedMQTT func() (natsURL, mqttURL string, stop func(), err error)
	// sync is the stream sync rule of the Wisp under test ("" for its
	// default), written into a started wisp binary's config file.
	sync string
	// otherSync is a compared nats-server's sync_interval ("" for its
	// default), written into its config file (--compare-sync).
	otherSync string
}

// instance is one started (or reached) server.
type instance struct {
	url     string
	urls    []string // a cluster's nodes (url is the first)
	version string
	pid     int   // a child process we started, else 0
	pids    []int // a cluster's child processes, all measured together
	self    bool  // the embedded server: it shares our process
	stop    func()
}

// newTarget makes a target from a URL, a binary name or path, or, for "",
// the embedded server.
func newTarget(label, where string, embedded func(bool) (string, func(), error)) (*Target, error) {
	switch {
	case where == "":
		if embedded == nil {
			embedded = startCoreServer
		}
		return &Target{Label: label, Desc: "embedded", embedded: embedded}, nil
	case isURL(where):
		return &Target{Label: label, Desc: where, url: where}, nil
	default:
		path, err := exec.LookPath(where)
		if err != nil {
			return nil, fmt.Errorf("%w: server binary %q: %v", ErrUsage, where, err)
		}
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		return &Target{Label: label, Desc: path, bin: path}, nil
	}
}

// start brings up (or reaches) the server for one run; the stream layer is
// asked for when jetstream is true.
func (t *Target) start(jetstream bool) (*instance, error) {
	var in *instance
	switch {
	case t.url != "":
		in = &instance{url: t.url, stop: func() {}}
	case t.bin != "":
		return startBinary(t.bin, binaryOpts{jetstream: jetstream, sync: t.sync})
	default:
		url, stop, err := t.embedded(jetstream)
		if err != nil {
			return nil, fmt.Errorf("starting the embedded server: %w", err)
		}
		in = &instance{url: url, stop: stop, self: true}
	}
	info, err := probe(in.url, 5*time.Second)
	if err != nil {
		in.stop()
		return nil, err
	}
	in.version = info.serverVersion()
	return in, nil
}

// startCoreServer is the default embedded server: Wisp's core server, with
// no stream layer.
func startCoreServer(bool) (string, func(), error) {
	srv, err := server.New(&server.Options{Host: "127.0.0.1", Port: -1}, slog.New(slog.DiscardHandler))
	if err != nil {
		return "", nil, err
	}
	if err := srv.Start(); err != nil {
		return "", nil, err
	}
	return srv.ClientURL(), func() { shutdownServer(srv) }, nil
}

// shutdownServer stops an embedded server, waiting at most a few seconds.
func shutdownServer(srv *server.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}

// infoLine is the part of a server's INFO the bench reads.
type infoLine struct {
	Version     string `json:"version"`
	WispVersion string `json:"wisp_version"`
	JetStream   bool   `json:"jetstream"`
}

// serverVersion is the version to report: a Wisp server's own, not the
// nats-server level it advertises to clients in version.
func (i infoLine) serverVersion() string {
	if i.WispVersion != "" {
		return "wisp " + i.WispVersion
	}
	return i.Version
}

// probe connects to url and reads the server's INFO line.
func probe(url string, timeout time.Duration) (infoLine, error) {
	var info infoLine
	addr, err := hostPort(url)
	if err != nil {
		return info, err
	}
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return info, fmt.Errorf("server %s: %w", url, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReaderSize(c, 4096).ReadString('\n')
	if err != nil {
		return info, fmt.Errorf("server %s: reading INFO: %w", url, err)
	}
	body, ok := strings.CutPrefix(strings.TrimSpace(line), "INFO ")
	if !ok {
		return info, fmt.Errorf("server %s: first line is not INFO: %.60q", url, line)
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		return info, fmt.Errorf("server %s: INFO: %w", url, err)
	}
	return info, nil
}

// Starting a binary: the flags -a, -p, -js and -sd mean the same to wisp
// and to nats-server.
const (
	startTimeout = 10 * time.Second
	stopTimeout  = 5 * time.Second
	startTries   = 3 // a free port can be taken between probe and bind
)

// binaryOpts say what a started binary needs besides its client port.
type binaryOpts struct {
	jetstream bool   // the stream layer (-js -sd DIR)
	websocket bool   // a plain WebSocket port (-c FILE); the instance's url is then ws://
	mqtt      bool   // the stream layer, a server name and an MQTT port (-js -sd DIR -n NAME -c FILE); the url is then tcp://
	sync      string // Wisp's stream sync rule, a line of the config file (wisp only)
}

func startBinary(bin string, opts binaryOpts) (*instance, error) {
	var err error
	for range startTries {
		var in *instance
		var retry bool
		in, retry, err = startBinaryOnce(bin, opts)
		if err == nil || !retry {
			return in, err
		}
	}
	return nil, err
}

func startBinaryOnce(bin string, opts binaryOpts) (in *instance, retry bool, err error) {
	port, err := freePort()
	if err != nil {
		return nil, false, err
	}
	args := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(port)}
	streams := opts.jetstream || opts.mqtt
	dir := ""
	if streams || opts.websocket {
		if dir, err = os.MkdirTemp("", "wisp-bench-store-"); err != nil {
			return nil, false, err
		}
	}
	if streams {
		args = append(args, "-js", "-sd", dir)
	}
	// The config file: one line per listener, each a TOML inline table
	// that nats-server's config reader takes as well.
	var lines []string
	extraURL := ""
	for _, l := range []struct {
		on     bool
		scheme string
		line   func(port int) string
	}{
		{opts.websocket, "ws", websocketLine},
		{opts.mqtt, "tcp", mqttLine},
	} {
		if !l.on {
			continue
		}
		p, err := freePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, false, err
		}
		lines = append(lines, l.line(p))
		extraURL = l.scheme + "://127.0.0.1:" + strconv.Itoa(p)
	}
	if opts.mqtt {
		// nats-server's MQTT needs a server name when streams are on.
		args = append(args, "-n", "wisp-bench")
	}
	if streams && opts.sync != "" {
		lines = append(lines, syncLine(opts.sync))
	}
	if len(lines) > 0 {
		file, err := writeConfig(dir, lines)
		if err != nil {
			os.RemoveAll(dir)
			return nil, false, err
		}
		args = append(args, "-c", file)
	}
	cleanDir := func() {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	out := &tail{max: 8 << 10}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cleanDir()
		return nil, false, fmt.Errorf("starting %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(stopTimeout):
			cmd.Process.Kill()
			<-exited
		}
		cleanDir()
	}
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			cleanDir()
			msg := out.String()
			return nil, strings.Contains(msg, "already in use"),
				fmt.Errorf("%s %s exited at start: %s", bin, strings.Join(args, " "), lastLines(msg, 5))
		default:
		}
		info, perr := probe(url, 500*time.Millisecond)
		if perr == nil && extraURL != "" {
			perr = probeTCP(extraURL)
		}
		if perr == nil {
			if extraURL != "" {
				url = extraURL
			}
			return &instance{url: url, version: info.serverVersion(), pid: cmd.Process.Pid, stop: stop}, false, nil
		}
		if time.Now().After(deadline) {
			stop()
			return nil, false, fmt.Errorf("%s did not accept connections within %v: %v", bin, startTimeout, perr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail keeps the last max bytes written to it: a child's output, for error
// messages.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

var _ io.Writer = (*tail)(nil)

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return "(no output)"
	}
	return strings.Join(lines, " | ")
}

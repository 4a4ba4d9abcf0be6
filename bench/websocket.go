package bench

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wisp-mq/wisp/server"
)

// The WebSocket scenarios run the core pub and pubsub loads with every
// client on a ws:// URL, against a server started with a WebSocket port
// (plain, no TLS, no compression): the embedded Wisp, or a binary started
// with a config file that wisp and nats-server both read. Like the
// cluster scenarios they are left out of the standard set; name them.
var websocketScenarios = []*Scenario{
	{Name: "ws-pub", Unit: "msgs/s", Websocket: true, Desc: "publishers only, over WebSocket (ws://); ends with a flush round trip", run: runPub},
	{Name: "ws-pubsub", Unit: "msgs/s", Websocket: true, Desc: "1 publisher, 1 subscriber, both over WebSocket; every message received, in order", run: runPubSub},
}

func init() { scenarios = append(scenarios, websocketScenarios...) }

// WebsocketScenarios lists the WebSocket scenarios.
func WebsocketScenarios() []string {
	names := make([]string, len(websocketScenarios))
	for i, s := range websocketScenarios {
		names[i] = s.Name
	}
	return names
}

// startWebsocket brings up a server with a WebSocket port for one run;
// the instance's url is the ws:// one.
func (t *Target) startWebsocket() (*instance, error) {
	switch {
	case t.url != "":
		return nil, fmt.Errorf("%w: WebSocket scenarios start their own server with a WebSocket port: give a server binary (or none, for the embedded one), not a URL", ErrUsage)
	case t.bin != "":
		return startBinary(t.bin, binaryOpts{websocket: true})
	}
	return startWebsocketEmbedded()
}

// startWebsocketEmbedded starts a Wisp core server with a plain WebSocket
// port in this process.
func startWebsocketEmbedded() (*instance, error) {
	srv, err := server.New(&server.Options{Host: "127.0.0.1", Port: -1,
		Websocket: server.WebsocketOptions{Host: "127.0.0.1", Port: -1, NoTLS: true}}, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		return nil, err
	}
	stop := func() { shutdownServer(srv) }
	info, err := probe(srv.ClientURL(), startTimeout)
	if err != nil {
		stop()
		return nil, err
	}
	return &instance{url: srv.WebsocketURL(), version: info.serverVersion(), self: true, stop: stop}, nil
}

// websocketConfig writes, in dir, a config file that opens a plain
// WebSocket port on 127.0.0.1:port, and returns its path.
func websocketConfig(dir string, port int) (string, error) {
	return writeConfig(dir, []string{websocketLine(port)})
}

// websocketLine is the config line of a plain WebSocket port: a TOML
// inline table that nats-server's config reader takes as well.
func websocketLine(port int) string {
	return `websocket = { listen = "127.0.0.1:` + strconv.Itoa(port) + `", no_tls = true }`
}

// writeConfig writes lines to a config file in dir and returns its path.
// The bench's lines are read alike by wisp and nats-server, except the
// sync rule's, which only a wisp binary is given.
func writeConfig(dir string, lines []string) (string, error) {
	if dir == "" {
		return "", errors.New("no directory for the config file")
	}
	path := filepath.Join(dir, "bench.conf")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return "", err
	}
	return path, nil
}

// probeTCP checks that something accepts connections at url's host:port
// (the WebSocket port, which answers no INFO before an upgrade).
func probeTCP(url string) error {
	addr, err := hostPort(url)
	if err != nil {
		return err
	}
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return fmt.Errorf("websocket port %s: %w", url, err)
	}
	return c.Close()
}

package main

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
)

// listenerKeys are the config keys that set each listener's port.
var listenerKeys = map[string]string{
	server.ListenerClient:     "port",
	server.ListenerMonitoring: "http_port",
	server.ListenerProfiling:  "prof_port",
	server.ListenerCluster:    "cluster.port",
	server.ListenerWebsocket:  "websocket.port",
}

// startError explains why the server did not start. A port that another
// process holds is the common case on a first try, so its message names
// the port and the flag or config key that picks another.
func startError(err error) error {
	var le *server.ListenError
	if !errors.As(err, &le) {
		return fmt.Errorf("starting server: %w", err)
	}
	setting := conf.SettingFor(listenerKeys[le.Listener])
	if errors.Is(err, server.ErrPortInUse) {
		return fmt.Errorf("%w; is another wisp or nats-server running? Choose another port with %s", err, setting)
	}
	return fmt.Errorf("%w (the port is set with %s)", err, setting)
}

// startedFields are the "wisp started" log line's fields: what a user
// reaches next. The WebSocket URL appears when its port is on, the
// console URL when monitoring is, the stream data directory when streams
// are.
func startedFields(srv *server.Server, cfg *conf.Config) []any {
	fields := []any{"version", version}
	if c := buildCommit(); c != "" {
		fields = append(fields, "commit", c)
	}
	fields = append(fields, "nats_version", server.NATSVersion, "url", srv.ClientURL())
	if u := srv.WebsocketURL(); u != "" {
		fields = append(fields, "websocket", u)
	}
	if a, ok := srv.MonitorAddr().(*net.TCPAddr); ok {
		host := a.IP.String()
		if a.IP.IsUnspecified() {
			host = "127.0.0.1" // as ClientURL: a URL that works from this machine
		}
		scheme := "http://"
		if cfg.Server.HTTPTLS != nil {
			scheme = "https://"
		}
		fields = append(fields, "console", scheme+net.JoinHostPort(host, strconv.Itoa(a.Port))+"/")
	}
	if cfg.JetStream {
		dir := cfg.StoreDir
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		fields = append(fields, "store_dir", dir)
	}
	if cfg.File != "" {
		fields = append(fields, "config", cfg.File)
	}
	return fields
}

package bench

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/wisp-mq/wisp/conf"
)

// TestWebsocketScenarios runs each WebSocket scenario against the
// embedded server and checks it counted what it was asked to.
func TestWebsocketScenarios(t *testing.T) {
	for _, name := range WebsocketScenarios() {
		t.Run(name, func(t *testing.T) {
			cfg := quick(name)
			rep := run(t, cfg)
			if len(rep.Results) != 1 {
				t.Fatalf("%d results, want 1", len(rep.Results))
			}
			if r := rep.Results[0]; r.Msgs != int64(cfg.Msgs) {
				t.Errorf("counted %d, want %d", r.Msgs, cfg.Msgs)
			}
		})
	}
}

// The WebSocket scenarios start their own server, so a URL target is a
// usage error.
func TestWebsocketScenarioNeedsStartableServer(t *testing.T) {
	tg, err := newTarget("wisp", "nats://127.0.0.1:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tg.startWebsocket(); !errors.Is(err, ErrUsage) {
		t.Fatalf("a URL target: %v", err)
	}
}

// The config file given to a started binary is one line that both
// servers read: a TOML inline table, also nats-server's map syntax.
func TestWebsocketConfigFile(t *testing.T) {
	path, err := websocketConfig(t.TempDir(), 8080)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != `websocket = { listen = "127.0.0.1:8080", no_tls = true }` {
		t.Fatalf("config %q", got)
	}
	c, err := conf.LoadFile(path, b)
	if err != nil {
		t.Fatalf("wisp does not read the file: %v", err)
	}
	if w := c.Server.Websocket; w.Host != "127.0.0.1" || w.Port != 8080 || !w.NoTLS {
		t.Fatalf("wisp reads it as %+v", w)
	}
}

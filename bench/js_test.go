package bench

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/wisp-mq/wisp/server"
	"github.com/wisp-mq/wisp/stream"
)

// startWithStreams is a Config.StartEmbedded hook like the one cmd/wisp
// passes: a core server plus the stream layer in a temporary directory.
// Only the tests import the stream package; bench itself never does.
func startWithStreams(t *testing.T) func(bool) (string, func(), error) {
	return func(js bool) (string, func(), error) {
		srv, err := server.New(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: js}, slog.New(slog.DiscardHandler))
		if err != nil {
			return "", nil, err
		}
		if err := srv.Start(); err != nil {
			return "", nil, err
		}
		if !js {
			return srv.ClientURL(), func() { shutdownServer(srv) }, nil
		}
		dir, err := os.MkdirTemp(t.TempDir(), "store")
		if err != nil {
			shutdownServer(srv)
			return "", nil, err
		}
		opts := stream.Options{StoreDir: dir}
		opts.OpenStore = stream.PebbleStores(opts)
		svc, err := stream.New(srv, opts)
		if err != nil {
			shutdownServer(srv)
			return "", nil, err
		}
		return srv.ClientURL(), func() {
			shutdownServer(srv)
			svc.Close()
		}, nil
	}
}

// TestJSScenarios runs the stream scenarios against Wisp's stream layer:
// every publish acknowledged with the right sequence, every consumed
// message acknowledged.
func TestJSScenarios(t *testing.T) {
	for _, name := range []string{"js-pub", "js-pub-async", "js-consume"} {
		t.Run(name, func(t *testing.T) {
			cfg := quick(name)
			cfg.Msgs = 300 // file storage syncs every commit
			cfg.StartEmbedded = startWithStreams(t)
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := rep.Results[0]
			if !r.OK() || r.CapReached {
				t.Fatalf("error %q, notes %v", r.Error, r.Notes)
			}
			if r.Msgs != int64(cfg.Msgs) {
				t.Errorf("%d acknowledged, want %d", r.Msgs, cfg.Msgs)
			}
		})
	}
}

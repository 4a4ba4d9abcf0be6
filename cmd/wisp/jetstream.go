package main

import (
	"log/slog"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
	"github.com/wisp-mq/wisp/stream"
)

// startStreams starts the stream layer on top of a running server, storing
// under cfg.StoreDir. The returned stop function is called after the server
// has shut down: it lets API requests in progress finish and closes the
// stores, syncing the file store, so every acknowledged message is on disk.
func startStreams(cfg *conf.Config, srv *server.Server, log *slog.Logger) (stop func(), err error) {
	svc, err := stream.New(srv, stream.Options{
		StoreDir: cfg.StoreDir,
		Logger:   log.With("component", "stream"),
	})
	if err != nil {
		return nil, err
	}
	return func() {
		if err := svc.Close(); err != nil {
			log.Error("closing the stream layer", "err", err)
		}
	}, nil
}

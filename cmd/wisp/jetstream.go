package main

import (
	"log/slog"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
	"github.com/wisp-mq/wisp/stream"
	"github.com/wisp-mq/wisp/stream/store"
)

// startStreams starts the stream layer on the server before it accepts
// clients, storing under cfg.StoreDir, and wires its statistics into
// monitoring (/jsz, /varz, /healthz, /metrics). The returned stop function is called after
// the server has shut down: it lets API requests in progress finish and
// closes the stores, syncing the file store, so every acknowledged message
// is on disk.
func startStreams(cfg *conf.Config, srv *server.Server, log *slog.Logger) (stop func(), err error) {
	sync := store.SyncAlways
	if cfg.Sync == conf.SyncInterval {
		sync = store.SyncInterval
	}
	svc, err := stream.New(srv, stream.Options{
		StoreDir:     cfg.StoreDir,
		Sync:         sync,
		SyncInterval: cfg.SyncInterval,
		Logger:       log.With("component", "stream"),
	})
	if err != nil {
		return nil, err
	}
	srv.SetJetStreamReporter(func() (server.JetStreamReport, error) {
		return jetStreamReport(svc.Stats()), nil
	})
	return func() {
		srv.SetJetStreamReporter(nil)
		if err := svc.Close(); err != nil {
			log.Error("closing the stream layer", "err", err)
		}
	}, nil
}

// jetStreamReport converts the stream layer's snapshot to the server's
// monitoring form; the two packages do not import each other.
func jetStreamReport(st stream.Stats) server.JetStreamReport {
	rep := server.JetStreamReport{
		Memory: st.Memory, Storage: st.Storage,
		APITotal: st.APITotal, APIErrors: st.APIErrors,
		Streams: make([]server.StreamReport, 0, len(st.Streams)),
	}
	for _, s := range st.Streams {
		rep.Streams = append(rep.Streams, server.StreamReport{
			Name: s.Name, Subjects: s.Subjects, Storage: s.Storage.String(), Created: s.Created,
			Messages: s.Messages, Bytes: s.Bytes, FirstSeq: s.FirstSeq, LastSeq: s.LastSeq,
			FirstTime: s.FirstTime, LastTime: s.LastTime, NumConsumers: s.Consumers,
		})
	}
	return rep
}

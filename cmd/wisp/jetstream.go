package main

import (
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
	"github.com/wisp-mq/wisp/stream"
	"github.com/wisp-mq/wisp/stream/store"
)

// accountStreams is the stream layer of one account.
type accountStreams struct {
	account string // "" for the global account
	svc     *stream.Service
}

// startStreams starts the stream layer on the server before it accepts
// clients, and wires its statistics into monitoring (/jsz, /varz,
// /healthz, /metrics).
//
// Streams are per account, like subjects: the global account keeps its
// streams in cfg.StoreDir, and each configured account gets a stream layer
// of its own, reached through that account's $JS.API subjects and stored
// under cfg.StoreDir/accounts/<name>, so two accounts may each have a
// stream called ORDERS. Accounts added by a later config reload get no
// stream layer until a restart.
//
// The returned stop function is called after the server has shut down: it
// lets API requests in progress finish and closes the stores, syncing the
// file stores, so every acknowledged message is on disk.
func startStreams(cfg *conf.Config, srv *server.Server, log *slog.Logger) (stop func(), err error) {
	sync := store.SyncAlways
	if cfg.Sync == conf.SyncInterval {
		sync = store.SyncInterval
	}
	var all []accountStreams
	closeAll := func() {
		for _, a := range all {
			if err := a.svc.Close(); err != nil {
				log.Error("closing the stream layer", "account", a.account, "err", err)
			}
		}
	}
	start := func(account string, b stream.Broker, dir string) error {
		svc, err := stream.New(b, stream.Options{
			StoreDir:     dir,
			Sync:         sync,
			SyncInterval: cfg.SyncInterval,
			Logger:       log.With("component", "stream", "account", account),
		})
		if err != nil {
			return fmt.Errorf("account %q: %w", account, err)
		}
		all = append(all, accountStreams{account: account, svc: svc})
		return nil
	}
	if err := start("", srv, cfg.StoreDir); err != nil {
		return nil, err
	}
	for _, ac := range cfg.Server.Accounts {
		b, err := srv.Account(ac.Name)
		if err == nil {
			// Escaped, so an account name can never step outside the store.
			err = start(ac.Name, b, filepath.Join(cfg.StoreDir, "accounts", url.PathEscape(ac.Name)))
		}
		if err != nil {
			closeAll()
			return nil, err
		}
	}
	srv.SetJetStreamReporter(func() (server.JetStreamReport, error) {
		return jetStreamReport(all), nil
	})
	return func() {
		srv.SetJetStreamReporter(nil)
		closeAll()
	}, nil
}

// jetStreamReport converts the stream layers' snapshots to the server's
// monitoring form (the two packages do not import each other). Streams of
// a named account are shown as "account/stream".
func jetStreamReport(all []accountStreams) server.JetStreamReport {
	var rep server.JetStreamReport
	for _, a := range all {
		st := a.svc.Stats()
		rep.Memory += st.Memory
		rep.Storage += st.Storage
		rep.APITotal += st.APITotal
		rep.APIErrors += st.APIErrors
		consumers := map[string][]server.ConsumerReport{}
		for _, c := range a.svc.ConsumerStats() {
			consumers[c.Stream] = append(consumers[c.Stream], server.ConsumerReport{
				Name: c.Name, NumPending: c.NumPending, NumAckPending: uint64(c.NumAckPending),
				NumRedelivered: uint64(c.NumRedelivered), NumWaiting: uint64(c.NumWaiting),
			})
		}
		for _, s := range st.Streams {
			name := s.Name
			if a.account != "" {
				name = a.account + "/" + s.Name
			}
			rep.Streams = append(rep.Streams, server.StreamReport{
				Name: name, Subjects: s.Subjects, Storage: s.Storage.String(), Created: s.Created,
				Messages: s.Messages, Bytes: s.Bytes, FirstSeq: s.FirstSeq, LastSeq: s.LastSeq,
				FirstTime: s.FirstTime, LastTime: s.LastTime, NumConsumers: s.Consumers,
				Consumers: consumers[s.Name],
			})
		}
	}
	return rep
}

package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"sync"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/replication"
	"github.com/wisp-mq/wisp/server"
	"github.com/wisp-mq/wisp/stream"
	"github.com/wisp-mq/wisp/stream/store"
)

// accountStreams is the stream layer of one account.
type accountStreams struct {
	account string // "" for the global account
	svc     *stream.Service
}

// streamLayers is the stream layer of every account, one stream.Service
// each. Streams are per account, like subjects: the global account keeps
// its streams in cfg.StoreDir, and each configured account gets a stream
// layer of its own, reached through that account's $JS.API subjects and
// stored under cfg.StoreDir/accounts/<name>, so two accounts may each have
// a stream called ORDERS. A reload that adds an account starts its layer;
// one that removes an account closes it (its data stays on disk for when
// the account comes back).
type streamLayers struct {
	srv  *server.Server
	log  *slog.Logger
	opts stream.Options // StoreDir, Logger and Quotas are set per account

	// quota is the server's max_file_store/max_memory_store, shared by
	// every account's layer; accountQuotas the accounts' own, by name,
	// kept across reloads so usage stays counted (quota.go in stream).
	quota         *stream.Quota
	accountQuotas map[string]*stream.Quota

	mu  sync.Mutex
	all []accountStreams // the global account's first

	// meta reports the cluster's meta group once replication runs
	// (replication.go).
	meta metaSlot
	// node and clusterName, once replication runs, make every layer
	// clustered, those started later by a reload too (guarded by mu).
	node        *replication.Node
	clusterName string
}

// startStreams starts the stream layer on the server before it accepts
// clients, and wires its statistics into monitoring (/jsz, /varz,
// /healthz, /metrics). close is called after the server has shut down: it
// lets API requests in progress finish and closes the stores, syncing the
// file stores, so every acknowledged message is on disk.
func startStreams(cfg *conf.Config, srv *server.Server, log *slog.Logger) (*streamLayers, error) {
	rule := store.SyncAlways
	if cfg.Sync == conf.SyncInterval {
		rule = store.SyncInterval
	}
	onDamage, err := stream.ParseDamagePolicy(cfg.OnDamage)
	if err != nil {
		return nil, fmt.Errorf("jetstream.%w", err)
	}
	l := &streamLayers{
		srv:           srv,
		log:           log,
		opts:          stream.Options{StoreDir: cfg.StoreDir, Sync: rule, SyncInterval: cfg.SyncInterval, OnDamage: onDamage},
		quota:         stream.NewQuota(cfg.MaxFileStore, cfg.MaxMemoryStore),
		accountQuotas: map[string]*stream.Quota{},
	}
	if tuneStreams != nil {
		tuneStreams(&l.opts)
	}
	l.setLimits(cfg)
	if err := l.start("", srv); err != nil {
		return nil, err
	}
	l.warnLimitOverDisk(cfg)
	if err := l.reconcile(cfg.Server.Accounts); err != nil {
		l.close()
		return nil, err
	}
	srv.SetJetStreamReporter(l.report)
	return l, nil
}

// tuneStreams, when set (by tests), adjusts the stream layers' options
// (a crash-simulating filesystem) before they open.
var tuneStreams func(*stream.Options)

// start opens account's stream layer on broker b.
func (l *streamLayers) start(account string, b stream.Broker) error {
	opts := l.opts
	if account != "" {
		// Escaped, so an account name can never step outside the store.
		opts.StoreDir = filepath.Join(l.opts.StoreDir, "accounts", url.PathEscape(account))
	}
	opts.Logger = l.log.With("component", "stream", "account", account)
	opts.Quotas = []*stream.Quota{l.quota}
	opts.ServerName, opts.Account = l.srv.Name(), account
	opts.ServerVersion = server.NATSVersion // config.metadata's _nats.ver, as INFO's version
	opts.SystemAccount = l.srv.Options().SystemAccount
	if opts.SystemAccount == "" {
		opts.SystemAccount = server.DefaultSystemAccount
	}
	if account == "" {
		opts.Account = "$G" // the global account's name in nats-server's advisories
	}
	if account != "" {
		l.mu.Lock()
		q := l.accountQuotas[account]
		if q == nil {
			q = stream.NewAccountQuota(0, 0) // no limits yet; a reload may set some
			l.accountQuotas[account] = q
		}
		l.mu.Unlock()
		opts.Quotas = append(opts.Quotas, q)
	}
	opts.OpenStore = stream.PebbleStores(opts)
	svc, err := stream.New(b, opts)
	if err != nil {
		return fmt.Errorf("account %q: %w", account, err)
	}
	l.mu.Lock()
	node, cluster := l.node, l.clusterName
	l.mu.Unlock()
	if node != nil {
		// Clustered before replication can find the layer to open a
		// replica in it (accountReplicas).
		if err := svc.SetCluster(streamCluster{Node: node, name: cluster, account: account, routed: l.srv.RoutedServers}); err != nil {
			_ = svc.Close()
			return fmt.Errorf("account %q: %w", account, err)
		}
	}
	l.mu.Lock()
	l.all = append(l.all, accountStreams{account: account, svc: svc})
	l.mu.Unlock()
	return nil
}

// setCluster makes every account's layer clustered on replication's
// node, and those started from now on.
func (l *streamLayers) setCluster(node *replication.Node, cluster string) error {
	l.mu.Lock()
	l.node, l.clusterName = node, cluster
	all := slices.Clone(l.all)
	l.mu.Unlock()
	for _, a := range all {
		if err := a.svc.SetCluster(streamCluster{Node: node, name: cluster, account: a.account, routed: l.srv.RoutedServers}); err != nil {
			return fmt.Errorf("account %q: %w", a.account, err)
		}
	}
	return nil
}

// global returns the global account's stream layer.
func (l *streamLayers) global() *stream.Service {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.all {
		if a.account == "" {
			return a.svc
		}
	}
	return nil
}

// reconcile makes the running layers match accounts: it starts the
// layers of accounts that have none and closes those of accounts that are
// gone. Called at start and after every successful reload. The system
// account has none, as in nats-server: it is the operator's, for $SYS.
func (l *streamLayers) reconcile(accounts []server.AccountConfig) error {
	want := map[string]bool{}
	sys := l.srv.Options().SystemAccount
	for _, ac := range accounts {
		want[ac.Name] = ac.Name != sys
	}
	l.mu.Lock()
	have := map[string]bool{}
	keep := l.all[:0]
	var gone []accountStreams
	for _, a := range l.all {
		if a.account == "" || want[a.account] {
			keep = append(keep, a)
			have[a.account] = true
		} else {
			gone = append(gone, a)
		}
	}
	l.all = keep
	l.mu.Unlock()
	for _, a := range gone {
		l.log.Info("closing the stream layer of a removed account", "account", a.account)
		l.closeOne(a)
	}
	var errs []error
	for _, ac := range accounts {
		if have[ac.Name] || !want[ac.Name] {
			continue
		}
		b, err := l.srv.Account(ac.Name)
		if err == nil {
			err = l.start(ac.Name, b)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (l *streamLayers) closeOne(a accountStreams) {
	if err := a.svc.Close(); err != nil {
		l.log.Error("closing the stream layer", "account", a.account, "err", err)
	}
}

// close detaches monitoring and closes every layer.
func (l *streamLayers) close() {
	l.srv.SetJetStreamReporter(nil)
	l.mu.Lock()
	all := l.all
	l.all = nil
	l.mu.Unlock()
	for _, a := range all {
		l.closeOne(a)
	}
}

func (l *streamLayers) report() (server.JetStreamReport, error) {
	l.mu.Lock()
	all := append([]accountStreams(nil), l.all...)
	l.mu.Unlock()
	rep := jetStreamReport(all)
	rep.Limits = server.JetStreamLimits{
		MaxStorage: max(l.quota.Limit(stream.FileStorage), 0), MaxMemory: max(l.quota.Limit(stream.MemoryStorage), 0),
	}
	rep.StoreDir = l.opts.StoreDir
	if m := l.meta.Load(); m != nil {
		rep.Meta = m.report()
	}
	return rep, nil
}

// jetStreamReport converts the stream layers' snapshots to the server's
// monitoring form (the two packages do not import each other). Streams of
// a named account are shown as "account/stream".
func jetStreamReport(all []accountStreams) server.JetStreamReport {
	var rep server.JetStreamReport
	for _, a := range all {
		rep.Stores = append(rep.Stores, storeReports(a)...)
		st := a.svc.Stats()
		rep.Memory += st.Memory
		rep.Storage += st.Storage
		rep.APITotal += st.APITotal
		rep.APIErrors += st.APIErrors
		addDamage(&rep.Damage, a.account, &st)
		consumers := map[string][]server.ConsumerReport{}
		for _, c := range a.svc.ConsumerStats() {
			consumers[c.Stream] = append(consumers[c.Stream], server.ConsumerReport{
				Name: c.Name, NumPending: c.NumPending, NumAckPending: uint64(c.NumAckPending),
				NumRedelivered: uint64(c.NumRedelivered), NumWaiting: uint64(c.NumWaiting),
				Delivered: c.Delivered.Consumer,
			})
		}
		origins := map[string][]server.OriginReport{}
		for _, o := range a.svc.OriginStats() {
			origins[o.Stream] = append(origins[o.Stream], server.OriginReport{
				Name: o.Origin, Mirror: o.Mirror, Lag: o.Lag, Active: o.Active, Error: o.Error,
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
				Consumers: consumers[s.Name], Origins: origins[s.Name], Cluster: streamClusterReport(s.Cluster),
			})
		}
	}
	return rep
}

// streamClusterReport is a replicated stream's cluster section in the
// server's monitoring form, nil for a local stream.
func streamClusterReport(ci *stream.ClusterInfo) *server.StreamClusterReport {
	if ci == nil {
		return nil
	}
	r := &server.StreamClusterReport{Name: ci.Name, RaftGroup: ci.RaftGroup, Leader: ci.Leader, SystemAcc: ci.SystemAcc, TrafficAcc: ci.TrafficAcc}
	for _, p := range ci.Replicas {
		r.Replicas = append(r.Replicas, server.MetaPeerReport{Name: p.Name, Peer: p.Peer, Current: p.Current, Active: p.Active, Lag: p.Lag})
	}
	return r
}

// addDamage adds one layer's damage figures to the report; offline
// streams of a named account are shown as "account/stream".
func addDamage(d *server.StoreDamage, account string, st *stream.Stats) {
	d.LostMessages += st.LostMessages
	d.DamagedStreams += st.DamagedStreams
	d.StoreProblems += st.StoreProblems
	d.CorruptRecords += st.CorruptRecords
	for name, why := range st.OfflineStreams {
		if account != "" {
			name = account + "/" + name
		}
		if d.Offline == nil {
			d.Offline = map[string]string{}
		}
		d.Offline[name] = why
	}
}

// setLimits puts cfg's byte limits in force: at start and after a reload.
// Every account's layer runs under its own quota (made at its start, kept
// by name), so a reload's new limits apply to running layers at once.
func (l *streamLayers) setLimits(cfg *conf.Config) {
	l.quota.SetLimits(cfg.MaxFileStore, cfg.MaxMemoryStore)
	l.mu.Lock()
	defer l.mu.Unlock()
	for name, q := range l.accountQuotas {
		lim := cfg.AccountStoreLimits[name]
		q.SetLimits(lim.MaxFileStore, lim.MaxMemoryStore)
	}
	for name, lim := range cfg.AccountStoreLimits {
		if l.accountQuotas[name] == nil {
			l.accountQuotas[name] = stream.NewAccountQuota(lim.MaxFileStore, lim.MaxMemoryStore)
		}
	}
}

// warnLimitOverDisk says so when max_file_store is more than the disk
// can hold: the disk's headroom, not the limit, will refuse first.
func (l *streamLayers) warnLimitOverDisk(cfg *conf.Config) {
	if cfg.MaxFileStore <= 0 {
		return
	}
	l.mu.Lock()
	svc := l.all[0].svc
	l.mu.Unlock()
	file, _ := svc.StoreHealth()
	sp := file.Space
	if sp.Total > 0 && uint64(cfg.MaxFileStore) > file.Used+sp.Free-min(sp.Free, sp.Headroom) {
		l.log.Warn("max_file_store is more than the disk has room for; the disk's headroom will refuse writes first",
			"max_file_store", cfg.MaxFileStore, "disk_free", sp.Free, "headroom", sp.Headroom)
	}
}

// storeReports converts an account's two stores' health for monitoring.
func storeReports(a accountStreams) []server.StoreReport {
	file, mem := a.svc.StoreHealth()
	out := make([]server.StoreReport, 0, 2)
	for _, h := range []struct {
		storage string
		h       store.Health
	}{{"file", file}, {"memory", mem}} {
		out = append(out, server.StoreReport{
			Account: a.account, Storage: h.storage, Used: h.h.Used,
			Free: h.h.Space.Free, Total: h.h.Space.Total, Headroom: h.h.Space.Headroom,
			LowSpace: h.h.Space.Low, Failed: h.h.Failed, FailedSince: h.h.FailedSince,
			Reopens: h.h.Reopens, Refused: h.h.Refused,
		})
	}
	return out
}

package stream

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/wisp-mq/wisp/stream/store"
)

// Options configures a Service.
type Options struct {
	// StoreDir holds file-storage streams (in StoreDir/streams). Required.
	StoreDir string
	// Sync is the durability rule for file streams (see store.SyncMode);
	// SyncInterval its fsync period in SyncInterval mode (default 1s).
	Sync         store.SyncMode
	SyncInterval time.Duration
	Logger       *slog.Logger
	// FS replaces the real filesystem under StoreDir; tests use Pebble's
	// strict in-memory FS to simulate a crash. nil means the real one.
	FS vfs.FS
	// ConsumerFlushDelay is how long a consumer's state changes (deliveries,
	// acks, and the removals acks cause in workqueue and interest streams)
	// gather before they are written; DoubleAck replies never wait for it.
	// Default 20ms; negative writes at the next commit.
	ConsumerFlushDelay time.Duration
	// OnDamage is what to do with a file stream whose store holds less
	// than was acknowledged (loss.go). Default ServeDamaged.
	OnDamage DamagePolicy
	// Quotas limit the bytes of file and memory streams; each may be
	// shared with other accounts' layers (quota.go).
	Quotas []*Quota
	// Headroom and Space configure the file store's disk watch (see
	// store.Options); zero values mean the defaults.
	Headroom uint64
	Space    store.SpaceSource
	// OpenStore opens the file and memory stores the layer writes
	// through (seam.go). Required: New opens no store of its own.
	// PebbleStores(opts) gives Pebble on disk under StoreDir and Pebble
	// in memory.
	OpenStore OpenStoreFunc
	// Clock is the stream layer's time (clock.go); nil means RealClock.
	// Tests pass a FakeClock and advance it instead of sleeping.
	Clock Clock
	// ServerName and Account fill the server and client.acc fields of the
	// API audit advisory (advisory.go); empty ones are left out.
	ServerName string
	Account    string
	// ServerVersion is the server version the layer's replies name in
	// config.metadata's _nats.ver (version_metadata.go): the one INFO
	// advertises. Empty leaves the key out.
	ServerVersion string
	// SystemAccount names the server's system account, reported as the
	// traffic account of replicated groups (cluster_info.go); empty
	// leaves the two fields out.
	SystemAccount string
	// AtomicBatch bounds atomic batch publishing (batch.go); zero
	// fields take nats-server's defaults.
	AtomicBatch BatchLimits
}

// DefaultConsumerFlushDelay is Options.ConsumerFlushDelay's default. A
// message delivered and acknowledged within it never touches the disk.
const DefaultConsumerFlushDelay = 20 * time.Millisecond

// Service is the stream layer of one server: the streams, their two stores
// (file and memory), and the JetStream API on top. Create it with New.
type Service struct {
	broker Broker
	log    *slog.Logger
	clock  Clock
	file   Store
	mem    Store

	mu      sync.RWMutex // guards streams, and each stream's cancels
	streams map[string]*stream
	// updateMu orders stream updates on a clustered server: an update's
	// config is recorded in the meta group around its local apply
	// (cluster_r1.go, checkSubjects), and another update's record must
	// not come between.
	updateMu sync.Mutex
	apiStop  func()

	relay   relay     // republished messages on their way out (transform.go)
	copiers copierSet // mirrors' and sources' copiers (mirror.go)

	apiTotal  atomic.Uint64
	apiErrors atomic.Uint64
	closing   atomic.Bool
	inflight  sync.WaitGroup // API requests being handled, snapshots and restores
	xfers     transfers      // snapshots and restores: stopped by Close
	// recoveries are faulted streams being rebuilt (apply.go), and
	// deadLetters the consumers' dead-letter loops (deadletter.go): work
	// no caller waits for, which Close waits for before it closes the
	// stores (background.go).
	recoveries  background
	deadLetters background
	// stateWrites are replicas' states being written for a peer
	// (replica.WriteState), on replication's goroutines.
	stateWrites background

	flushDelay time.Duration // Options.ConsumerFlushDelay in force
	quotas     []*Quota
	// serverName and account are Options.ServerName and Options.Account.
	serverName, account string
	serverVersion       string // Options.ServerVersion
	systemAccount       string // Options.SystemAccount

	// offline holds the streams kept offline after damage, with the
	// reason; filled before the API is subscribed (loss.go).
	offline        map[string]string
	lostMsgs       atomic.Uint64 // acknowledged messages found missing
	damagedStreams atomic.Uint64 // streams found damaged at start
	storeProblems  atomic.Uint64 // store-wide problems found at start

	// recordOp, when set (by tests, before any operation), is handed
	// every operation applied, with its stream's name, in the order they
	// are applied; enc is only valid during the call.
	recordOp func(stream string, enc []byte)

	// batches is what the atomic batches being staged hold (batch.go).
	batches batchBudget

	// cluster is the cluster's replication, nil on a server that is not
	// clustered (cluster.go); guarded by mu.
	cluster Cluster
	// clusterRef is cluster, for readers that take no lock (clusterOf).
	clusterRef atomic.Pointer[Cluster]
	// gathers are the requests waiting for other servers' answers about
	// what they hold (cluster_gather.go).
	gathers gatherSet

	// directReads, when set (by tests, before any request), wraps the
	// reader batched direct gets read through (direct_batch.go).
	directReads func(store.Reader) directReader
}

// New opens the stores through opts.OpenStore, recovers every stream, then
// subscribes to the streams' subjects and to the JetStream API ($JS.API.>)
// on b. Memory streams start empty: they live in Pebble over an in-memory
// filesystem, lost on restart like nats-server's memory storage.
func New(b Broker, opts Options) (*Service, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts.Logger = log
	open := opts.OpenStore
	if open == nil {
		return nil, errors.New("stream: Options.OpenStore is required (PebbleStores opens Pebble under StoreDir)")
	}
	flushDelay := opts.ConsumerFlushDelay
	switch {
	case flushDelay == 0:
		flushDelay = DefaultConsumerFlushDelay
	case flushDelay < 0:
		flushDelay = 0
	}
	clock := opts.Clock
	if clock == nil {
		clock = RealClock{}
	}
	svc := &Service{broker: b, log: log, clock: clock, streams: map[string]*stream{}, flushDelay: flushDelay, quotas: opts.Quotas,
		serverName: opts.ServerName, account: opts.Account, serverVersion: opts.ServerVersion,
		systemAccount: opts.SystemAccount}
	svc.batches.limits = opts.AtomicBatch.withDefaults()
	var err error
	svc.file, err = open(FileStorage, svc.reloadFileStreams)
	if err != nil {
		return nil, err
	}
	svc.mem, err = open(MemoryStorage, nil)
	if err != nil {
		svc.file.Close()
		return nil, err
	}
	svc.offline = svc.handleDamage(svc.file, opts.OnDamage)
	if err := svc.recover(svc.file, FileStorage); err != nil {
		svc.Close()
		return nil, err
	}
	for _, s := range svc.sortedStreams() {
		if err := svc.subscribe(s, s.cfg.Subjects); err != nil {
			svc.Close()
			return nil, err
		}
	}
	svc.apiStop, err = svc.subscribeAPI(b)
	if err != nil {
		svc.Close()
		return nil, fmt.Errorf("stream: subscribe to the API: %w", err)
	}
	return svc, nil
}

// Close stops answering the API and storing messages, lets requests in
// progress finish, and closes both stores (syncing the file store).
func (svc *Service) Close() error {
	if svc.closing.Swap(true) {
		return nil
	}
	if svc.apiStop != nil {
		svc.apiStop()
	}
	svc.mu.Lock()
	for _, s := range svc.streams {
		svc.unsubscribeAll(s)
		if s.repl != nil {
			s.repl.Close()
		}
		s.mu.Lock()
		if s.ageTimer != nil {
			s.ageTimer.Stop()
		}
		s.stopShapingTimers()
		s.mu.Unlock()
	}
	svc.mu.Unlock()
	svc.xfers.stop()
	svc.inflight.Wait()
	svc.copiers.wait()
	svc.relay.wait()
	// Before the consumers close: a recovery reconciles the consumers'
	// definitions and may load one.
	svc.recoveries.stop()
	svc.closeConsumers()
	// After the consumers close: their quit ends the loops' waits.
	svc.deadLetters.stop()
	// closing makes a state being written stop at its next write.
	svc.stateWrites.stop()
	err := errors.Join(svc.file.Close(), svc.mem.Close())
	svc.releaseQuotas()
	return err
}

// storeFor returns the store of a storage type.
func (svc *Service) storeFor(t Storage) Store {
	if t == MemoryStorage {
		return svc.mem
	}
	return svc.file
}

func (svc *Service) lookup(name string) *stream {
	svc.mu.RLock()
	defer svc.mu.RUnlock()
	return svc.streams[name]
}

// sortedStreams returns the streams in name order, for stable paging.
func (svc *Service) sortedStreams() []*stream {
	svc.mu.RLock()
	defer svc.mu.RUnlock()
	out := make([]*stream, 0, len(svc.streams))
	for _, s := range svc.streams {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// subscribe adds broker subscriptions for subjects; called with svc.mu held
// or before the service is shared.
func (svc *Service) subscribe(s *stream, subjects []string) error {
	if !s.isLeader() {
		return nil // its leader captures its subjects (replica.go)
	}
	if s.cancels == nil {
		s.cancels = map[string]func(){}
	}
	for _, subj := range subjects {
		if _, ok := s.cancels[subj]; ok {
			continue
		}
		cancel, err := svc.subscribeSubject(s, subj)
		if err != nil {
			return fmt.Errorf("stream %s: subscribe to %q: %w", s.name, subj, err)
		}
		s.cancels[subj] = cancel
	}
	svc.copiers.ensure(s)
	return nil
}

// routedSubscriber is the Broker method for a subscription whose
// interest reaches the other servers of a cluster (the server's brokers
// have it): a replicated stream's leader captures its subjects with it.
type routedSubscriber interface {
	SubscribeRouted(subject string, fn func(subject, reply, hdr, data []byte)) (cancel func(), err error)
}

// subscribeSubject subscribes s to one of its subjects so that publishes
// anywhere in the cluster reach it, as they reach a stream of any
// replica count in a nats-server cluster (on a server without routes,
// that is its own clients' publishes). A replicated stream needs that.
func (svc *Service) subscribeSubject(s *stream, subj string) (func(), error) {
	rs, ok := svc.broker.(routedSubscriber)
	if ok {
		return rs.SubscribeRouted(subj, s.onPublish)
	}
	if s.repl != nil {
		return nil, errors.New("the broker cannot subscribe across the cluster")
	}
	return svc.broker.Subscribe(subj, "", s.onPublish)
}

// resubscribe makes s's subscriptions match subjects, keeping unchanged
// ones so no message on them is missed during an update.
func (svc *Service) resubscribe(s *stream, subjects []string) error {
	keep := map[string]bool{}
	for _, subj := range subjects {
		keep[subj] = true
	}
	for subj, cancel := range s.cancels {
		if !keep[subj] {
			cancel()
			delete(s.cancels, subj)
		}
	}
	return svc.subscribe(s, subjects)
}

func (svc *Service) unsubscribeAll(s *stream) {
	svc.copiers.drop(s)
	for subj, cancel := range s.cancels {
		cancel()
		delete(s.cancels, subj)
	}
}

// streamMeta is the stored form of a stream's definition.
type streamMeta struct {
	ID      uint32    `json:"id"`
	Created time.Time `json:"created"`
	Config  Config    `json:"config"`
	// Group is a replicated stream's raft group (replica.go).
	Group uint64 `json:"group,omitempty"`
}

func newStream(svc *Service, st Store, meta *streamMeta) *stream {
	nameJSON, _ := json.Marshal(meta.Config.Name)
	s := &stream{
		svc: svc, st: st, id: meta.ID, name: meta.Config.Name, nameJSON: nameJSON,
		created: meta.Created, cfg: meta.Config, group: meta.Group,
		subjects: map[string]*subjState{},
	}
	if meta.Group != 0 {
		s.repl = newReplica(s, st, meta.Group)
		s.st = s.repl
	}
	s.setShaping(&s.cfg)
	return s
}

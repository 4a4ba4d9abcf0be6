package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nuid"

	"github.com/wisp-mq/wisp/sublist"
)

// ErrServerClosed is returned by Start after Shutdown.
var ErrServerClosed = errors.New("server: closed")

// Server is one Wisp message server. Create it with New, run it with Start,
// stop it with Shutdown.
type Server struct {
	// opts are the options the server started with. Reload never changes
	// them; it swaps cur, which is what the server acts on.
	opts  *Options
	cur   atomic.Pointer[Options]
	log   *slog.Logger
	id    string
	name  string
	start time.Time
	// sl is the global account's sublist.
	sl     *sublist.Sublist[*subscription]
	global *account
	// sysAcc is the system account (system.go), set by New; sysp its
	// running services, set by Start.
	sysAcc *account
	sysp   atomic.Pointer[sysPlane]
	// reloaded is when the last reload took effect (unix nanoseconds), 0
	// before any.
	reloaded atomic.Int64
	// accountsGen counts the account sets install has put in force; a
	// route looks again for an account it found missing once it changes.
	accountsGen atomic.Uint64
	auth        atomic.Pointer[authenticator]
	authLog     authLog
	// protoLog rate-limits the log lines for protocol errors of clients
	// and of peers on the route port.
	protoLog logLimiter
	// reloadMu serialises Reload and lame-duck mode.
	reloadMu sync.Mutex
	// reloader rereads the configuration for $SYS.REQ.SERVER.<id>.RELOAD
	// (system_control.go); set by SetReloader.
	reloader atomic.Pointer[func() error]

	mu         sync.Mutex
	ln         net.Listener
	conns      map[uint64]*conn
	ext        map[uint64]func() ConnSnapshot // other protocols' connections (external.go)
	closed     bool
	ldm        bool                // in lame-duck mode
	accounts   map[string]*account // named accounts, not the global one
	importSubs []*subscription     // internal subscriptions made by imports
	// handshaking holds sockets in their TLS handshake, not yet conns,
	// so Shutdown can cut them off.
	handshaking map[net.Conn]struct{}
	httpStop    func(context.Context) error
	httpAddr    net.Addr
	profStop    func(context.Context) error
	profAddr    net.Addr

	// ws is the WebSocket port (websocket.go), nil when it is off. Set
	// by Start.
	ws *wsServer

	// cl is the cluster (routes to other servers), nil when clustering is
	// off. Set by Start.
	cl *cluster
	// earlyRouted are the SubscribeRouted subscriptions made before Start
	// set cl (a stream layer recovering its consumers opens before the
	// server starts): startCluster counts them in the cluster's interest.
	// Guarded by mu, as is their closed flag's change.
	earlyRouted []*subscription
	// clusterHandlers are the cluster-internal channels' handlers
	// (cluster_internal.go); clusterMu serializes their changes.
	clusterHandlers clusterHandlerMap
	clusterMu       sync.Mutex
	// serverRequests are the handlers of requests other servers send to
	// an account (server_request.go), by account; under clusterMu.
	serverRequests map[*account]func(subject, reply string, data []byte)
	// metaStepDown is the meta leader step-down (system_meta.go).
	metaStepDown atomic.Pointer[func(context.Context) error]
	// serverRemove removes a server from the cluster (system_server_remove.go).
	serverRemove atomic.Pointer[func(ctx context.Context, name, peerID string) error]

	// tls is the TLS setup for new connections, nil when TLS is off.
	tls atomic.Pointer[tlsState]

	nextCID atomic.Uint64

	wg    sync.WaitGroup // accept loop and connection goroutines
	stats counters
}

// counters are the server-wide totals. Connections fold their own counts in
// once per read, so these atomics are touched once per read, not per message.
type counters struct {
	inMsgs, inBytes   atomic.Int64
	outMsgs, outBytes atomic.Int64
	totalConns        atomic.Int64
	slowConsumers     atomic.Int64
	authFailures      atomic.Int64
	protoErrors       [numProtoErrKinds]atomic.Int64
}

// New checks the options and prepares a server; nothing listens until Start.
func New(opts *Options, log *slog.Logger) (*Server, error) {
	if opts == nil {
		opts = DefaultOptions()
	}
	o := *opts
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("server: invalid options: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:  &o,
		log:   log,
		id:    nuid.Next(),
		conns: make(map[uint64]*conn),

		handshaking: make(map[net.Conn]struct{}),
	}
	s.global = newAccount(s, GlobalAccount)
	s.sl = s.global.sl
	cur := o
	s.cur.Store(&cur)
	set, err := s.accountsFor(&o)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.install(set, &o)
	s.setupSystemAccount(set, &o)
	s.auth.Store(newAuthenticator(&o, set))
	if o.TLS != nil {
		cfg, err := buildTLSConfig(o.TLS)
		if err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		s.tls.Store(&tlsState{cfg: cfg, opts: *o.TLS})
	}
	s.name = o.ServerName
	if s.name == "" {
		s.name = s.id
	}
	return s, nil
}

// Start begins listening on the client port (and the monitoring port when
// configured) and returns once connections are being accepted.
func (s *Server) Start() error {
	if err := s.startListening(); err != nil {
		return err
	}
	if s.cl != nil {
		s.HandleCluster(chanDeliver, s.onRemoteDelivery)
		s.HandleCluster(chanRequest, s.onServerRequest)
	}
	if err := s.startSystem(); err != nil {
		s.Shutdown(context.Background())
		return err
	}
	return nil
}

func (s *Server) startListening() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrServerClosed
	}
	if s.ln != nil {
		return errors.New("server: already started")
	}
	port := s.opts.Port
	if port < 0 {
		port = 0
	}
	addr := net.JoinHostPort(s.opts.Host, strconv.Itoa(port))
	ln, err := listen(ListenerClient, addr)
	if err != nil {
		return err
	}
	s.ln = ln
	s.start = time.Now()
	if s.opts.HTTPPort != 0 {
		stop, err := s.startMonitoring()
		if err != nil {
			ln.Close()
			s.ln = nil
			return err
		}
		s.httpStop = stop
	}
	if s.opts.ProfPort != 0 {
		stop, err := s.startProfiling()
		if err != nil {
			if s.httpStop != nil {
				s.httpStop(context.Background())
				s.httpStop = nil
			}
			ln.Close()
			s.ln = nil
			return err
		}
		s.profStop = stop
	}
	s.log.Info("listening for client connections", "addr", ln.Addr().String(), "server_id", s.id, "version", Version)
	if err := s.startWebsocketLocked(); err != nil {
		s.stopListenersLocked()
		return err
	}
	if s.opts.Cluster.Enabled() {
		if err := s.startCluster(); err != nil {
			s.stopListenersLocked()
			return err
		}
	}
	s.wg.Add(1)
	go s.acceptLoop(ln)
	return nil
}

// stopListenersLocked undoes a Start that failed after the client port
// opened. Called with s.mu held.
func (s *Server) stopListenersLocked() {
	s.ln.Close()
	s.ln = nil
	if s.ws != nil {
		s.ws.hs.Close()
		s.ws = nil
	}
	if s.httpStop != nil {
		s.httpStop(context.Background())
		s.httpStop = nil
	}
	if s.profStop != nil {
		s.profStop(context.Background())
		s.profStop = nil
	}
	s.httpAddr, s.profAddr = nil, nil
}

// Addr is the client listener's address, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// ClientURL is a nats:// URL for reaching this server from the local machine.
func (s *Server) ClientURL() string {
	a, ok := s.Addr().(*net.TCPAddr)
	if !ok {
		return ""
	}
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "nats://" + net.JoinHostPort(host, strconv.Itoa(a.Port))
}

// ID is the server's unique id, as sent in INFO.
func (s *Server) ID() string { return s.id }

// Name is the server's name, as sent in INFO.
func (s *Server) Name() string { return s.name }

// Options returns a copy of the options in force (after any reload).
func (s *Server) Options() Options { return *s.cur.Load() }

// o is the options in force; never modified, only replaced by a reload.
func (s *Server) o() *Options { return s.cur.Load() }

func (s *Server) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off instead of
			// spinning, as a temporary condition may pass.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.addConn(nc)
	}
}

// tlsState is the TLS setup new connections get.
type tlsState struct {
	cfg  *tls.Config
	opts TLSOptions
}

// addConn takes a freshly accepted socket: a TLS connection first goes
// through its handshake on its own goroutine, a plain one is registered.
func (s *Server) addConn(nc net.Conn) {
	c := newConn(s, nc, s.nextCID.Add(1))
	if ts := s.tls.Load(); ts != nil {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.handshaking[nc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.secure(c, ts.cfg, &ts.opts)
		return
	}
	s.register(c)
}

// register adds a connection that is ready to speak the protocol and starts
// its reader and writer; past max_connections it is told so and closed.
func (s *Server) register(c *conn) {
	nc := c.nc
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	full := len(s.conns)+len(s.ext) >= s.o().MaxConnections
	if !full {
		s.conns[c.id] = c
	}
	s.mu.Unlock()
	s.stats.totalConns.Add(1)
	if full {
		s.log.Warn("maximum connections exceeded", "client", nc.RemoteAddr().String(), "max", s.o().MaxConnections)
	}
	s.wg.Add(2)
	go c.writeLoop()
	go c.readLoop(full)
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c.id)
	s.mu.Unlock()
}

// Shutdown stops accepting, lets every connection flush what it has pending,
// closes them, and waits for their goroutines until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	started := s.ln != nil
	ln := s.ln
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	httpStop, profStop := s.httpStop, s.profStop
	for raw := range s.handshaking {
		raw.Close()
	}
	s.mu.Unlock()

	if started {
		s.stopSystem()
	}
	if ln != nil {
		ln.Close()
	}
	s.stopWebsocket()
	if s.cl != nil {
		conns = append(conns, s.cl.shutdown()...)
	}
	var errs []error
	if httpStop != nil {
		if err := httpStop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("server: stop monitoring: %w", err))
		}
	}
	if profStop != nil {
		if err := profStop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("server: stop profiling: %w", err))
		}
	}
	for _, c := range conns {
		c.close(closeServerShutdown, "")
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		// Connections that cannot flush in time are cut off.
		for _, c := range conns {
			c.raw.Close()
		}
		<-done
		errs = append(errs, fmt.Errorf("server: shutdown: %w", ctx.Err()))
	}
	s.log.Info("server stopped")
	return errors.Join(errs...)
}

// configLoadTime is when the configuration in force was loaded: the
// start, or the last reload.
func (s *Server) configLoadTime() time.Time {
	if n := s.reloaded.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return s.start
}

// NumConnections is the number of open client connections, those of
// other protocols (MQTT) included.
func (s *Server) NumConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns) + len(s.ext)
}

// NumSubscriptions is the number of subscriptions held in every account,
// internal ones included (those that imports and the system plane make
// are not counted).
func (s *Server) NumSubscriptions() int {
	s.mu.Lock()
	n := s.sl.Count() - countIn(s.importSubs, s.global)
	for _, a := range s.accounts {
		if a != s.global {
			n += a.sl.Count() - countIn(s.importSubs, a)
		}
	}
	s.mu.Unlock()
	return n - s.sysSubCount()
}

func countIn(subs []*subscription, a *account) int {
	n := 0
	for _, sub := range subs {
		if sub.acc == a {
			n++
		}
	}
	return n
}

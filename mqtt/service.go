package mqtt

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"
)

// Options configures the MQTT listener. Zero values take the defaults
// below, which are nats-server's.
type Options struct {
	Host string // default 0.0.0.0
	Port int    // default 1883; -1 picks a free port
	TLS  *tls.Config
	// TLSTimeout bounds a client's TLS handshake; default 2s.
	TLSTimeout time.Duration

	// AckWait is how long a QoS 1 message waits for its PUBACK before it
	// is sent again with DUP set. Default 30s.
	AckWait time.Duration
	// MaxAckPending caps the QoS 1 messages a subscription has waiting
	// for PUBACK (at most 65535). Default 1024.
	MaxAckPending int
	// ConsumerMemoryStorage keeps the subscriptions' consumer state in
	// memory; ConsumerInactiveThreshold deletes a consumer nobody has read
	// from for that long (0: never).
	ConsumerMemoryStorage     bool
	ConsumerInactiveThreshold time.Duration
	// APITimeout bounds each request to the stream layer. Default 5s.
	APITimeout time.Duration
	// RejectQoS2Publish closes a client that publishes with QoS 2 instead
	// of serving it.
	RejectQoS2Publish bool
	// DowngradeQoS2Subscribe grants QoS 1 to a QoS 2 subscription instead
	// of delivering with the QoS 2 exchange.
	DowngradeQoS2Subscribe bool

	// From the server's own settings.
	MaxPayload    int           // largest PUBLISH payload; default 1 MiB
	MaxPending    int64         // outbound bytes per client; default 64 MiB
	WriteDeadline time.Duration // default 10s
	AuthTimeout   time.Duration // time allowed for CONNECT; default 2s

	Log *slog.Logger
}

// Defaults, as nats-server's MQTT.
const (
	DefaultPort          = 1883
	DefaultAckWait       = 30 * time.Second
	DefaultMaxAckPending = 1024
	DefaultAPITimeout    = 5 * time.Second
	// MaxAckPendingLimit is the most a subscription may have in flight:
	// packet identifiers are 16 bits.
	MaxAckPendingLimit = 65535
)

// Validate fills in defaults and refuses values out of range.
func (o *Options) Validate() error {
	if o.Host == "" {
		o.Host = "0.0.0.0"
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Port < -1 || o.Port > 65535 {
		return fmt.Errorf("mqtt: port %d out of range", o.Port)
	}
	if o.AckWait < 0 {
		return fmt.Errorf("mqtt: ack_wait %v is negative", o.AckWait)
	}
	if o.AckWait == 0 {
		o.AckWait = DefaultAckWait
	}
	if o.MaxAckPending < 0 || o.MaxAckPending > MaxAckPendingLimit {
		return fmt.Errorf("mqtt: max_ack_pending %d out of range [0..%d]", o.MaxAckPending, MaxAckPendingLimit)
	}
	if o.MaxAckPending == 0 {
		o.MaxAckPending = DefaultMaxAckPending
	}
	if o.ConsumerInactiveThreshold < 0 {
		return fmt.Errorf("mqtt: consumer_inactive_threshold %v is negative", o.ConsumerInactiveThreshold)
	}
	if o.APITimeout <= 0 {
		o.APITimeout = DefaultAPITimeout
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = 1 << 20
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 64 << 20
	}
	if o.WriteDeadline <= 0 {
		o.WriteDeadline = 10 * time.Second
	}
	if o.AuthTimeout <= 0 {
		o.AuthTimeout = 2 * time.Second
	}
	if o.TLSTimeout <= 0 {
		o.TLSTimeout = 2 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Service is the MQTT listener and its clients.
type Service struct {
	opts Options
	host Host
	log  *slog.Logger
	ln   net.Listener

	mu       sync.Mutex
	accounts map[string]*accountState
	conns    map[*conn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// New checks opts and prepares a service; Start listens.
func New(opts Options, host Host) (*Service, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if host == nil {
		return nil, errors.New("mqtt: no host")
	}
	return &Service{opts: opts, host: host, log: opts.Log, accounts: map[string]*accountState{}, conns: map[*conn]struct{}{}}, nil
}

// Start binds the listener and accepts clients in the background.
func (s *Service) Start() error {
	port := s.opts.Port
	if port == -1 {
		port = 0
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(s.opts.Host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("mqtt: listen: %w", err)
	}
	if s.opts.TLS != nil {
		ln = tls.NewListener(ln, s.opts.TLS)
	}
	s.ln = ln
	s.log.Info("listening for MQTT clients", "addr", ln.Addr().String(), "tls", s.opts.TLS != nil)
	s.wg.Add(1)
	go s.accept()
	return nil
}

// Addr is the listener's address (after Start).
func (s *Service) Addr() net.Addr { return s.ln.Addr() }

func (s *Service) accept() {
	defer s.wg.Done()
	delay := 5 * time.Millisecond
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.isClosed() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(delay)
				delay = min(2*delay, time.Second)
				continue
			}
			s.log.Error("mqtt accept failed", "err", err)
			return
		}
		delay = 5 * time.Millisecond
		c := newConn(s, nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.run()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

func (s *Service) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close stops accepting, closes every client (their sessions stay in the
// stream layer; wills are not sent, as for a server going away) and waits
// for them.
func (s *Service) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
	}
	for _, c := range conns {
		c.noWill.Store(true)
		c.shutdown()
	}
	s.wg.Wait()
	s.mu.Lock()
	for _, a := range s.accounts {
		if a.js != nil {
			a.js.close()
		}
	}
	s.mu.Unlock()
}

// accountState is the MQTT layer's state in one account: its API client,
// its streams (made once) and its connected clients by client id.
type accountState struct {
	svc  *Service
	name string
	b    Broker
	pm   MsgPublisher // b, when it can publish from the caller's buffers; else nil
	js   *jsClient

	mu      sync.Mutex
	ready   bool
	clients map[string]*conn
}

// account returns the state of a login's account, creating its streams
// the first time.
func (s *Service) account(l Login) (*accountState, error) {
	s.mu.Lock()
	a := s.accounts[l.Account]
	if a == nil {
		js, err := newJSClient(l.Broker, s.opts.APITimeout)
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		a = &accountState{svc: s, name: l.Account, b: l.Broker, js: js, clients: map[string]*conn{}}
		a.pm, _ = l.Broker.(MsgPublisher)
		s.accounts[l.Account] = a
	}
	s.mu.Unlock()
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.ready {
		if err := a.ensureStreams(); err != nil {
			return nil, err
		}
		a.ready = true
	}
	return a, nil
}

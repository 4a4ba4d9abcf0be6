package server

// The HTTP monitoring listener: JSON endpoints in the nats-server style
// (/healthz, /varz, /connz, /subsz, /jsz), Prometheus metrics (/metrics) and
// the web console (/). One file per endpoint: monitor_varz.go and so on.
//
// Everything here reads the server through its snapshot methods (Stats,
// Conns, Subscriptions, NumConnections) at request time. The message path
// pays nothing for monitoring: its counters are the ones it already folds
// in once per read, and no endpoint takes a lock the message path holds for
// longer than a snapshot's short mutex hold.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Used by trace.go; they were declared here first.
var (
	jsonUnmarshal = json.Unmarshal
	jsonMarshal   = json.Marshal
)

// monitor is the monitoring state that belongs to one Server. Server has no
// field for it (server.go is not this file's to change), so it lives in
// monitors, keyed by server, from the first use until the monitoring
// listener stops. A field on Server would be tidier.
type monitor struct {
	reporter atomic.Pointer[jsReporter]
	cpu      cpuSampler
	handler  http.Handler // the whole mux, kept for tests
	console  *consoleState
}

// jsReporter boxes the reporter function for an atomic pointer.
type jsReporter struct {
	fn func() (JetStreamReport, error)
}

var monitors sync.Map // *Server → *monitor

// monitor returns the server's monitoring state, creating it on first use.
func (s *Server) monitor() *monitor {
	if m := s.monitorIfAny(); m != nil {
		return m
	}
	m, _ := monitors.LoadOrStore(s, &monitor{})
	return m.(*monitor)
}

// monitorIfAny returns the server's monitoring state, or nil when there is
// none (readers use this so that they never recreate it after a stop).
func (s *Server) monitorIfAny() *monitor {
	if m, ok := monitors.Load(s); ok {
		return m.(*monitor)
	}
	return nil
}

// startMonitoring serves the HTTP monitoring endpoints and returns a stop
// function. Called from Start with s.mu held.
func (s *Server) startMonitoring() (func(context.Context) error, error) {
	port := s.opts.HTTPPort
	if port < 0 {
		port = 0
	}
	addr := net.JoinHostPort(s.opts.HTTPHost, strconv.Itoa(port))
	ln, err := listen(ListenerMonitoring, addr)
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if s.opts.HTTPTLS != nil {
		cfg, err := buildTLSConfig(s.opts.HTTPTLS)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("http.%w", err)
		}
		ln, scheme = tls.NewListener(ln, cfg), "https"
	}
	s.httpAddr = ln.Addr()
	m := s.monitor()
	m.cpu.init()
	m.console = newConsoleState()
	mux := http.NewServeMux()
	s.registerMonitoring(mux)
	s.registerConsoleAPI(mux, m.console)
	m.handler = mux
	hs := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		// net/http's own complaints (TLS handshakes that fail, say) go to
		// the server's log, at debug level: clients cause them.
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		IdleTimeout: 2 * time.Minute,
	}
	stopHistory := make(chan struct{})
	go s.runChartHistory(m.console.history, stopHistory)
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("monitoring server failed", "err", err)
		}
	}()
	s.log.Info("listening for monitoring requests", "addr", ln.Addr().String(), "scheme", scheme)
	s.warnOpenConsole()
	stop := func(ctx context.Context) error {
		close(stopHistory)
		err := hs.Shutdown(ctx)
		monitors.Delete(s)
		return err
	}
	return stop, nil
}

// MonitorAddr is the monitoring listener's address, or nil when it is off.
func (s *Server) MonitorAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.httpAddr
}

// registerMonitoring adds every monitoring route to mux.
func (s *Server) registerMonitoring(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /varz", s.handleVarz)
	mux.HandleFunc("GET /connz", s.handleConnz)
	mux.HandleFunc("GET /subsz", s.handleSubsz)
	mux.HandleFunc("GET /routez", s.handleRoutez)
	mux.HandleFunc("GET /jsz", s.handleJsz)
	mux.Handle("GET /metrics", s.metricsHandler())
	s.registerConsole(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such page: "+r.URL.Path)
	})
}

// apiError is the body of every 4xx/5xx JSON answer.
type apiError struct {
	Error string `json:"error"`
}

// writeJSON sends v, indented for people reading with curl.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(apiError{Error: "encoding response: " + err.Error()})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// writeError sends {"error": msg} with status.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Error: msg})
}

// errBadQuery marks a query parameter problem; handlers answer 400.
var errBadQuery = errors.New("bad query parameter")

// The parsers of query parameters take url.Values so that the $SYS
// requests (system_requests.go), whose options arrive as JSON, are turned
// into the same values and answered by the same code.

// pageParams are the offset and limit shared by /connz and /subsz.
type pageParams struct {
	offset, limit int
}

// defaultLimit is nats-server's default page size for /connz and /subsz.
const defaultLimit = 1024

// parsePage reads offset (default 0) and limit (default 1024).
func parsePage(q url.Values) (pageParams, error) {
	p := pageParams{limit: defaultLimit}
	var err error
	if p.offset, err = intParam(q, "offset", 0); err != nil {
		return p, err
	}
	if p.limit, err = intParam(q, "limit", defaultLimit); err != nil {
		return p, err
	}
	if p.limit == 0 { // as nats-server: no limit given means the default
		p.limit = defaultLimit
	}
	return p, nil
}

// intParam reads a non-negative integer parameter, def when absent.
func intParam(q url.Values, name string, def int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%w: %s=%q is not a number", errBadQuery, name, v)
	}
	if n < 0 {
		return 0, fmt.Errorf("%w: %s=%d must not be negative", errBadQuery, name, n)
	}
	return n, nil
}

// boolParam reads a flag given as 1/0/true/false; absent is false.
func boolParam(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%w: %s=%q is not 1, 0, true or false", errBadQuery, name, v)
	}
	return b, nil
}

// bounds cuts the window [offset, offset+limit) out of n items.
func (p pageParams) bounds(n int) (lo, hi int) {
	lo = min(p.offset, n)
	hi = min(lo+p.limit, n)
	return lo, hi
}

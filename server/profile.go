package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"
)

// The profiling listener serves Go's pprof endpoints under /debug/pprof/ on
// prof_port, as nats-server does. It is a listener of its own, never the
// monitoring port: profiles show internals and cost CPU while taken, so an
// operator opens the port on purpose and firewalls it like an admin port.

// startProfiling serves /debug/pprof/ and returns a stop function. Called
// from Start with s.mu held.
func (s *Server) startProfiling() (func(context.Context) error, error) {
	port := max(s.opts.ProfPort, 0)
	addr := net.JoinHostPort(s.opts.HTTPHost, strconv.Itoa(port))
	ln, err := listen(ListenerProfiling, addr)
	if err != nil {
		return nil, err
	}
	s.profAddr = ln.Addr()
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // also heap, goroutine, block...
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// No WriteTimeout: a CPU profile or trace streams for as long as asked.
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("profiling server failed", "err", err)
		}
	}()
	s.log.Info("listening for profiling requests", "addr", ln.Addr().String())
	return hs.Shutdown, nil
}

// ProfAddr is the profiling listener's address, or nil when it is off.
func (s *Server) ProfAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.profAddr
}

package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

var (
	jsonUnmarshal = json.Unmarshal
	jsonMarshal   = json.Marshal
)

// startMonitoring serves the HTTP monitoring endpoints and returns a stop
// function. Called from Start with s.mu held.
func (s *Server) startMonitoring() (func(context.Context) error, error) {
	port := s.opts.HTTPPort
	if port < 0 {
		port = 0
	}
	addr := net.JoinHostPort(s.opts.HTTPHost, strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("server: monitoring listen on %s: %w", addr, err)
	}
	s.httpAddr = ln.Addr()
	mux := http.NewServeMux()
	s.registerMonitoring(mux)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("monitoring server failed", "err", err)
		}
	}()
	s.log.Info("listening for monitoring requests", "addr", ln.Addr().String())
	return hs.Shutdown, nil
}

// MonitorAddr is the monitoring listener's address, or nil when it is off.
func (s *Server) MonitorAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.httpAddr
}

func (s *Server) registerMonitoring(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}`))
	})
}

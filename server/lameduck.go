package server

import (
	"context"
	"time"
)

// Lame-duck mode defaults, as in nats-server.
const (
	DefaultLameDuckDuration    = 2 * time.Minute
	DefaultLameDuckGracePeriod = 10 * time.Second
)

// LameDuck takes the server out of service gently, for a restart or an
// upgrade behind a cluster or a client list with several servers:
//
//  1. it stops accepting connections;
//  2. it sends every client an INFO with "ldm": true, on which nats.go calls
//     its LameDuckModeHandler and clients with other servers move there;
//  3. after lame_duck_grace_period it closes the connections that remain,
//     spread evenly over the rest of lame_duck_duration so that they do not
//     all reconnect elsewhere at the same instant;
//  4. it shuts down, as Shutdown does.
//
// It returns when the server has stopped, or early with ctx's error (the
// server is then shut down at once).
func (s *Server) LameDuck(ctx context.Context) error {
	s.mu.Lock()
	if s.closed || s.ldm {
		s.mu.Unlock()
		return nil
	}
	s.ldm = true
	ln := s.ln
	s.mu.Unlock()
	o := s.o()
	s.log.Info("entering lame-duck mode", "duration", o.LameDuckDuration, "grace_period", o.LameDuckGracePeriod)
	if ln != nil {
		ln.Close() // the accept loop ends; no new connections
	}
	s.stopWebsocket()
	s.sendLameDuckEvent()
	conns := s.connList()
	for _, c := range conns {
		c.out.enqueue(c.infoLine())
		c.out.kickWriter()
	}
	if s.cl != nil {
		// The other servers drop this one's client URL from the
		// connect_urls they give their clients.
		for _, r := range s.cl.registered() {
			r.sendInfo()
		}
	}
	wait := func(d time.Duration) bool {
		if d <= 0 {
			return true
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if !wait(o.LameDuckGracePeriod) {
		return s.shutdownNow(ctx)
	}
	conns = s.connList()
	n := len(conns)
	if n > 0 {
		spread := o.LameDuckDuration - o.LameDuckGracePeriod
		// Close in batches no closer together than 10ms.
		const minGap = 10 * time.Millisecond
		batches := n
		if spread > 0 && spread/time.Duration(batches) < minGap {
			batches = max(1, int(spread/minGap))
		}
		if spread <= 0 {
			batches = 1
		}
		per := (n + batches - 1) / batches
		gap := time.Duration(0)
		if batches > 1 {
			gap = spread / time.Duration(batches)
		}
		s.log.Info("lame-duck mode: closing connections", "connections", n, "over", spread)
		for i := 0; i < n; i += per {
			for _, c := range conns[i:min(i+per, n)] {
				c.close(closeServerShutdown, "")
			}
			if i+per < n && !wait(gap) {
				return s.shutdownNow(ctx)
			}
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Shutdown(sctx)
}

// shutdownNow ends lame-duck mode early.
func (s *Server) shutdownNow(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.Shutdown(sctx)
	return ctx.Err()
}

// InLameDuckMode reports whether LameDuck has been called.
func (s *Server) InLameDuckMode() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ldm
}

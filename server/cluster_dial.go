package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"time"
)

// Dialling: every seed, and every server learned by gossip, has a dial
// loop that keeps one route to it (see cluster.go for who keeps which).

// startDial starts a dial loop for u unless one serves its address
// already. id is the server expected there when learned by gossip, "" for
// a seed.
func (cl *cluster) startDial(u *url.URL, seed bool, id string) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.closed || cl.dialing[u.Host] || u.Host == cl.routeURL {
		return
	}
	cl.dialing[u.Host] = true
	cl.s.wg.Add(1)
	go cl.dialLoop(u, seed, id)
}

// dialLoop keeps a route to u: dials, waits for the route to end, and
// dials again after a jittered backoff. A seed is dialled for ever; a
// server learned by gossip (id) for as long as another server of the
// cluster still has a route to it, or else connect_retries times, so that
// a cut link heals by itself and a server that is gone is forgotten.
func (cl *cluster) dialLoop(u *url.URL, seed bool, id string) {
	defer cl.s.wg.Done()
	defer func() {
		cl.mu.Lock()
		delete(cl.dialing, u.Host)
		cl.mu.Unlock()
	}()
	log := cl.s.log
	failures := 0
	delay := routeDialMin
	for {
		// A route to the server at u may exist already (it dialled us):
		// dialling again would only make a duplicate to settle.
		cl.mu.Lock()
		existing := cl.routeTo(u.Host)
		cl.mu.Unlock()
		if existing != nil {
			if !cl.wait(existing.done) {
				return
			}
			failures, delay = 0, routeDialMin
		}
		nc, raw, err := cl.dial(u)
		if err != nil {
			failures++
			if !seed && failures > cl.opts.ConnectRetries && !cl.reachableByOthers(id) {
				log.Info("giving up on a route learned by gossip", "addr", u.Host, "attempts", failures)
				return
			}
			level := slog.LevelDebug
			if errors.Is(err, errRouteTLS) {
				level = slog.LevelWarn // a configuration problem, not a peer away
			}
			log.Log(context.Background(), level, "route dial failed", "addr", u.Host, "err", err, "attempt", failures)
		} else {
			r := cl.startRoute(nc, u, raw)
			if r == nil {
				return
			}
			if !cl.wait(r.done) {
				return
			}
			cl.mu.Lock()
			outcome, id, up := r.outcome, r.remote.ServerID, time.Since(r.started)
			other := cl.routes[id]
			cl.mu.Unlock()
			switch outcome {
			case routeSelf:
				log.Debug("route seed is this server", "addr", u.Host)
				return
			case routeDuplicate:
				if !seed && other != nil {
					return // the other route serves; its dialler keeps it
				}
			}
			if other != nil { // the peer dialled us meanwhile: keep watch
				if !cl.wait(other.done) {
					return
				}
			}
			switch {
			case !r.gotInfo: // read after done: the reader has ended
				// Connected but no handshake: as good as a failed dial.
				failures++
				if !seed && failures > cl.opts.ConnectRetries && !cl.reachableByOthers(id) {
					log.Info("giving up on a route learned by gossip", "addr", u.Host, "attempts", failures)
					return
				}
			case up > routeDialMax:
				failures, delay = 0, routeDialMin
			}
		}
		var d time.Duration
		d, delay = redialWait(delay)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-cl.stop:
			t.Stop()
			return
		}
	}
}

// redialWait is how long to wait before the next dial, drawn from the
// window delay, and the window after it: full jitter over a window that
// doubles up to routeDialMax, so that servers restarting together do not
// dial in lockstep, and a peer away for long is not dialled in a tight
// loop.
func redialWait(delay time.Duration) (wait, next time.Duration) {
	return routeDialMin/2 + rand.N(delay), min(2*delay, routeDialMax)
}

// errRouteTLS marks a dial that connected but failed its TLS handshake.
var errRouteTLS = errors.New("route TLS handshake failed")

// dial connects to a route port, with TLS when routes use it; raw is the
// socket under a TLS connection, else nc itself.
func (cl *cluster) dial(u *url.URL) (nc, raw net.Conn, err error) {
	raw, err = net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil || cl.tls == nil {
		return raw, raw, err
	}
	nc, err = cl.tls.secure(raw, u)
	if err != nil {
		raw.Close()
		return nil, nil, fmt.Errorf("%w: %v", errRouteTLS, err)
	}
	return nc, raw, nil
}

// wait blocks until ch is closed, or returns false when the cluster stops.
func (cl *cluster) wait(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-cl.stop:
		return false
	}
}

// routeTo returns the registered route to the server advertising the route
// address host:port, or nil. Called with mu held.
func (cl *cluster) routeTo(host string) *route {
	for _, r := range cl.routes {
		if r.remote.RouteURL == host {
			return r
		}
	}
	return nil
}

// reachableByOthers reports whether a registered route's peer says it has
// a route to the server id.
func (cl *cluster) reachableByOthers(id string) bool {
	if id == "" {
		return false
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, r := range cl.routes {
		for _, p := range r.remote.Peers {
			if p.ID == id {
				return true
			}
		}
	}
	return false
}

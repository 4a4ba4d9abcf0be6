package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// cluster joins this server to the other servers of a full mesh. Each pair
// of servers shares exactly one route; a message crosses at most one route,
// and only to a server with matching interest (see interest.go and
// forward.go).
//
// Routes are found by gossip: every server dials its seeds (Options.Cluster.
// Routes), and each route's INFO lists the servers the sender already has
// routes to, which the receiver dials in turn. When two servers dial each
// other at the same time, both keep the connection dialled by the server
// with the smaller id and close the other, so each side settles on the
// same one without another round trip.
//
// The server that dialled a route redials it when it drops, with a jittered
// backoff: a seed for ever, a server learned by gossip up to
// connect_retries times in a row.
type cluster struct {
	s    *Server
	opts ClusterOptions
	ln   net.Listener
	// tls is the routes' TLS setup, nil when routes are plain text.
	tls *routeTLS
	// routeURL is host:port where this server accepts routes, as told to
	// other servers.
	routeURL string

	mu sync.Mutex
	// routes are the registered routes, by the peer's server id.
	routes map[string]*route
	// conns are all route connections, registered or in their handshake.
	conns map[*route]struct{}
	// dialing holds the route addresses (host:port) a dial loop serves.
	dialing map[string]bool
	// known are the servers heard of by gossip: id to route URL.
	known map[string]routePeer
	// interest counts the local client subscriptions per account, subject
	// and queue (interest.go).
	interest map[*account]map[interestKey]int32
	closed   bool
	stop     chan struct{}

	slowRoutes atomic.Int64
}

// startCluster opens the route port and starts dialling the seeds. Called
// by Start once the client port is open, with s.mu held.
func (s *Server) startCluster() error {
	o := s.opts.Cluster
	var rt *routeTLS
	if o.TLS != nil {
		var err error
		if rt, err = buildRouteTLS(o.TLS); err != nil {
			return fmt.Errorf("server: %w", err)
		}
	}
	addr := net.JoinHostPort(o.Host, strconv.Itoa(max(o.Port, 0)))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return errors.New("server: listen for routes on " + addr + ": " + err.Error())
	}
	cl := newCluster(s, o)
	cl.ln, cl.tls = ln, rt
	cl.routeURL = o.Advertise
	if cl.routeURL == "" {
		cl.routeURL = advertisedAddr(ln.Addr().(*net.TCPAddr), o.Host)
	}
	s.cl = cl
	s.log.Info("listening for route connections", "addr", ln.Addr().String(), "cluster", o.Name, "advertise", cl.routeURL)
	s.wg.Add(1)
	go cl.acceptLoop()
	for _, r := range o.Routes {
		u, _ := ParseRouteURL(r) // checked by Validate
		cl.startDial(u, true, "")
	}
	return nil
}

// newCluster makes the cluster's state; startCluster adds the listener.
func newCluster(s *Server, o ClusterOptions) *cluster {
	return &cluster{
		s:        s,
		opts:     o,
		routes:   make(map[string]*route),
		conns:    make(map[*route]struct{}),
		dialing:  make(map[string]bool),
		known:    make(map[string]routePeer),
		interest: make(map[*account]map[interestKey]int32),
		stop:     make(chan struct{}),
	}
}

// advertisedAddr is host:port for reaching a listener: its own address,
// or this machine's first non-loopback address when it listens on all of
// them (and 127.0.0.1 when there is none).
func advertisedAddr(a *net.TCPAddr, host string) string {
	port := strconv.Itoa(a.Port)
	if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
		if host == "" {
			host = "127.0.0.1"
		}
		return net.JoinHostPort(host, port)
	}
	if ips := localIPs(); len(ips) > 0 {
		return net.JoinHostPort(ips[0], port)
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// localIPs lists this machine's non-loopback unicast addresses.
func localIPs() []string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.IsGlobalUnicast() {
			out = append(out, n.IP.String())
		}
	}
	return out
}

func (cl *cluster) acceptLoop() {
	defer cl.s.wg.Done()
	var delay time.Duration
	for {
		nc, err := cl.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if cl.tls == nil {
			cl.startRoute(nc, nil, nc)
			continue
		}
		// The handshake runs on its own goroutine so that a slow peer
		// does not hold up the accept loop.
		cl.s.wg.Add(1)
		go func() {
			defer cl.s.wg.Done()
			tc, err := cl.tls.secure(nc, nil)
			if err != nil {
				cl.s.log.Warn("route TLS handshake failed", "addr", nc.RemoteAddr().String(), "err", err)
				nc.Close()
				return
			}
			cl.startRoute(tc, nil, nc)
		}()
	}
}

// startRoute makes a route of a connected socket (and of the raw socket
// under it, when nc is TLS) and starts its goroutines.
func (cl *cluster) startRoute(nc net.Conn, dialed *url.URL, raw net.Conn) *route {
	s := cl.s
	c := newConn(s, nc, s.nextCID.Add(1))
	if raw != nc {
		c.raw, c.tls = raw, true
	}
	r := newRoute(cl, c, dialed)
	cl.mu.Lock()
	if cl.closed {
		cl.mu.Unlock()
		nc.Close()
		return nil
	}
	cl.conns[r] = struct{}{}
	s.wg.Add(2)
	cl.mu.Unlock()
	go c.writeLoop()
	go c.readLoop(false)
	return r
}

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
				if !seed {
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
		// Full jitter over a doubling window, so that servers restarting
		// together do not dial in lockstep.
		d := routeDialMin/2 + rand.N(delay)
		delay = min(2*delay, routeDialMax)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-cl.stop:
			t.Stop()
			return
		}
	}
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

// checkAuth checks the credentials a dialling server presented.
func (cl *cluster) checkAuth(user, pass string) bool {
	if cl.opts.Username == "" {
		return true
	}
	u := subtle.ConstantTimeCompare([]byte(user), []byte(cl.opts.Username))
	p := passwordMatches(pass, cl.opts.Password)
	return u == 1 && p
}

// info is this server's route INFO.
func (cl *cluster) info() routeInfo {
	s := cl.s
	ri := routeInfo{
		ServerID:     s.id,
		ServerName:   s.name,
		Version:      Version,
		Cluster:      cl.opts.Name,
		Route:        true,
		RouteURL:     cl.routeURL,
		AuthRequired: cl.opts.Username != "",
		MaxPayload:   s.o().MaxPayload,
		LameDuck:     s.InLameDuckMode(),
	}
	if u := s.ownClientURL(); u != "" {
		ri.ClientURLs = []string{u}
	}
	cl.mu.Lock()
	for id, r := range cl.routes {
		ri.Peers = append(ri.Peers, routePeer{ID: id, Name: r.remote.ServerName, RouteURL: r.remote.RouteURL})
	}
	cl.mu.Unlock()
	slices.SortFunc(ri.Peers, func(a, b routePeer) int { return cmpString(a.ID, b.ID) })
	return ri
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// register makes r the route to its peer, or returns the -ERR text that
// refuses it. It settles a race between two routes to the same server.
func (cl *cluster) register(r *route, ri *routeInfo) string {
	s := cl.s
	cl.mu.Lock()
	r.remote = *ri
	if ri.ServerID == s.id {
		r.outcome = routeSelf
		cl.mu.Unlock()
		return errTextRouteSelf
	}
	if ri.ServerName == s.name || cl.nameTaken(ri.ServerName, ri.ServerID) {
		r.outcome = routeRefused
		cl.mu.Unlock()
		s.log.Error("refused a route: server name already in use in the cluster; server names must be unique",
			"name", ri.ServerName, "server_id", ri.ServerID, "addr", r.addr())
		return errTextDuplicateName
	}
	if old := cl.routes[ri.ServerID]; old != nil {
		// A route in use for a while stays: replacing it would drop what
		// is queued on it. Two routes that arrive together (both servers
		// dialled at once) are settled by the dialler's id, which both
		// sides compute alike.
		settled := time.Since(old.registeredAt) > routeSettleTime
		if settled || dialer(cl, old) <= dialer(cl, r) {
			r.outcome = routeDuplicate
			cl.mu.Unlock()
			s.log.Debug("dropped a second route to the same server", "server", ri.ServerName)
			return errTextRouteDuplicate
		}
		old.outcome = routeDuplicate
		old.registered.Store(false)
		old.c.close(closeDuplicateRoute, errTextRouteDuplicate)
	}
	cl.routes[ri.ServerID] = r
	r.registeredAt = time.Now()
	r.registered.Store(true)
	cl.sendAllInterest(r)
	cl.mu.Unlock()
	s.log.Info("route connected", "server", ri.ServerName, "server_id", ri.ServerID, "addr", r.addr(), "dialled", r.dialed != nil)
	cl.gossip(ri)
	return ""
}

// A route to oneself or a duplicate is closed without an -ERR line worth
// showing: these texts only go to the log of the peer.
const (
	errTextRouteSelf      = "Route To Self"
	errTextRouteDuplicate = "Duplicate Route"
)

// routeSettleTime is how long a route must have been in use before a
// second route to the same server is refused outright instead of being
// settled by id: longer than a handshake, shorter than any redial backoff.
const routeSettleTime = time.Second

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

// dialer is the id of the server that dialled r.
func dialer(cl *cluster, r *route) string {
	if r.dialed != nil {
		return cl.s.id
	}
	return r.remote.ServerID
}

// nameTaken reports whether another server of the cluster already uses
// name. Called with mu held.
func (cl *cluster) nameTaken(name, id string) bool {
	for oid, r := range cl.routes {
		if oid != id && r.remote.ServerName == name {
			return true
		}
	}
	return false
}

// gossip tells every route about the current set of servers, dials the
// servers ri knows that this one has no route to, and tells clients about
// the new set of client URLs.
func (cl *cluster) gossip(ri *routeInfo) {
	cl.dialPeers(ri.Peers)
	for _, r := range cl.registered() {
		r.sendInfo()
	}
	cl.s.sendAsyncInfo()
}

// dialPeers starts dialling each peer this server has no route to.
func (cl *cluster) dialPeers(peers []routePeer) {
	for _, p := range peers {
		if p.ID == cl.s.id || p.RouteURL == "" {
			continue
		}
		cl.mu.Lock()
		_, have := cl.routes[p.ID]
		cl.known[p.ID] = p
		cl.mu.Unlock()
		if have {
			continue
		}
		if u, err := ParseRouteURL("nats://" + p.RouteURL); err == nil {
			if seedUser := cl.seedCredentials(); seedUser != nil {
				u.User = seedUser
			}
			cl.startDial(u, false, p.ID)
		}
	}
}

// seedCredentials are the credentials to present to servers learned by
// gossip: those of the first seed that has any, else this server's own
// [cluster.authorization] (a cluster usually shares one).
func (cl *cluster) seedCredentials() *url.Userinfo {
	for _, r := range cl.opts.Routes {
		if u, err := ParseRouteURL(r); err == nil && u.User != nil {
			return u.User
		}
	}
	if cl.opts.Username != "" {
		return url.UserPassword(cl.opts.Username, cl.opts.Password)
	}
	return nil
}

// updatePeer takes a later INFO from a registered route.
func (cl *cluster) updatePeer(r *route, ri *routeInfo) {
	cl.mu.Lock()
	changed := !slices.Equal(r.remote.ClientURLs, ri.ClientURLs) || r.remote.LameDuck != ri.LameDuck
	r.remote.ClientURLs, r.remote.Peers, r.remote.LameDuck = ri.ClientURLs, ri.Peers, ri.LameDuck
	cl.mu.Unlock()
	cl.dialPeers(ri.Peers)
	if changed {
		cl.s.sendAsyncInfo()
	}
}

// registered lists the routes in use.
func (cl *cluster) registered() []*route {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	out := make([]*route, 0, len(cl.routes))
	for _, r := range cl.routes {
		out = append(out, r)
	}
	return out
}

// unregister forgets a closed route.
func (cl *cluster) unregister(r *route) {
	cl.mu.Lock()
	delete(cl.conns, r)
	was := cl.routes[r.remote.ServerID] == r && r.remote.ServerID != ""
	if was {
		delete(cl.routes, r.remote.ServerID)
	}
	r.registered.Store(false)
	cl.mu.Unlock()
	if was {
		level := slog.LevelInfo
		if r.c.closeReason() == closeDuplicateRoute {
			level = slog.LevelDebug // the other route to that server serves
		}
		cl.s.log.Log(context.Background(), level, "route disconnected", "server", r.remote.ServerName, "server_id", r.remote.ServerID, "reason", r.c.closeReason().String())
		// The others learn that this server lost its route, which stops
		// them from redialling a server nobody reaches any more.
		for _, other := range cl.registered() {
			other.sendInfo()
		}
		cl.s.sendAsyncInfo()
	}
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

// shutdown closes the route port and every route, and stops the dialers.
func (cl *cluster) shutdown() []*conn {
	cl.mu.Lock()
	if cl.closed {
		cl.mu.Unlock()
		return nil
	}
	cl.closed = true
	close(cl.stop)
	conns := make([]*conn, 0, len(cl.conns))
	for r := range cl.conns {
		conns = append(conns, r.c)
	}
	cl.mu.Unlock()
	cl.ln.Close()
	for _, c := range conns {
		c.close(closeServerShutdown, "")
	}
	return conns
}

// clientURLs are the client URLs of every server of the cluster, this one
// first, for the connect_urls of INFO.
func (cl *cluster) clientURLs() []string {
	var out []string
	if u := cl.s.ownClientURL(); u != "" {
		out = append(out, u)
	}
	cl.mu.Lock()
	for _, r := range cl.routes {
		if !r.remote.LameDuck {
			out = append(out, r.remote.ClientURLs...)
		}
	}
	cl.mu.Unlock()
	slices.Sort(out[min(1, len(out)):])
	return out
}

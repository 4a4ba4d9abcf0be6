package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
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
	// byName is routes by the peer's server name, copied whenever routes
	// changes, so that ClusterSend finds a peer per message without mu.
	byName atomic.Pointer[map[string]*route]
	// conns are all route connections, registered or in their handshake.
	conns map[*route]struct{}
	// dialing holds the route addresses (host:port) a dial loop serves.
	dialing map[string]bool
	// seeds holds the name of the server found at each address dialled
	// (ClusterSeeds).
	seeds map[string]string
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
	ln, err := listen(ListenerCluster, addr)
	if err != nil {
		return err
	}
	cl := newCluster(s, o)
	cl.ln, cl.tls = ln, rt
	cl.routeURL = o.Advertise
	if cl.routeURL == "" {
		cl.routeURL = advertisedAddr(ln.Addr().(*net.TCPAddr), o.Host)
	}
	s.cl = cl
	// Routed in-process subscriptions made before Start (consumers of
	// replicated streams recovered at startup) cross the routes as well.
	for _, sub := range s.earlyRouted {
		if !sub.closed.Load() {
			cl.subAdded(sub)
		}
	}
	s.earlyRouted = nil
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
		seeds:    make(map[string]string),
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
		JetStream:    s.opts.JetStream,
	}
	if u := s.ownClientURL(); u != "" {
		ri.ClientURLs = []string{u}
	}
	if u := s.ownWebsocketURL(); u != "" {
		ri.WSConnectURLs = []string{u}
	}
	cl.mu.Lock()
	for id, r := range cl.routes {
		ri.Peers = append(ri.Peers, routePeer{ID: id, Name: r.remote.ServerName, RouteURL: r.remote.RouteURL})
	}
	cl.mu.Unlock()
	slices.SortFunc(ri.Peers, func(a, b routePeer) int { return strings.Compare(a.ID, b.ID) })
	return ri
}

// register makes r the route to its peer, or returns the -ERR text that
// refuses it. It settles a race between two routes to the same server.
func (cl *cluster) register(r *route, ri *routeInfo) string {
	s := cl.s
	// The accounts are listed before mu (Start holds s.mu while it takes
	// mu), so a reload could add one in between, and announce it before r
	// is in routes: list again until no reload came between.
	var accounts []*account
	for {
		gen := s.accountsGen.Load()
		accounts = s.accountList()
		cl.mu.Lock()
		if s.accountsGen.Load() == gen {
			break
		}
		cl.mu.Unlock()
	}
	r.remote = *ri
	if r.dialed != nil {
		cl.seeds[r.dialed.Host] = ri.ServerName
	}
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
		// Two routes that arrive together (both servers dialled at once)
		// are settled by the dialler's id, which both sides compute alike.
		// Later, a new route means the peer no longer has the old one (a
		// server dials only a server it has no route to): the old one is
		// half-open, say after a partition, and the new one takes over.
		settled := time.Since(old.registeredAt) > routeSettleTime
		if !settled && dialer(cl, old) <= dialer(cl, r) {
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
	cl.indexNames()
	r.registeredAt = time.Now()
	r.registered.Store(true)
	cl.sendAllInterest(r, accounts)
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

// routeSettleTime is how long after a route registered a second route to
// the same server counts as arriving together with it (and is settled by
// id) rather than replacing it: longer than a handshake.
const routeSettleTime = time.Second

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

// indexNames publishes a new byName from routes. Called with mu held,
// after routes changed; names are unique among them (see nameTaken).
func (cl *cluster) indexNames() {
	m := make(map[string]*route, len(cl.routes))
	for _, r := range cl.routes {
		m[r.remote.ServerName] = r
	}
	cl.byName.Store(&m)
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
		cl.indexNames()
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

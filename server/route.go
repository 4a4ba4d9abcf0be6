package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wisp-mq/wisp/protocol"
)

// route is the role of a connection to another server of the cluster: it
// handles the route ops its conn's reader parses (protocol.RouteSide).
//
// The handshake: the server that accepted the connection sends INFO at
// once; the server that dialled sends CONNECT (the cluster name and, when
// the other side requires them, credentials) and then its INFO. Each side
// checks the other's INFO (a route port, the same cluster, not itself, a
// server name not already taken) and registers the route; registering
// sends the whole local interest, and from then on interest travels as
// RS+/RS- deltas and messages as RMSG.
type route struct {
	c  *conn
	cl *cluster
	// dialed is the URL this server dialled, nil for an accepted route.
	dialed *url.URL

	// Reader goroutine only.
	gotConnect bool                // accepted side: CONNECT checked
	gotInfo    bool                // the handshake's INFO arrived
	accounts   map[string]*account // account lookups, by name
	// accountsGen is the server's accountsGen when accounts last held
	// only current answers (see account).
	accountsGen uint64

	// interest is the peer's interest, see interest.go. The reader changes
	// it, and a reload that adds accounts (applyHeld), under interestMu,
	// which monitoring takes to list it.
	interest   map[routeSubKey][]*subscription
	interestMu sync.Mutex
	// held is the peer's interest in accounts this server does not have
	// (yet), by account name, kept for a reload that adds them
	// (interest_reload.go). Under interestMu.
	held       map[string]map[interestKey]int64
	heldSubs   int          // entries in held, over all accounts
	heldCapped bool         // the cap on held was hit (logged once)
	numSubs    atomic.Int32 // len(interest), for monitoring

	// registered is set while the route is the one in use to its server;
	// fanOut forwards only over registered routes. Cleared at close or when
	// a simultaneous route to the same server wins.
	registered atomic.Bool
	// outcome says why the route ended early, for its dialer: one of the
	// route* outcomes below. Set under cl.mu.
	outcome routeOutcome
	// remote is the peer's INFO, written under cl.mu.
	remote routeInfo
	// registeredAt is when the route was registered, under cl.mu.
	registeredAt time.Time
	// done is closed once the route is torn down.
	done     chan struct{}
	doneOnce sync.Once
	started  time.Time
}

type routeOutcome uint8

const (
	routeOK        routeOutcome = iota
	routeSelf                   // dialled this very server
	routeDuplicate              // another route to the same server won
	routeRefused                // handshake refused (cluster name, credentials, server name)
)

// routeSubKey names one interest of a peer: account, subject and queue.
type routeSubKey struct{ account, subject, queue string }

// routeInfo is the INFO servers exchange on a route.
type routeInfo struct {
	ServerID   string `json:"server_id"`
	ServerName string `json:"server_name"`
	Version    string `json:"version"`
	Cluster    string `json:"cluster"`
	// Route marks the INFO of a route port, so that a server that dialled a
	// client port by mistake finds out at once.
	Route bool `json:"route"`
	// RouteURL is host:port where the sender accepts routes.
	RouteURL string `json:"route_url"`
	// ClientURLs are where the sender accepts clients (host:port), for
	// the connect_urls of every server's clients.
	ClientURLs []string `json:"client_urls,omitempty"`
	// WSConnectURLs are where the sender accepts WebSocket clients
	// (host:port), for the connect_urls of every server's WebSocket
	// clients; nats-server's name.
	WSConnectURLs []string `json:"ws_connect_urls,omitempty"`
	AuthRequired  bool     `json:"auth_required,omitempty"`
	MaxPayload    int      `json:"max_payload"`
	LameDuck      bool     `json:"ldm,omitempty"`
	// JetStream says the sender runs the stream layer: it takes part in
	// the cluster's replication (its meta group).
	JetStream bool `json:"jetstream,omitempty"`
	// Peers are the other servers the sender has routes to: gossip, so
	// that a server that knows one seed finds them all.
	Peers []routePeer `json:"peers,omitempty"`
}

// routePeer is one server known through gossip.
type routePeer struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	RouteURL string `json:"route_url"`
}

// routeConnect is the CONNECT a dialling server sends.
type routeConnect struct {
	Route    bool   `json:"route"`
	Cluster  string `json:"cluster"`
	ServerID string `json:"server_id"`
	Name     string `json:"name"`
	User     string `json:"user,omitempty"`
	Pass     string `json:"pass,omitempty"`
}

// Route errors sent to the peer before closing.
const (
	errTextRouteExpected   = "Route Port Accepts Only Routes"
	errTextClusterMismatch = "Cluster Name Mismatch"
	errTextDuplicateName   = "Duplicate Server Name"
	errTextRouteAuth       = "Authorization Violation"
	errTextRouteHandshake  = "Route Handshake Expected"
)

// routeHandshakeTimeout bounds the time from connect to a registered route.
const routeHandshakeTimeout = 5 * time.Second

func newRoute(cl *cluster, c *conn, dialed *url.URL) *route {
	r := &route{
		c:        c,
		cl:       cl,
		dialed:   dialed,
		interest: make(map[routeSubKey][]*subscription),
		accounts: make(map[string]*account),
		done:     make(chan struct{}),
		started:  time.Now(),
	}
	c.peer, c.handler, c.role = r, r, r
	c.out.limit = cl.opts.MaxPending
	c.pingMax = cl.opts.pingMax
	// Routes between servers carry what clients send plus queue names,
	// and cluster-internal messages up to ClusterFrameMax.
	c.parser = protocol.NewParser(protocol.RouteSide, protocol.Limits{
		MaxControlLine: max(cl.s.o().MaxControlLine, 32<<10),
		MaxPayload:     max(cl.s.o().MaxPayload, ClusterFrameMax),
	})
	c.opts.Verbose, c.opts.Pedantic = false, false
	c.connected = true
	return r
}

// begin runs on the reader goroutine before the first read: the opening
// lines of the handshake, and its deadline. A route is never rejected for
// the client limit.
func (r *route) begin(bool) bool {
	if r.dialed != nil {
		ci := routeConnect{Route: true, Cluster: r.cl.opts.Name, ServerID: r.cl.s.id, Name: r.cl.s.name}
		if u := r.dialed.User; u != nil {
			ci.User = u.Username()
			ci.Pass, _ = u.Password()
		}
		body, _ := json.Marshal(ci)
		r.c.out.enqueue(protocol.AppendConnect(nil, body))
	}
	r.sendInfo()
	time.AfterFunc(routeHandshakeTimeout, func() {
		if !r.gotInfoDone() {
			r.cl.s.log.Warn("route handshake timed out", "addr", r.addr())
			r.c.close(closeAuthTimeout, errTextRouteHandshake)
		}
	})
	return true
}

// gotInfoDone reports whether the handshake finished (or the route ended).
func (r *route) gotInfoDone() bool {
	select {
	case <-r.done:
		return true
	default:
	}
	return r.registered.Load() || r.c.closeReason() != closeNone
}

// sendInfo queues this server's route INFO.
func (r *route) sendInfo() {
	body, _ := json.Marshal(r.cl.info())
	r.c.out.enqueue(protocol.AppendInfo(nil, body))
	r.c.out.kickWriter()
}

// addr is the peer's address for logs.
func (r *route) addr() string {
	if r.dialed != nil {
		return r.dialed.Host
	}
	return r.c.nc.RemoteAddr().String()
}

// HandleOp handles one route op on the reader goroutine.
func (r *route) HandleOp(op *protocol.Op) error {
	c := r.c
	if c.srv.o().Trace {
		c.trace(op)
	}
	switch op.Kind {
	case protocol.OpPing:
		c.enqueueControl(protocol.AppendPong)
		return nil
	case protocol.OpPong:
		c.gotPong()
		return nil
	case protocol.OpErr:
		if text := string(op.Args); text == errTextRouteDuplicate || text == errTextRouteSelf {
			r.cl.mu.Lock()
			if r.outcome == routeOK {
				r.outcome = routeDuplicate
				if text == errTextRouteSelf {
					r.outcome = routeSelf
				}
			}
			r.cl.mu.Unlock()
			c.close(closeDuplicateRoute, "")
		} else {
			if text == errTextDuplicateName {
				r.cl.s.log.Error("refused by the cluster: this server's name is already in use there; server names must be unique",
					"name", r.cl.s.name, "addr", r.addr())
			} else {
				r.cl.s.log.Warn("route error from peer", "addr", r.addr(), "server", r.remoteName(), "err", text)
			}
			c.close(closeProtocolError, "")
		}
		return errStopParsing
	case protocol.OpConnect:
		return r.processConnect(op.Args)
	case protocol.OpInfo:
		return r.processInfo(op.Args)
	}
	if !r.registered.Load() {
		if r.gotInfo {
			return nil // lost a race with another route to the same server; closing
		}
		r.cl.s.log.Warn("route op before the handshake", "addr", r.addr(), "op", op.Kind.String())
		c.close(closeProtocolError, errTextRouteHandshake)
		return errStopParsing
	}
	switch op.Kind {
	case protocol.OpRSub:
		c.reads.interest = true
		r.addInterest(op)
	case protocol.OpRUnsub:
		c.reads.interest = true
		r.removeInterest(op)
	case protocol.OpRMsg:
		if isClusterAccount(op.Account) {
			r.deliverCluster(op)
		} else {
			r.deliver(op)
		}
	case protocol.OpHRMsg:
		r.deliver(op)
	}
	if c.closeReason() != closeNone {
		return errStopParsing
	}
	return nil
}

// processConnect checks the CONNECT of a server that dialled this one.
func (r *route) processConnect(args []byte) error {
	c := r.c
	if r.dialed != nil || r.gotConnect {
		c.close(closeProtocolError, errTextRouteHandshake)
		return errStopParsing
	}
	var ci routeConnect
	if err := json.Unmarshal(args, &ci); err != nil || !ci.Route {
		r.cl.s.log.Warn("refused a client connection on the route port", "addr", r.addr())
		c.close(closeProtocolError, errTextRouteExpected)
		return errStopParsing
	}
	if ci.Cluster != r.cl.opts.Name {
		r.cl.s.log.Error("refused a route from another cluster", "addr", r.addr(), "server", ci.Name, "their_cluster", ci.Cluster, "our_cluster", r.cl.opts.Name)
		c.close(closeProtocolError, errTextClusterMismatch)
		return errStopParsing
	}
	if !r.cl.checkAuth(ci.User, ci.Pass) {
		c.srv.stats.authFailures.Add(1)
		r.cl.s.log.Error("refused a route with wrong credentials", "addr", r.addr(), "server", ci.Name, "user", ci.User)
		c.close(closeAuthViolation, errTextRouteAuth)
		return errStopParsing
	}
	r.gotConnect = true
	return nil
}

// processInfo checks the peer's INFO and registers the route; a later INFO
// updates what the peer knows (gossip) and its client URLs.
func (r *route) processInfo(args []byte) error {
	c := r.c
	var ri routeInfo
	if err := json.Unmarshal(args, &ri); err != nil {
		c.close(closeProtocolError, "Invalid INFO: "+sanitize(err.Error()))
		return errStopParsing
	}
	if r.gotInfo {
		r.cl.updatePeer(r, &ri)
		return nil
	}
	if !ri.Route {
		r.cl.s.log.Error("route dialled a port that is not a route port", "addr", r.addr())
		c.close(closeProtocolError, "")
		return errStopParsing
	}
	if r.dialed == nil && !r.gotConnect {
		c.close(closeProtocolError, errTextRouteHandshake)
		return errStopParsing
	}
	if ri.Cluster != r.cl.opts.Name {
		r.cl.s.log.Error("refused a route to another cluster", "addr", r.addr(), "server", ri.ServerName, "their_cluster", ri.Cluster, "our_cluster", r.cl.opts.Name)
		c.close(closeProtocolError, errTextClusterMismatch)
		return errStopParsing
	}
	r.gotInfo = true
	if err := r.cl.register(r, &ri); err != "" {
		reason := closeProtocolError
		if err == errTextRouteDuplicate || err == errTextRouteSelf {
			reason = closeDuplicateRoute
		}
		c.close(reason, err)
		return errStopParsing
	}
	c.stopAuthTimer()
	return nil
}

// remoteName is the peer's server name, once known.
func (r *route) remoteName() string {
	r.cl.mu.Lock()
	defer r.cl.mu.Unlock()
	return r.remote.ServerName
}

// account finds a local account by the name a route op gives, through a
// per-route cache so that a message costs one map lookup. Every answer,
// found or missing, is cached only until a reload installs a new account
// set: the server bumps accountsGen after storing the set, and the cache
// is dropped whenever the generation moved, before it is read. Checking
// only on a miss would let a route go on handing an account's messages to
// the subject index of an account a reload removed (or replaced).
func (r *route) account(name []byte) *account {
	if gen := r.cl.s.accountsGen.Load(); gen != r.accountsGen {
		r.accountsGen = gen
		clear(r.accounts)
	}
	if a, ok := r.accounts[string(name)]; ok {
		return a
	}
	a := r.cl.s.lookupAccount(string(name))
	if a == nil {
		// An account this server does not have: the configurations
		// differ, or a reload that adds it has not reached this server
		// yet. Its messages have no local subscribers.
		r.cl.s.log.Warn("route names an unknown account", "server", r.remoteName(), "account", string(name))
	}
	if len(r.accounts) > 1024 {
		clear(r.accounts)
	}
	r.accounts[string(name)] = a
	return a
}

// deliver hands a routed message to local subscribers: every plain one, and
// one member of each queue group the sending server picked this server for.
func (r *route) deliver(op *protocol.Op) {
	c := r.c
	c.reads.inMsgs++
	c.reads.inBytes += int64(len(op.Data))
	acc := r.account(op.Account)
	if acc == nil {
		return
	}
	m := message{subject: op.Subject, reply: op.Reply, data: op.Data, hdrLen: op.HdrLen, queues: op.Queues, routed: true}
	if acc.isResponse(op.Subject) {
		// A response to a service request this server routed into acc.
		c.srv.routeResponse(c, acc, &m)
	}
	c.srv.fanOut(c, acc.sl.Match(op.Subject), &m)
}

// slow handles a route past its pending limit: closed, counted and, by the
// server that dialled it, redialled.
func (r *route) slow(why string) {
	r.cl.slowRoutes.Add(1)
	r.cl.s.log.Warn("route too slow, closed to be redialled", "server", r.remoteName(), "addr", r.addr(), "why", why,
		"max_pending", r.c.out.maxPending())
}

// logClosed logs the route's close.
func (r *route) logClosed(level slog.Level, reason closeReason, errText string) {
	r.cl.s.log.Log(context.Background(), level, "route connection closed", "cid", r.c.id, "addr", r.addr(), "reason", reason.String(), "err", errText)
}

// logProtocolError logs a parse error of the peer with its input at Warn,
// through the server's limiter: anyone can reach the route port and send
// garbage there.
func (r *route) logProtocolError(err error, input []byte, more bool) {
	ok, suppressed := r.cl.s.protoLog.allow(time.Now())
	if !ok {
		return
	}
	attrs := append([]any{"addr", r.addr()}, protocolErrorAttrs(err, input, more, suppressed)...)
	r.cl.s.log.Warn("route protocol error", attrs...)
}

// ended runs once the reader has stopped.
func (r *route) ended() {
	r.cl.unregister(r)
	r.dropInterest()
	r.doneOnce.Do(func() { close(r.done) })
}

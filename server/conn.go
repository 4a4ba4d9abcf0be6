package server

import (
	"crypto/x509"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wisp-mq/wisp/protocol"
	"github.com/wisp-mq/wisp/sublist"
)

// Read buffer sizes: a connection starts small (many idle clients cost
// little) and grows with its traffic, shrinking again when reads run short.
const (
	minReadBuf   = 512
	startReadBuf = 1024
	maxReadBuf   = 64 << 10
	// shortReadsToShrink is how many reads in a row must use under a quarter
	// of the buffer before it is halved.
	shortReadsToShrink = 8
	// connCacheSize bounds a connection's private cache of match results.
	connCacheSize = 256
)

// conn is the transport of one connection: socket, reader, writer and
// outbound queue. Its role is what handles the ops the reader parses: a
// client (the conn itself, ops.go) or a route to another server of the
// cluster (route.go). Its reader goroutine owns every field not marked
// otherwise; the outbound side has its own lock (see outbound.go).
type conn struct {
	srv *Server
	// handler receives the parsed ops: the conn itself for a client, its
	// route for a route. Set before the goroutines start.
	handler protocol.Handler
	// role is the client or route at the points of the connection's life
	// where the two differ (role.go). Set before the goroutines start.
	role connRole
	// peer is the route role of a route connection, nil for a client.
	peer   *route
	id     uint64
	nc     net.Conn // the TLS connection over raw, or raw itself
	raw    net.Conn // the socket; closing it cuts the connection off at once
	parser *protocol.Parser
	start  time.Time
	host   string
	port   int
	tls    bool // set before the goroutines start
	// ws is the WebSocket layer of a client that came in on the WebSocket
	// port (websocket_conn.go), nil otherwise. Set before the goroutines
	// start.
	ws *wsConn
	// cert is the client's verified TLS certificate, nil without one; set
	// before the goroutines start and never changed.
	cert *x509.Certificate
	// infoSent is set when INFO went out before the goroutines started
	// (in plain text, ahead of a TLS handshake).
	infoSent bool

	// Set by CONNECT on the reader goroutine, which reads them freely;
	// other goroutines (monitoring) read them under infoMu.
	infoMu    sync.Mutex
	opts      connectOpts
	connected bool // CONNECT received and accepted
	user      string
	// acc is the account the connection works in: the global one until
	// CONNECT authenticates a user of another. Written on the reader
	// goroutine under infoMu before any SUB or PUB is processed.
	acc        *account
	accCounted bool // counted in acc.nconns
	// connectInfoDue: the INFO that follows CONNECT (info.go) goes out
	// after the next PONG. Reader goroutine only.
	connectInfoDue bool
	uent           *userEntry
	tokenAuth      bool // authenticated with the token

	// perms are the user's permissions, nil when everything is allowed.
	// A reload may swap them from another goroutine.
	perms         atomic.Pointer[permSet]
	pubCache      map[string]pubVerdict // reader goroutine only
	pubCachePerms *permSet              // the perms pubCache was filled under
	replies       replyPerms            // reply subjects allowed by allow_responses

	// subs maps sid to subscription. Guarded by subsMu because deliveries
	// on other goroutines remove auto-unsubscribed entries.
	subsMu sync.Mutex
	subs   map[string]*subscription

	// mapBuf holds the subject of the message being published when a
	// subject mapping rewrote it (mapping.go). Reader goroutine only.
	mapBuf []byte

	// Private match cache, valid while cacheGen equals the sublist's.
	cache    map[string]*sublist.Result[*subscription]
	cacheGen uint64

	// Per-read scratch: writers to wake once this read is processed, and
	// counts folded into the server's totals.
	flushSet map[*conn]struct{}
	// This read's staged deliveries (stage.go).
	stage     []stagedOut
	stageSlot [maxStaged]uint8 // by subscriber id: index in stage + 1, or 0
	reads     readCounts
	stallOn   *conn       // a consumer past its stall mark during this read
	stallT    *time.Timer // reused for stalls
	fwd       *forwards   // routes a message goes to, reused (forward.go)

	// Totals for monitoring, updated once per read.
	inMsgs, inBytes atomic.Int64
	// last is when the connection was last active (unix nanoseconds), as
	// nats-server counts it for /connz and /routez: it sent messages or
	// changed its interest (stored once per read), it was sent messages
	// (once per write of its writer), or it connected. PINGs and PONGs do
	// not count.
	last atomic.Int64

	out outbound

	// pingMax, when set (on a route), caps the server's PingInterval.
	pingMax  time.Duration
	pingMu   sync.Mutex
	pingsOut int
	pingT    *time.Timer
	// pingSent is when the oldest unanswered PING went out, zero when
	// none is; the PONG that answers it measures rtt, at rttAt (zero for
	// the estimate taken at CONNECT). Under pingMu.
	pingSent time.Time
	rtt      time.Duration
	rttAt    time.Time
	authT    *time.Timer
	active   atomic.Bool // set on every read, cleared by the ping timer

	closeOnce sync.Once
	reason    atomic.Uint32 // a closeReason, set once
}

type readCounts struct {
	inMsgs, inBytes   int64
	outMsgs, outBytes int64
	interest          bool // a SUB, UNSUB, RS+ or RS-: activity, as a message is
}

func newConn(s *Server, nc net.Conn, id uint64) *conn {
	c := &conn{
		srv:   s,
		id:    id,
		nc:    nc,
		raw:   nc,
		start: time.Now(),
		parser: protocol.NewParser(protocol.ServerSide, protocol.Limits{
			MaxControlLine: s.o().MaxControlLine,
			MaxPayload:     s.o().MaxPayload,
		}),
		subs:     make(map[string]*subscription),
		flushSet: make(map[*conn]struct{}),
		acc:      s.global,
	}
	c.last.Store(c.start.UnixNano())
	c.handler, c.role = c, clientRole{c}
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		c.host, c.port = a.IP.String(), a.Port
	}
	// Until CONNECT arrives a connection is verbose and pedantic, so a
	// person on telnet sees +OK after SUB and PUB and an -ERR for a bad
	// publish subject; nats-server does the same.
	c.opts.Verbose, c.opts.Pedantic = true, true
	c.out.init(c)
	return c
}

// readLoop is the connection's reader goroutine. rejected is set when the
// server is full: the client gets INFO and the error, then the close.
func (c *conn) readLoop(rejected bool) {
	defer c.srv.wg.Done()
	defer c.teardown()
	s := c.srv
	if !c.role.begin(rejected) {
		return
	}
	c.startTimers()
	buf := make([]byte, startReadBuf)
	short := 0
	for {
		n, err := c.nc.Read(buf)
		if n > 0 {
			c.active.Store(true)
			perr := c.parser.Parse(buf[:n], c.handler)
			c.endOfRead()
			if perr != nil {
				c.handleParseError(perr)
				return
			}
			buf, short = resizeReadBuf(buf, n, short)
		}
		if err != nil {
			if c.closeReason() == closeNone && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("read failed", "cid", c.id, "err", err)
			}
			c.close(closeClientGone, "")
			return
		}
	}
}

// resizeReadBuf doubles the buffer when a read filled it and halves it after
// a run of reads that used less than a quarter of it.
func resizeReadBuf(buf []byte, n, short int) ([]byte, int) {
	switch {
	case n == len(buf) && len(buf) < maxReadBuf:
		return make([]byte, 2*len(buf)), 0
	case n < len(buf)/4 && len(buf) > minReadBuf:
		short++
		if short >= shortReadsToShrink {
			return make([]byte, len(buf)/2), 0
		}
		return buf, short
	default:
		return buf, 0
	}
}

// endOfRead folds this read's counts into the totals and wakes each writer
// that got something, once.
func (c *conn) endOfRead() {
	c.flushStaged() // first: it takes back what max cut from the counts
	r := &c.reads
	if r.inMsgs != 0 || r.interest {
		// One clock read per read that carried messages, not per message.
		c.last.Store(time.Now().UnixNano())
	}
	if r.inMsgs != 0 || r.inBytes != 0 {
		c.inMsgs.Add(r.inMsgs)
		c.inBytes.Add(r.inBytes)
		c.srv.stats.inMsgs.Add(r.inMsgs)
		c.srv.stats.inBytes.Add(r.inBytes)
	}
	if r.outMsgs != 0 || r.outBytes != 0 {
		c.srv.stats.outMsgs.Add(r.outMsgs)
		c.srv.stats.outBytes.Add(r.outBytes)
	}
	*r = readCounts{}
	for d := range c.flushSet {
		d.out.kickWriter()
	}
	clear(c.flushSet)
	if c.stallOn != nil {
		c.stall(c.stallOn)
		c.stallOn = nil
	}
}

// stall holds this producer for at most maxStall while consumer d's writer
// drains its queue, as nats-server does: a publisher slightly faster than
// its subscribers is slowed instead of having them cut off.
func (c *conn) stall(d *conn) {
	ch := d.out.stallChan()
	if ch == nil {
		return
	}
	if c.stallT == nil {
		c.stallT = time.NewTimer(maxStall)
	} else {
		c.stallT.Reset(maxStall)
	}
	select {
	case <-ch:
		c.stallT.Stop()
	case <-c.stallT.C:
	}
}

// match returns the subscriptions interested in subject, through the
// connection's private cache so a repeated subject costs one map lookup.
func (c *conn) match(subject []byte) *sublist.Result[*subscription] {
	sl := c.acc.sl
	gen := sl.Generation()
	if c.cache == nil || gen != c.cacheGen {
		if c.cache == nil {
			c.cache = make(map[string]*sublist.Result[*subscription], 16)
		} else {
			clear(c.cache)
		}
		c.cacheGen = gen
	}
	if r, ok := c.cache[string(subject)]; ok {
		return r
	}
	r := sl.Match(subject)
	if len(c.cache) >= connCacheSize {
		for k := range c.cache { // map order is random: evict one entry
			delete(c.cache, k)
			break
		}
	}
	c.cache[string(subject)] = r
	return r
}

// closeReason is why the connection is closing, or closeNone while open.
func (c *conn) closeReason() closeReason { return closeReason(c.reason.Load()) }

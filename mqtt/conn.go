package mqtt

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nuid"
)

// conn is one MQTT client: a reader goroutine (run) that decodes packets
// and acts on them, and a writer goroutine that sends what outbound holds.
type conn struct {
	svc   *Service
	nc    net.Conn
	ip    string
	port  int
	start time.Time
	tls   bool

	pr      *packetReader
	out     outbound
	pubacks pubackQueue

	// Set by CONNECT, then read-only.
	login     Login
	acc       *accountState
	clientID  string
	clean     bool
	keepAlive time.Duration
	will      *willMessage
	sess      *session

	cid        uint64
	unregister func()

	inMsgs, inBytes atomic.Int64

	closeOnce sync.Once
	quit      chan struct{} // closed to stop the reader and writer
	done      chan struct{} // closed once the teardown has finished
	graceful  atomic.Bool   // DISCONNECT received: no will
	noWill    atomic.Bool   // closed by a takeover or the server going away: no will

	// Reader-only scratch space, reused for every packet. (The will is
	// published by the teardown, which runs on the reader goroutine too.)
	subj    []byte
	msg     []byte // header and payload of the message being routed
	filters []topicFilter
	codes   []byte
}

// willMessage is a client's last will, published if it goes away without
// DISCONNECT.
type willMessage struct {
	subject string
	payload []byte
	qos     byte
	retain  bool
}

func newConn(s *Service, nc net.Conn) *conn {
	c := &conn{svc: s, nc: nc, start: time.Now(), quit: make(chan struct{}), done: make(chan struct{})}
	if host, port, err := net.SplitHostPort(nc.RemoteAddr().String()); err == nil {
		c.ip = host
		c.port, _ = strconv.Atoi(port)
	}
	_, c.tls = nc.(*tls.Conn)
	c.out.init(s.opts.MaxPending)
	c.pubacks.init(c)
	// The largest packet: a full payload plus a topic and headers.
	c.pr = newPacketReader(nc, s.opts.MaxPayload+64<<10)
	return c
}

// run is the reader: CONNECT first, then packets until an error.
func (c *conn) run() {
	defer c.teardown()
	go c.writeLoop()
	if tc, ok := c.nc.(*tls.Conn); ok {
		_ = tc.SetDeadline(time.Now().Add(c.svc.opts.TLSTimeout))
		if err := tc.Handshake(); err != nil {
			c.logClose("TLS handshake", err)
			return
		}
		_ = tc.SetDeadline(time.Time{})
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(c.svc.opts.AuthTimeout))
	first, body, err := c.pr.next()
	if err != nil {
		c.logClose("reading CONNECT", err)
		return
	}
	if first>>4 != pktConnect {
		c.logClose("first packet", malformed("packet type %d before CONNECT", first>>4))
		return
	}
	if !c.handleConnect(first&0x0f, body) {
		return
	}
	_ = c.nc.SetReadDeadline(time.Time{})
	var rd readDeadline
	for {
		if c.keepAlive > 0 {
			rd.extend(c.nc, c.keepAlive, time.Now())
		}
		first, body, err := c.pr.next()
		if err != nil {
			c.logClose("reading", err)
			return
		}
		if err := c.dispatch(first>>4, first&0x0f, body); err != nil {
			c.logClose("packet", err)
			return
		}
		if c.graceful.Load() {
			return
		}
	}
}

// readDeadline keeps a client's read deadline one and a half keepalives
// past its last packet without moving it for every packet (each move
// takes the poller's lock and resets a timer): it is moved at most once
// per keepalive/8, and set that much further, so a silent client is
// closed between 1.5 and 1.625 keepalives after its last packet, never
// before.
type readDeadline struct{ set time.Time }

func (d *readDeadline) extend(nc net.Conn, keepAlive time.Duration, now time.Time) {
	slack := keepAlive / 8
	if !d.set.IsZero() && now.Sub(d.set) < slack {
		return
	}
	d.set = now
	_ = nc.SetReadDeadline(now.Add(keepAlive*3/2 + slack))
}

func (c *conn) logClose(what string, err error) {
	select {
	case <-c.quit:
		return // closed on purpose
	default:
	}
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		c.svc.log.Debug("mqtt client closed", "client", c.clientID, "addr", c.ip)
		return
	}
	c.svc.log.Info("mqtt client closed", "client", c.clientID, "addr", c.ip, "reason", what+": "+err.Error())
}

// dispatch acts on one packet after CONNECT.
func (c *conn) dispatch(typ, flags byte, body []byte) error {
	switch typ {
	case pktPublish:
		p, err := decodePublish(flags, body)
		if err != nil {
			return err
		}
		return c.handlePublish(&p)
	case pktPuback:
		id, err := decodePacketID(typ, flags, body)
		if err != nil {
			return err
		}
		c.sess.acked(id)
	case pktPubrel:
		id, err := decodePacketID(typ, flags, body)
		if err != nil {
			return err
		}
		if err := c.releaseQoS2(id); err != nil {
			// No PUBCOMP: the client sends PUBREL again.
			c.svc.log.Warn("mqtt QoS 2 message not released", "client", c.clientID, "id", id, "err", err)
			return nil
		}
		c.out.write(func(b []byte) []byte { return appendAck(b, pktPubcomp, id) })
	case pktPubrec:
		id, err := decodePacketID(typ, flags, body)
		if err != nil {
			return err
		}
		c.sess.received(id)
		// PUBREL even for an id this connection does not know: one from
		// before a reconnect completes that way.
		c.out.write(func(b []byte) []byte { return appendAck(b, pktPubrel, id) })
	case pktPubcomp:
		id, err := decodePacketID(typ, flags, body)
		if err != nil {
			return err
		}
		c.sess.acked(id)
	case pktSubscribe:
		id, filters, err := decodeSubscribe(flags, body, c.filters[:0])
		c.filters = filters
		if err != nil {
			return err
		}
		return c.handleSubscribe(id, filters)
	case pktUnsubscribe:
		id, filters, err := decodeUnsubscribe(flags, body, c.filters[:0])
		c.filters = filters
		if err != nil {
			return err
		}
		c.handleUnsubscribe(id, filters)
	case pktPingreq:
		if err := decodeEmpty(typ, flags, body); err != nil {
			return err
		}
		c.out.write(appendPingresp)
	case pktDisconnect:
		if err := decodeEmpty(typ, flags, body); err != nil {
			return err
		}
		c.graceful.Store(true)
	case pktConnect:
		return malformed("second CONNECT")
	default:
		return malformed("packet type %d from a client", typ)
	}
	return nil
}

// handleConnect authenticates, sets up the session and answers CONNACK.
// It reports whether the connection goes on.
func (c *conn) handleConnect(flags byte, body []byte) bool {
	cp, err := decodeConnect(flags, body)
	if errors.Is(err, errBadProtocolLevel) {
		c.refuse(connBadProtocol)
		return false
	}
	if err != nil {
		c.logClose("CONNECT", err)
		return false
	}
	c.clean = cp.cleanSess
	c.keepAlive = time.Duration(cp.keepAlive) * time.Second
	c.clientID = string(cp.clientID)
	if c.clientID == "" {
		if !c.clean {
			c.refuse(connIdentifierRefused) // a persistent session needs a name
			return false
		}
		c.clientID = nuid.Next()
	}
	login, err := c.svc.host.Login(string(cp.user), string(cp.password))
	if err != nil {
		c.svc.log.Warn("mqtt authorization violation", "client", c.clientID, "addr", c.ip, "user", string(cp.user))
		c.refuse(connNotAuthorized)
		return false
	}
	c.login = login
	if cp.willFlag {
		subj, err := topicToSubject(nil, cp.willTopic)
		if err != nil {
			c.logClose("will topic", err)
			return false
		}
		c.will = &willMessage{subject: string(subj), payload: bytes.Clone(cp.willMessage), qos: cp.willQoS, retain: cp.willRetain}
	}
	acc, err := c.svc.account(login)
	if err != nil {
		c.svc.log.Error("mqtt: stream layer unavailable", "account", login.Account, "err", err)
		c.refuse(connUnavailable)
		return false
	}
	c.acc = acc
	// Set before monitoring can see the client: info reads it.
	c.sess = newSession(c)
	if c.cid, c.unregister, err = c.svc.host.Register(login.Account, c.info); err != nil {
		c.svc.log.Warn("mqtt client refused", "client", c.clientID, "addr", c.ip, "err", err)
		c.refuse(connUnavailable)
		return false
	}
	c.takeOver()
	present, err := c.openSession()
	if err != nil {
		c.svc.log.Error("mqtt: opening session", "client", c.clientID, "err", err)
		c.refuse(connUnavailable)
		return false
	}
	c.out.write(func(b []byte) []byte { return appendConnack(b, present, connAccepted) })
	c.sess.resume()
	return true
}

// refuse answers CONNACK with a failure code and closes.
func (c *conn) refuse(code byte) {
	c.out.write(func(b []byte) []byte { return appendConnack(b, false, code) })
	c.out.closeAfterFlush()
}

// takeOver closes another connection with the same client id, as the
// protocol requires, and waits until its session is let go.
func (c *conn) takeOver() {
	a := c.acc
	a.mu.Lock()
	old := a.clients[c.clientID]
	a.clients[c.clientID] = c
	a.mu.Unlock()
	if old == nil {
		return
	}
	c.svc.log.Info("mqtt client id taken over", "client", c.clientID)
	old.noWill.Store(true) // as nats-server: a takeover is no failure
	old.shutdown()
	select {
	case <-old.done:
	case <-time.After(c.svc.opts.APITimeout):
	}
}

// shutdown closes the connection from outside its reader.
func (c *conn) shutdown() {
	c.closeOnce.Do(func() {
		close(c.quit)
		c.out.close()
		_ = c.nc.Close()
	})
}

// teardown runs once the reader stops: the will, the session's
// subscriptions, and the bookkeeping.
func (c *conn) teardown() {
	c.out.closeAfterFlush()
	select {
	case <-c.out.flushed:
	case <-time.After(c.svc.opts.WriteDeadline):
	}
	c.shutdown()
	if c.sess != nil {
		c.sess.close()
	}
	if c.will != nil && !c.graceful.Load() {
		c.publishWill()
	}
	if c.acc != nil {
		a := c.acc
		a.mu.Lock()
		if a.clients[c.clientID] == c {
			delete(a.clients, c.clientID)
		}
		a.mu.Unlock()
	}
	if c.unregister != nil {
		c.unregister()
	}
	close(c.done)
}

// info is this client as monitoring shows it.
func (c *conn) info() ClientInfo {
	ci := ClientInfo{
		ClientID: c.clientID, IP: c.ip, Port: c.port, Start: c.start, TLS: c.tls,
		User: c.login.User, Account: c.login.Account,
		InMsgs: c.inMsgs.Load(), InBytes: c.inBytes.Load(),
	}
	ci.OutMsgs, ci.OutBytes, ci.Pending = c.out.stats()
	if c.sess != nil {
		ci.Subs = c.sess.subjects()
	}
	return ci
}

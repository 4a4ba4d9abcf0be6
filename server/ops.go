package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wisp-mq/wisp/protocol"
	"github.com/wisp-mq/wisp/sublist"
)

// connectOpts are the CONNECT fields Wisp acts on.
type connectOpts struct {
	Verbose      bool   `json:"verbose"`
	Pedantic     bool   `json:"pedantic"`
	Echo         *bool  `json:"echo"` // absent means true
	Headers      bool   `json:"headers"`
	NoResponders bool   `json:"no_responders"`
	Name         string `json:"name"`
	Lang         string `json:"lang"`
	Version      string `json:"version"`
	Protocol     int    `json:"protocol"`
	User         string `json:"user"`
	Pass         string `json:"pass"`
	AuthToken    string `json:"auth_token"`
	TLSRequired  bool   `json:"tls_required"`
}

func (o *connectOpts) echo() bool { return o.Echo == nil || *o.Echo }

// errStopParsing ends the read loop after the op that returned it; the
// connection is already being closed.
var errStopParsing = errors.New("connection closing")

// HandleOp is called by the parser for every complete op. It runs on the
// reader goroutine and must not keep any slice of op.
func (c *conn) HandleOp(op *protocol.Op) error {
	if c.srv.o().Trace {
		c.trace(op)
	}
	if !c.connected && op.Kind != protocol.OpConnect && c.srv.auth.Load().required() {
		c.srv.stats.authFailures.Add(1)
		c.close(closeAuthViolation, protocol.ErrTextAuthViolation)
		c.sendAuthErrorEvent("")
		return errStopParsing
	}
	switch op.Kind {
	case protocol.OpPub, protocol.OpHPub:
		c.processPub(op)
	case protocol.OpSub:
		c.processSub(op)
	case protocol.OpUnsub:
		c.processUnsub(op)
	case protocol.OpPing:
		c.enqueueControl(protocol.AppendPong)
		if c.connectInfoDue {
			c.connectInfoDue = false
			c.sendConnectInfo()
		}
	case protocol.OpPong:
		c.gotPong()
	case protocol.OpConnect:
		return c.processConnect(op.Args)
	}
	if c.closeReason() != closeNone {
		return errStopParsing
	}
	return nil
}

func (c *conn) processConnect(args []byte) error {
	// A field the client leaves out keeps its default, as in nats-server:
	// verbose and pedantic are on unless CONNECT turns them off (nats.go
	// and the other clients always send both).
	o := connectOpts{Verbose: true, Pedantic: true}
	if err := json.Unmarshal(args, &o); err != nil {
		c.countProtoError(protoErrParse)
		// Without the input: a CONNECT may carry a password.
		c.role.logProtocolError(fmt.Errorf("invalid CONNECT: %w", err), nil, false)
		c.close(closeProtocolError, "Invalid CONNECT: "+sanitize(err.Error()))
		return errStopParsing
	}
	if o.NoResponders && !o.Headers {
		c.close(closeProtocolError, protocol.ErrTextNoRespondersHeaders)
		return errStopParsing
	}
	if auth := c.srv.auth.Load(); auth.required() {
		u, ok := auth.check(&o, c.cert)
		if !ok {
			c.srv.stats.authFailures.Add(1)
			c.srv.authLog.logFailure(c.srv.log, c.host, auth.claimed(&o, c.cert))
			c.close(closeAuthViolation, protocol.ErrTextAuthViolation)
			o.Pass, o.AuthToken = "", ""
			c.infoMu.Lock()
			c.opts = o // the event names the client as it introduced itself
			c.infoMu.Unlock()
			c.sendAuthErrorEvent(auth.claimed(&o, c.cert))
			return errStopParsing
		}
		if u != nil {
			if !c.enterAccount(u) {
				return errStopParsing
			}
		} else {
			c.infoMu.Lock()
			c.tokenAuth = true
			c.infoMu.Unlock()
		}
	}
	o.Pass, o.AuthToken = "", "" // never keep secrets around
	c.out.headers.Store(o.Headers)
	c.infoMu.Lock()
	c.opts = o
	c.connected = true
	c.infoMu.Unlock()
	c.connectedAt(time.Now())
	c.stopAuthTimer()
	c.sendOK()
	c.connectInfoDue = o.Protocol >= 1
	c.sendConnectEvent()
	return nil
}

// enterAccount makes the connection a session of user u: its account
// (counted against the account's connection limit) and its permissions.
// On failure the connection is being closed.
func (c *conn) enterAccount(u *userEntry) bool {
	if !u.acc.tryAcquire() {
		c.srv.log.Warn("maximum account connections exceeded", "account", u.acc.name, "user", u.name, "client", c.host)
		c.close(closeMaxConnections, protocol.ErrTextMaxAccountConns)
		return false
	}
	c.accCounted = true
	c.infoMu.Lock()
	c.user = u.name
	c.uent = u
	c.acc = u.acc
	c.infoMu.Unlock()
	if u.perms != nil {
		c.perms.Store(u.perms)
	}
	return true
}

func (c *conn) processSub(op *protocol.Op) {
	subject, queue := string(op.Subject), string(op.Queue)
	if !sublist.ValidSubscribeSubject(subject) {
		c.countProtoError(protoErrSubject)
		c.sendErr(protocol.ErrTextInvalidSubject)
		return
	}
	if queue != "" && !sublist.ValidQueueName(queue) {
		c.countProtoError(protoErrSubject)
		c.sendErr(protocol.ErrTextInvalidSubject)
		return
	}
	var filter []pattern
	if ps := c.perms.Load(); ps != nil {
		ok, f := ps.subscribeVerdict(subject, queue)
		if !ok {
			c.subViolation(subject, queue)
			return
		}
		filter = f
	}
	c.subsMu.Lock()
	if _, dup := c.subs[string(op.Sid)]; dup {
		// nats-server ignores a SUB that reuses a live sid.
		c.subsMu.Unlock()
		return
	}
	if max := c.srv.o().MaxSubscriptions; max > 0 && len(c.subs) >= max {
		c.subsMu.Unlock()
		c.sendErr(protocol.ErrTextMaxSubscriptions)
		return
	}
	sub := &subscription{conn: c, acc: c.acc, subject: subject, queue: queue, sid: append([]byte(nil), op.Sid...)}
	if filter != nil {
		sub.deny.Store(&filter)
	}
	c.subs[string(sub.sid)] = sub
	c.subsMu.Unlock()
	if err := c.acc.sl.Insert(subject, queue, sub); err != nil {
		c.subsMu.Lock()
		delete(c.subs, string(sub.sid))
		c.subsMu.Unlock()
		c.sendErr(protocol.ErrTextInvalidSubject)
		return
	}
	if cl := c.srv.cl; cl != nil {
		cl.subAdded(sub)
	}
	c.reads.interest = true
	c.sendOK()
}

func (c *conn) processUnsub(op *protocol.Op) {
	c.subsMu.Lock()
	sub := c.subs[string(op.Sid)]
	c.subsMu.Unlock()
	if sub == nil {
		c.sendOK() // nats-server ignores an UNSUB for an unknown sid
		return
	}
	if op.Max > 0 {
		// Deliveries this connection staged for itself earlier in the
		// read come before the UNSUB, so they count toward max.
		c.flushStaged()
	}
	if op.Max <= 0 || !sub.setMax(op.Max) {
		c.removeSub(sub) // otherwise it stays until it has had max messages
	}
	c.reads.interest = true
	c.sendOK()
}

// removeSub drops a subscription from the connection and the sublist; safe
// to call more than once and from any goroutine.
func (c *conn) removeSub(sub *subscription) {
	if !sub.closed.CompareAndSwap(false, true) {
		return
	}
	c.subsMu.Lock()
	if c.subs[string(sub.sid)] == sub {
		delete(c.subs, string(sub.sid))
	}
	c.subsMu.Unlock()
	_ = sub.acc.sl.Remove(sub.subject, sub.queue, sub)
	if cl := c.srv.cl; cl != nil && sub.propagates() {
		cl.subRemoved(sub)
	}
}

func (c *conn) processPub(op *protocol.Op) {
	if c.opts.Pedantic && !sublist.ValidPublishSubject(op.Subject) {
		c.countProtoError(protoErrSubject)
		c.sendErr(protocol.ErrTextInvalidPubSubject)
		return
	}
	// A mapping applies first: as in nats-server, permissions are those
	// of the subject the message will travel on.
	subject, keep := c.mapSubject(op.Subject)
	if ps := c.perms.Load(); ps != nil && keep && !c.canPublish(ps, subject) {
		c.pubViolation(subject)
		return
	}
	// +OK goes out before any delivery, so a verbose client that subscribed
	// to its own subject sees the acknowledgement first, as with nats-server.
	c.sendOK()
	c.reads.inMsgs++
	c.reads.inBytes += int64(len(op.Data))
	if !keep {
		return // a weighted mapping's share that goes nowhere
	}
	m := message{subject: subject, reply: op.Reply, data: op.Data, hdrLen: op.HdrLen}
	if c.acc.isResponse(subject) {
		c.srv.routeResponse(c, c.acc, &m) // a response to a service import
	}
	delivered := c.srv.fanOut(c, c.match(subject), &m)
	if !delivered && len(op.Reply) > 0 && c.opts.NoResponders {
		c.sendNoResponders(op.Reply)
	}
}

// sendOK acknowledges an op when the client asked for verbose mode.
func (c *conn) sendOK() {
	if c.opts.Verbose {
		c.enqueueControl(protocol.AppendOK)
	}
}

// sendNoResponders answers a request nobody listens to with the 503 status
// message, delivered to the requester's own subscriptions on the reply
// subject, so nats.go returns ErrNoResponders at once instead of timing out.
func (c *conn) sendNoResponders(reply []byte) {
	var hdr [32]byte
	h := protocol.AppendStatusHeader(hdr[:0], 503, "")
	m := message{subject: reply, data: h, hdrLen: len(h)}
	r := c.acc.sl.Match(reply)
	for _, sub := range r.Plain {
		if sub.conn == c {
			sub.deliver(c, &m)
		}
	}
	for _, g := range r.Groups {
		for _, sub := range g.Members {
			if sub.conn == c {
				sub.deliver(c, &m)
				break
			}
		}
	}
}

// sanitize keeps an error text safe inside -ERR '...'.
func sanitize(s string) string {
	s = strings.NewReplacer("'", "", "\r", " ", "\n", " ").Replace(s)
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

package server

import (
	"math/rand/v2"
	"time"

	"github.com/wisp-mq/wisp/protocol"
)

// firstPingDelay is when the first keepalive PING goes out: soon after
// connect (as nats-server does, so a dead peer is found early), jittered so
// that many clients connecting together do not ping in lockstep.
const firstPingDelay = 2 * time.Second

// startTimers arms the keepalive PING and, when auth is on, the deadline for
// CONNECT.
func (c *conn) startTimers() {
	interval := c.pingInterval()
	first := min(firstPingDelay, interval)
	first += time.Duration(rand.Int64N(int64(first)/4 + 1))
	c.pingMu.Lock()
	c.pingT = time.AfterFunc(first, c.pingTick)
	if c.srv.auth.Load().required() && c.srv.o().AuthTimeout > 0 {
		c.authT = time.AfterFunc(c.srv.o().AuthTimeout, func() {
			c.srv.stats.authFailures.Add(1)
			c.close(closeAuthTimeout, protocol.ErrTextAuthTimeout)
		})
	}
	c.pingMu.Unlock()
}

// pingInterval is the server's PingInterval, or [websocket]'s for a
// WebSocket client when set, capped for a route.
func (c *conn) pingInterval() time.Duration {
	d := c.srv.o().PingInterval
	if c.ws != nil {
		if wd := c.srv.o().Websocket.PingInterval; wd > 0 {
			d = wd
		}
	}
	if c.pingMax > 0 && c.pingMax < d {
		return c.pingMax
	}
	return d
}

// pingTick sends a PING, or closes the connection as stale when too many
// went unanswered. A PING is skipped when the client sent something within
// the last interval: it is evidently alive; unless the round trip has not
// been measured yet, or not for rttRefresh, as nats-server does.
func (c *conn) pingTick() {
	interval := c.pingInterval()
	now := time.Now()
	c.pingMu.Lock()
	if c.pingT == nil { // stopped
		c.pingMu.Unlock()
		return
	}
	if c.active.Swap(false) {
		c.pingsOut = 0
		if !c.rttAt.IsZero() && now.Sub(c.rttAt) < rttRefresh {
			c.pingT.Reset(interval)
			c.pingMu.Unlock()
			return
		}
	}
	if c.pingsOut+1 > c.srv.o().MaxPingsOut {
		c.pingMu.Unlock()
		c.close(closeStale, protocol.ErrTextStaleConnection)
		return
	}
	c.pingsOut++
	if c.pingSent.IsZero() {
		c.pingSent = now
	}
	c.pingT.Reset(interval)
	c.pingMu.Unlock()
	var buf [8]byte
	c.out.enqueue(protocol.AppendPing(buf[:0]))
	c.out.kickWriter()
}

func (c *conn) stopAuthTimer() {
	c.pingMu.Lock()
	if c.authT != nil {
		c.authT.Stop()
		c.authT = nil
	}
	c.pingMu.Unlock()
}

func (c *conn) stopTimers() {
	c.pingMu.Lock()
	if c.pingT != nil {
		c.pingT.Stop()
		c.pingT = nil
	}
	if c.authT != nil {
		c.authT.Stop()
		c.authT = nil
	}
	c.pingMu.Unlock()
}

// rttRefresh is how old a measured round trip may get before a PING goes
// out to measure it again even to a connection that is busy (which is
// otherwise not pinged); nats-server uses the same hour.
const rttRefresh = time.Hour

// connectedAt records CONNECT at now: it is activity, and, as nats-server
// does, the time from accept to CONNECT is the round trip's first
// estimate, until a PONG measures it.
func (c *conn) connectedAt(now time.Time) {
	c.last.Store(now.UnixNano())
	c.pingMu.Lock()
	if c.rtt == 0 {
		c.rtt = max(now.Sub(c.start), time.Nanosecond)
	}
	c.pingMu.Unlock()
}

// gotPong takes a PONG: the peer is alive, and when it answers a PING of
// ours, the round trip is measured.
func (c *conn) gotPong() {
	c.pingMu.Lock()
	c.pingsOut = 0
	if !c.pingSent.IsZero() {
		now := time.Now()
		c.rtt, c.rttAt = max(now.Sub(c.pingSent), time.Nanosecond), now
		c.pingSent = time.Time{}
	}
	c.pingMu.Unlock()
}

// roundTrip is the last round trip measured (or estimated), 0 before any.
func (c *conn) roundTrip() time.Duration {
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	return c.rtt
}

// lastActivity is when the connection was last active.
func (c *conn) lastActivity() time.Time { return time.Unix(0, c.last.Load()) }

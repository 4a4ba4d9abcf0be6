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
// the last interval: it is evidently alive.
func (c *conn) pingTick() {
	interval := c.pingInterval()
	c.pingMu.Lock()
	if c.pingT == nil { // stopped
		c.pingMu.Unlock()
		return
	}
	if c.active.Swap(false) {
		c.pingsOut = 0
		c.pingT.Reset(interval)
		c.pingMu.Unlock()
		return
	}
	if c.pingsOut+1 > c.srv.o().MaxPingsOut {
		c.pingMu.Unlock()
		c.close(closeStale, protocol.ErrTextStaleConnection)
		return
	}
	c.pingsOut++
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

// Package testproxy is a TCP proxy for tests that fault a link between two
// servers: cut it (a partition), pause it (a peer that stops reading),
// hold one direction of it (a one-way partition) or slow it down. Only
// tests import it.
package testproxy

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy forwards TCP from its own loopback address to a target until the
// test cuts, pauses or slows it.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	cut    bool
	paused bool // stop reading: the peer looks stuck
	// held: stop reading one direction only; heldOut is what the dialer
	// sends, heldIn what comes back.
	heldOut, heldIn bool
	delay           time.Duration
	conns           []net.Conn
}

// New starts a proxy to target on a free loopback port; it closes when the
// test ends.
func New(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.SetCut(true) })
	go p.accept()
	return p
}

// Addr is the host:port to dial instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) accept() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut := p.cut
		p.mu.Unlock()
		if cut {
			in.Close()
			continue
		}
		out, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		if p.cut {
			// Cut while dialing: after SetCut returns nothing may pass.
			p.mu.Unlock()
			in.Close()
			out.Close()
			continue
		}
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		go p.pipe(in, out, false)
		go p.pipe(out, in, true)
	}
}

// pipe copies src to dst; out says it carries what the dialer sends.
func (p *Proxy) pipe(dst, src net.Conn, out bool) {
	buf := make([]byte, 32<<10)
	for {
		for p.isPaused(out) {
			time.Sleep(5 * time.Millisecond)
		}
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			d := p.delay
			p.mu.Unlock()
			if d > 0 {
				time.Sleep(d)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
}

// SetCut cuts the link (closing every connection through it and refusing
// new ones, as a network partition would) or heals it. Once it returns
// from cutting, every connection through the link is closed: nothing
// sent after that reaches the other side.
func (p *Proxy) SetCut(cut bool) {
	p.mu.Lock()
	p.cut = cut
	conns := p.conns
	if cut {
		p.conns = nil
	}
	p.mu.Unlock()
	if cut {
		for _, c := range conns {
			c.Close()
		}
	}
}

func (p *Proxy) isPaused(out bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused || (out && p.heldOut) || (!out && p.heldIn)
}

// SetPaused stops (or resumes) reading on the link's connections.
func (p *Proxy) SetPaused(paused bool) {
	p.mu.Lock()
	p.paused = paused
	p.mu.Unlock()
}

// SetHeld stops (or resumes) reading one direction of the link's
// connections: out is what the dialer sends to the target, in what comes
// back. Bytes are held, not dropped (TCP would retransmit them), so one
// side hears the other while it is not heard: a one-way partition.
func (p *Proxy) SetHeld(out, in bool) {
	p.mu.Lock()
	p.heldOut, p.heldIn = out, in
	p.mu.Unlock()
}

// SetDelay holds every chunk forwarded for d before writing it on.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

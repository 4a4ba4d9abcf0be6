package server

import (
	"sort"
	"time"

	"github.com/wisp-mq/wisp/sublist"
)

// ConnSnapshot is a point-in-time view of one client connection, for
// monitoring. Taking one never blocks the connection's message path for
// longer than a short mutex hold.
type ConnSnapshot struct {
	CID   uint64
	IP    string
	Port  int
	Start time.Time
	// LastActivity is when the connection last sent or was sent messages
	// or changed its interest (zero: use Start); RTT its last measured
	// round trip, 0 before any.
	LastActivity time.Time
	RTT          time.Duration
	Name         string
	Lang         string
	Version      string
	User         string
	Account      string // "$G" for the global account
	TLS          bool
	Websocket    bool // came in on the WebSocket port
	InMsgs       int64
	InBytes      int64
	OutMsgs      int64
	OutBytes     int64
	PendingBytes int64
	NumSubs      int
	Subs         []SubSnapshot // filled only when asked for
	// Type is the protocol: "" for NATS, "mqtt" for an MQTT client
	// (external.go), whose client id is MQTTClient.
	Type       string
	MQTTClient string
}

// SubSnapshot describes one subscription.
type SubSnapshot struct {
	Subject   string
	Queue     string
	Sid       string
	Delivered int64
	Max       int64
}

// Stats are the server-wide counters.
type Stats struct {
	Start          time.Time
	Connections    int
	TotalConns     int64
	Subscriptions  int
	InMsgs         int64
	InBytes        int64
	OutMsgs        int64
	OutBytes       int64
	SlowConsumers  int64
	AuthFailures   int64
	ProtocolErrors map[string]int64 // by kind: parse, unknown_op, max_payload, ...
	Sublist        sublist.Stats
}

// Stats returns the server-wide counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Start:          s.start,
		Connections:    s.NumConnections(),
		TotalConns:     s.stats.totalConns.Load(),
		Subscriptions:  s.NumSubscriptions(),
		InMsgs:         s.stats.inMsgs.Load(),
		InBytes:        s.stats.inBytes.Load(),
		OutMsgs:        s.stats.outMsgs.Load(),
		OutBytes:       s.stats.outBytes.Load(),
		SlowConsumers:  s.stats.slowConsumers.Load(),
		AuthFailures:   s.stats.authFailures.Load(),
		ProtocolErrors: make(map[string]int64, numProtoErrKinds),
		Sublist:        s.sublistTotals(),
	}
	for k := range s.stats.protoErrors {
		st.ProtocolErrors[protoErrKindNames[k]] = s.stats.protoErrors[k].Load()
	}
	return st
}

// Conns returns a snapshot of every open client connection, ordered by
// connection id; withSubs adds each one's subscriptions.
func (s *Server) Conns(withSubs bool) []ConnSnapshot {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	out := make([]ConnSnapshot, 0, len(conns))
	for _, c := range conns {
		out = append(out, c.snapshot(withSubs))
	}
	for _, cs := range s.externalSnapshots() {
		if !withSubs {
			cs.Subs = nil
		}
		out = append(out, cs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CID < out[j].CID })
	return out
}

// Subscriptions visits every subscription held, internal ones included
// (their Sid is empty), until fn returns false.
// Every account is visited; the internal subscriptions imports make are not.
func (s *Server) Subscriptions(fn func(subject, queue string, cid uint64) bool) {
	s.mu.Lock()
	accs := []*account{s.global}
	for _, a := range s.accounts {
		if a != s.global {
			accs = append(accs, a)
		}
	}
	s.mu.Unlock()
	more := true
	for _, a := range accs {
		a.sl.Range(func(subject, queue string, sub *subscription) bool {
			if sub.stream != nil || sub.service != nil || sub.sys != nil {
				return true
			}
			var cid uint64
			if sub.conn != nil {
				cid = sub.conn.id
			}
			more = fn(subject, queue, cid)
			return more
		})
		if !more {
			return
		}
	}
}

func (c *conn) snapshot(withSubs bool) ConnSnapshot {
	c.infoMu.Lock()
	cs := ConnSnapshot{
		CID: c.id, IP: c.host, Port: c.port, Start: c.start,
		Name: c.opts.Name, Lang: c.opts.Lang, Version: c.opts.Version, User: c.user,
		Account: c.acc.name, TLS: c.tls, Websocket: c.ws != nil,
	}
	c.infoMu.Unlock()
	cs.InMsgs, cs.InBytes = c.inMsgs.Load(), c.inBytes.Load()
	cs.LastActivity, cs.RTT = c.lastActivity(), c.roundTrip()
	c.out.mu.Lock()
	cs.OutMsgs, cs.OutBytes, cs.PendingBytes = c.out.msgs, c.out.bytes, c.out.pending
	c.out.mu.Unlock()
	c.subsMu.Lock()
	cs.NumSubs = len(c.subs)
	var subs []*subscription
	if withSubs {
		subs = make([]*subscription, 0, len(c.subs))
		for _, sub := range c.subs {
			subs = append(subs, sub)
		}
	}
	c.subsMu.Unlock()
	if withSubs {
		cs.Subs = make([]SubSnapshot, len(subs))
		c.out.mu.Lock() // guards the delivered counts
		for i, sub := range subs {
			cs.Subs[i] = SubSnapshot{Subject: sub.subject, Queue: sub.queue, Sid: string(sub.sid),
				Delivered: sub.delivered, Max: sub.max.Load()}
		}
		c.out.mu.Unlock()
	}
	return cs
}

// clientName is the name given in CONNECT; safe from any goroutine.
func (c *conn) clientName() string {
	c.infoMu.Lock()
	defer c.infoMu.Unlock()
	return c.opts.Name
}

// sublistTotals adds up the subject indexes of every account: each account
// has its own, and the monitoring figures are the server's.
func (s *Server) sublistTotals() sublist.Stats {
	s.mu.Lock()
	sls := make([]*sublist.Sublist[*subscription], 0, len(s.accounts)+1)
	sls = append(sls, s.sl)
	for _, a := range s.accounts {
		if a != s.global {
			sls = append(sls, a.sl)
		}
	}
	s.mu.Unlock()
	var t sublist.Stats
	var fanoutSum float64 // AvgFanout weighted by each index's cache entries
	for _, sl := range sls {
		st := sl.Stats()
		t.MaxFanout = max(t.MaxFanout, st.MaxFanout)
		fanoutSum += st.AvgFanout * float64(st.CacheEntries)
		t.Subs += st.Subs
		t.CacheEntries += st.CacheEntries
		t.Matches += st.Matches
		t.CacheHits += st.CacheHits
		t.CacheMisses += st.CacheMisses
		t.Inserts += st.Inserts
		t.Removes += st.Removes
	}
	if t.CacheEntries > 0 {
		t.AvgFanout = fanoutSum / float64(t.CacheEntries)
	}
	// The system plane's own subscriptions are not the users' (system.go).
	if n := uint64(s.sysSubCount()); t.Subs >= n {
		t.Subs -= n
	}
	return t
}

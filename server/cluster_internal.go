package server

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/wisp-mq/wisp/protocol"
)

// Cluster-internal messages: the servers' own subsystems (replication)
// exchange bytes over the routes the cluster already has, so they get the
// routes' credentials and TLS, and no second port to secure.
//
// Such a message travels as an RMSG in a reserved account that no
// configuration can name, with the channel as its subject:
//
//	RMSG $WISP_CLUSTER <channel> <size>
//
// Reusing RMSG keeps the parser (and so the client hot path) unchanged,
// and costs a route's receiving side one length comparison per message
// before its account lookup. The message never reaches a sublist, an
// interest table or a client: route.HandleOp hands it to the channel's
// handler directly, on the route's reader goroutine.

// ClusterAccount is the reserved account of cluster-internal messages.
const ClusterAccount = "$WISP_CLUSTER"

// ClusterFrameMax is the largest cluster-internal message a server sends
// or accepts. A route's parser holds at most this much for one op, so a
// broken or hostile peer cannot make a server buffer more.
const ClusterFrameMax = 4 << 20

// ErrClusterPeerUnknown means no route to the named server is up.
var ErrClusterPeerUnknown = errors.New("server: no route to that server")

// ErrClusterBusy means the route to the peer has more queued than cluster
// messages may add to: the caller should drop the message (and retry
// later, as raft does), never wait for the route.
var ErrClusterBusy = errors.New("server: route to that server is busy")

// ClusterHandler receives a cluster-internal message from the server named
// from. payload is valid only during the call; the handler runs on the
// route's reader goroutine and must not block.
type ClusterHandler func(from string, payload []byte)

// ClusterPeer is another server of the cluster with a route up.
type ClusterPeer struct {
	Name, ID string
	// Streams says the server runs the stream layer (-js).
	Streams bool
}

// HandleCluster sets the handler of channel (a subject token), replacing
// any earlier one; nil removes it. Messages on a channel without a handler
// are dropped.
func (s *Server) HandleCluster(channel string, h ClusterHandler) {
	s.clusterMu.Lock()
	defer s.clusterMu.Unlock()
	old := s.clusterHandlers.Load()
	m := make(map[string]ClusterHandler, 1)
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	if h == nil {
		delete(m, channel)
	} else {
		m[channel] = h
	}
	s.clusterHandlers.Store(&m)
}

// ClusterSend queues payload for the server named peer on channel. It
// never blocks: it fails with ErrClusterPeerUnknown when no route to peer
// is up and with ErrClusterBusy when the message would take the route's
// queue past half its limit, so that cluster traffic can never push a
// route into being cut as slow. Delivery is at most once, in order per route.
func (s *Server) ClusterSend(peer, channel string, payload []byte) error {
	if len(payload) > ClusterFrameMax {
		return fmt.Errorf("server: cluster message of %d bytes exceeds %d", len(payload), ClusterFrameMax)
	}
	cl := s.cl
	if cl == nil {
		return ErrClusterPeerUnknown
	}
	var r *route
	if names := cl.byName.Load(); names != nil {
		r = (*names)[peer]
	}
	if r == nil || !r.registered.Load() {
		return ErrClusterPeerUnknown
	}
	o := &r.c.out
	var line [64]byte
	head := append(line[:0], "RMSG "+ClusterAccount+" "...)
	head = append(head, channel...)
	head = append(head, ' ')
	head = strconv.AppendInt(head, int64(len(payload)), 10)
	head = append(head, "\r\n"...)
	n := int64(len(head) + len(payload) + 2)
	o.mu.Lock()
	if o.closing {
		o.mu.Unlock()
		return ErrClusterPeerUnknown
	}
	if o.pending+n > o.maxPending()/2 {
		o.mu.Unlock()
		return ErrClusterBusy
	}
	o.appendBytes(head)
	o.appendBytes(payload)
	o.appendBytes([]byte("\r\n"))
	o.queued(n, 1, int64(len(payload)))
	o.kickWriter()
	return nil
}

// ClusterPeers lists the servers with a route up, sorted by name.
func (s *Server) ClusterPeers() []ClusterPeer {
	cl := s.cl
	if cl == nil {
		return nil
	}
	cl.mu.Lock()
	out := make([]ClusterPeer, 0, len(cl.routes))
	for id, r := range cl.routes {
		out = append(out, ClusterPeer{Name: r.remote.ServerName, ID: id, Streams: r.remote.JetStream})
	}
	cl.mu.Unlock()
	slices.SortFunc(out, func(a, b ClusterPeer) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// ClusterSeeds reports, for each configured seed route, the name of the
// server found there ("" while unknown; this server's own name for a seed
// that is this server). A seed is known once a route dialled to it has
// handshaken (even if that route then lost a race to a duplicate) or a
// route from the server advertising it is up.
func (s *Server) ClusterSeeds() []string {
	cl := s.cl
	if cl == nil {
		return nil
	}
	out := make([]string, 0, len(cl.opts.Routes))
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, raw := range cl.opts.Routes {
		u, err := ParseRouteURL(raw)
		if err != nil {
			out = append(out, "")
			continue
		}
		out = append(out, cl.seedName(u))
	}
	return out
}

// seedName is who is at seed u, or "". Called with mu held.
func (cl *cluster) seedName(u *url.URL) string {
	if u.Host == cl.routeURL {
		return cl.s.name
	}
	if n := cl.seeds[u.Host]; n != "" {
		return n
	}
	if r := cl.routeTo(u.Host); r != nil {
		return r.remote.ServerName
	}
	return ""
}

// isClusterAccount reports whether a route op's account is the reserved
// one. Comparing the conversion allocates nothing, and Go compares the
// lengths first, so every other message costs one comparison.
func isClusterAccount(name []byte) bool {
	return string(name) == ClusterAccount
}

// deliverCluster hands a cluster-internal message to its channel's
// handler.
func (r *route) deliverCluster(op *protocol.Op) {
	hs := r.cl.s.clusterHandlers.Load()
	if hs == nil {
		return
	}
	h := (*hs)[string(op.Subject)]
	if h == nil {
		return
	}
	r.c.reads.inMsgs++
	r.c.reads.inBytes += int64(len(op.Data))
	h(r.remote.ServerName, op.Data)
}

// clusterHandlerMap is the copy-on-write handler table.
type clusterHandlerMap = atomic.Pointer[map[string]ClusterHandler]

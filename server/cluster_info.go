package server

import (
	"net"
	"slices"
	"strconv"
)

// clusterInfo adds the cluster's fields to a client INFO: its name and,
// unless no_advertise is set, connect_urls, the client URLs of every
// server, which client libraries add to their server lists.
func (s *Server) clusterInfo(si *serverInfo) {
	cl := s.cl
	if cl == nil {
		return
	}
	si.Cluster = cl.opts.Name
	if !cl.opts.NoAdvertise {
		si.ConnectURLs = cl.clientURLs()
	}
}

// ownClientURL is host:port where this server accepts clients, as other
// servers' clients should dial it.
func (s *Server) ownClientURL() string {
	a, ok := s.Addr().(*net.TCPAddr)
	if !ok {
		return ""
	}
	if s.InLameDuckMode() {
		return "" // leaving: clients should not come here
	}
	host := s.opts.Host
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return advertisedAddr(a, host)
	}
	return net.JoinHostPort(host, strconv.Itoa(a.Port))
}

// sendAsyncInfo sends a fresh INFO to every client that understands an
// INFO after the first (CONNECT protocol 1, as nats.go sends), so that
// their server lists follow the servers joining and leaving the cluster.
func (s *Server) sendAsyncInfo() {
	for _, c := range s.connList() {
		c.infoMu.Lock()
		ok := c.connected && c.opts.Protocol >= 1
		c.infoMu.Unlock()
		if ok {
			c.out.enqueue(c.infoLine())
			c.out.kickWriter()
		}
	}
}

// ClusterAddr is the route listener's address, or nil when clustering is off.
func (s *Server) ClusterAddr() net.Addr {
	if s.cl == nil {
		return nil
	}
	return s.cl.ln.Addr()
}

// NumRoutes is the number of routes in use to other servers.
func (s *Server) NumRoutes() int {
	if s.cl == nil {
		return 0
	}
	s.cl.mu.Lock()
	defer s.cl.mu.Unlock()
	return len(s.cl.routes)
}

// clientURLs are the client URLs of every server of the cluster, this one
// first, for the connect_urls of INFO.
func (cl *cluster) clientURLs() []string {
	return cl.urls(cl.s.ownClientURL(), func(ri *routeInfo) []string { return ri.ClientURLs })
}

// websocketURLs are the WebSocket URLs of every server of the cluster
// that has a WebSocket port, this one first, for the connect_urls of a
// WebSocket client's INFO.
func (cl *cluster) websocketURLs() []string {
	return cl.urls(cl.s.ownWebsocketURL(), func(ri *routeInfo) []string { return ri.WSConnectURLs })
}

// urls lists own (when not empty) and then, sorted, what each route's
// peer announced, leaving out peers in lame-duck mode.
func (cl *cluster) urls(own string, of func(*routeInfo) []string) []string {
	var out []string
	if own != "" {
		out = append(out, own)
	}
	cl.mu.Lock()
	for _, r := range cl.routes {
		if !r.remote.LameDuck {
			out = append(out, of(&r.remote)...)
		}
	}
	cl.mu.Unlock()
	slices.Sort(out[min(1, len(out)):])
	return out
}

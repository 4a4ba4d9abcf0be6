package server

import (
	"net/url"
	"slices"
)

// Gossip: each route's INFO lists the servers its sender has routes to;
// the receiver dials those it lacks, so a server that knows one seed finds
// the whole cluster.

// gossip tells every route about the current set of servers, dials the
// servers ri knows that this one has no route to, and tells clients about
// the new set of client URLs.
func (cl *cluster) gossip(ri *routeInfo) {
	cl.dialPeers(ri.Peers)
	for _, r := range cl.registered() {
		r.sendInfo()
	}
	cl.s.sendAsyncInfo()
}

// dialPeers starts dialling each peer this server has no route to.
func (cl *cluster) dialPeers(peers []routePeer) {
	for _, p := range peers {
		if p.ID == cl.s.id || p.RouteURL == "" {
			continue
		}
		cl.mu.Lock()
		_, have := cl.routes[p.ID]
		cl.mu.Unlock()
		if have {
			continue
		}
		if u, err := ParseRouteURL("nats://" + p.RouteURL); err == nil {
			if seedUser := cl.seedCredentials(); seedUser != nil {
				u.User = seedUser
			}
			cl.startDial(u, false, p.ID)
		}
	}
}

// seedCredentials are the credentials to present to servers learned by
// gossip: those of the first seed that has any, else this server's own
// [cluster.authorization] (a cluster usually shares one).
func (cl *cluster) seedCredentials() *url.Userinfo {
	for _, r := range cl.opts.Routes {
		if u, err := ParseRouteURL(r); err == nil && u.User != nil {
			return u.User
		}
	}
	if cl.opts.Username != "" {
		return url.UserPassword(cl.opts.Username, cl.opts.Password)
	}
	return nil
}

// updatePeer takes a later INFO from a registered route.
func (cl *cluster) updatePeer(r *route, ri *routeInfo) {
	cl.mu.Lock()
	changed := !slices.Equal(r.remote.ClientURLs, ri.ClientURLs) || !slices.Equal(r.remote.WSConnectURLs, ri.WSConnectURLs) ||
		r.remote.LameDuck != ri.LameDuck
	r.remote.ClientURLs, r.remote.Peers, r.remote.LameDuck = ri.ClientURLs, ri.Peers, ri.LameDuck
	r.remote.WSConnectURLs = ri.WSConnectURLs
	cl.mu.Unlock()
	cl.dialPeers(ri.Peers)
	if changed {
		cl.s.sendAsyncInfo()
	}
}

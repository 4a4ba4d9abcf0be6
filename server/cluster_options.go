package server

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"
)

// ClusterOptions join this server to others in a full-mesh cluster for core
// messaging (see cluster.go). The cluster is off while Port is 0.
type ClusterOptions struct {
	// Name must be the same on every server of the cluster; a route from a
	// server of another cluster is refused.
	Name string
	Host string // route listen address, default the client Host
	Port int    // route port; 0 = clustering off, -1 picks a free port

	// Routes are seed URLs of other servers' route ports,
	// nats://[user:password@]host:port. The credentials, when given, are
	// presented to that server. Gossip finds every other server.
	Routes []string

	// Advertise is the host:port other servers should dial to reach this
	// one, when the listen address is not reachable as is (NAT, 0.0.0.0).
	Advertise string
	// NoAdvertise keeps the other servers' client URLs out of the INFO
	// sent to this server's clients (connect_urls).
	NoAdvertise bool
	// ConnectRetries is how many times in a row a server learned through
	// gossip is redialled before it is forgotten. Seeds in Routes are
	// redialled for ever. Default 3.
	ConnectRetries int

	// Username and Password, when set, are required from every server
	// that dials this one ([cluster.authorization]).
	Username string
	Password string

	// MaxPending bounds the bytes queued for one route; a route past it is
	// closed, counted and redialled so that a stuck peer cannot hold this
	// server's memory. Default 64 MiB (max_pending of the server if larger).
	MaxPending int64

	// TLS, when set, puts every route in TLS from its first byte
	// ([cluster.tls], cluster_tls.go). Every server of the cluster needs it.
	TLS *TLSOptions

	// pingMax caps the keepalive PING interval on routes (the server's
	// PingInterval when shorter); tests shorten it.
	pingMax time.Duration
}

// Defaults for routes.
const (
	DefaultRouteConnectRetries = 3
	DefaultRouteMaxPending     = 64 << 20
	// routeDialMin and routeDialMax bound the jittered backoff between
	// dials of one route.
	routeDialMin = 50 * time.Millisecond
	routeDialMax = 2 * time.Second
	// routePingMax caps the PING interval on routes, as nats-server caps
	// its routes': a peer whose host died without closing the TCP
	// connection is then found stale after about (max_pings_out+1) × 30s
	// rather than the clients' (max_pings_out+1) × 2m.
	routePingMax = 30 * time.Second
)

// Enabled reports whether clustering is on.
func (c *ClusterOptions) Enabled() bool { return c.Port != 0 }

func (c *ClusterOptions) setDefaults(o *Options) {
	if !c.Enabled() {
		return
	}
	if c.Host == "" {
		c.Host = o.Host
	}
	if c.ConnectRetries == 0 {
		c.ConnectRetries = DefaultRouteConnectRetries
	}
	if c.MaxPending == 0 {
		c.MaxPending = max(DefaultRouteMaxPending, o.MaxPending)
	}
	if c.pingMax == 0 {
		c.pingMax = routePingMax
	}
}

func (c *ClusterOptions) validate(bad func(name, format string, args ...any)) {
	if c.Port < -1 || c.Port > 65535 {
		bad("cluster.port", "%d is not a TCP port (1-65535, or -1 for any free port)", c.Port)
	}
	if !c.Enabled() {
		if c.Name != "" || len(c.Routes) > 0 || c.Advertise != "" {
			bad("cluster.port", "the cluster needs a route port (--cluster nats://host:port or [cluster] port)")
		}
		return
	}
	if c.Name == "" {
		bad("cluster.name", "every server of a cluster needs the same cluster name (--cluster_name)")
	} else if !validName(c.Name) {
		bad("cluster.name", "%q must not contain spaces or control characters", c.Name)
	}
	for _, r := range c.Routes {
		if _, err := ParseRouteURL(r); err != nil {
			bad("cluster.routes", "%v", err)
		}
	}
	if c.Advertise != "" {
		if _, _, err := net.SplitHostPort(c.Advertise); err != nil {
			bad("cluster.advertise", "expected host:port: %v", err)
		}
	}
	if c.ConnectRetries < 0 {
		bad("cluster.connect_retries", "must not be negative")
	}
	if (c.Username == "") != (c.Password == "") {
		bad("cluster.authorization", "user and password must be given together")
	}
	if c.MaxPending < 0 {
		bad("cluster.max_pending", "must not be negative")
	}
	if c.TLS != nil {
		validateRouteTLS(c.TLS, bad)
	}
}

// validName reports whether a server or cluster name can travel in INFO
// and logs as one token.
func validName(s string) bool {
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// ParseRouteURL checks a route URL, nats://[user:password@]host:port (the
// scheme may be nats or route, as with nats-server), and returns it parsed.
func ParseRouteURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("route %q: %v", s, err)
	}
	if u.Scheme != "nats" && u.Scheme != "route" && u.Scheme != "tls" {
		return nil, fmt.Errorf("route %q: scheme must be nats://", s)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return nil, fmt.Errorf("route %q: expected nats://host:port", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return nil, fmt.Errorf("route %q: %q is not a TCP port", s, port)
	}
	return u, nil
}

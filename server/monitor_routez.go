package server

import (
	"cmp"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Routez is the /routez body, with nats-server's field names: the routes
// to the other servers of the cluster and their traffic.
type Routez struct {
	ServerID   string      `json:"server_id"`
	ServerName string      `json:"server_name"`
	Now        time.Time   `json:"now"`
	NumRoutes  int         `json:"num_routes"`
	Routes     []RouteInfo `json:"routes"`
}

// RouteInfo is one route in /routez.
type RouteInfo struct {
	RID          uint64    `json:"rid"`
	RemoteID     string    `json:"remote_id"`
	RemoteName   string    `json:"remote_name"`
	DidSolicit   bool      `json:"did_solicit"`
	IsConfigured bool      `json:"is_configured"`
	IP           string    `json:"ip"`
	Port         int       `json:"port"`
	Start        time.Time `json:"start"`
	LastActivity time.Time `json:"last_activity"`
	RTT          string    `json:"rtt,omitempty"`
	Uptime       string    `json:"uptime"`
	Idle         string    `json:"idle"`
	Pending      int64     `json:"pending_size"`
	InMsgs       int64     `json:"in_msgs"`
	OutMsgs      int64     `json:"out_msgs"`
	InBytes      int64     `json:"in_bytes"`
	OutBytes     int64     `json:"out_bytes"`
	NumSubs      int       `json:"subscriptions"`
	// Compression is always "off", what nats-server shows for a route
	// without compression: Wisp does not compress routes.
	Compression string `json:"compression,omitempty"`
	// With subs=1, the subjects the other server has interest in; with
	// subs=detail, each with its queue group. Msgs is not counted for a
	// route's interest (it stays 0): /routez's in_msgs and out_msgs count
	// the route's traffic.
	Subs       []string    `json:"subscriptions_list,omitempty"`
	SubsDetail []SubDetail `json:"subscriptions_list_detail,omitempty"`
}

// ClusterVarz is /varz's "cluster" object, as nats-server names it.
type ClusterVarz struct {
	Name        string   `json:"name,omitempty"`
	Addr        string   `json:"addr,omitempty"`
	ClusterPort int      `json:"cluster_port,omitempty"`
	AuthTimeout float64  `json:"auth_timeout,omitempty"`
	URLs        []string `json:"urls,omitempty"`
	// Wisp's own: routes closed for exceeding their pending limit.
	SlowRoutes int64 `json:"slow_routes,omitempty"`
}

// Routez returns what /routez serves, without subscription lists.
func (s *Server) Routez() Routez { return s.routez(subsNone) }

// routez lists the routes and, as subs asks, each one's interest.
func (s *Server) routez(subs subsMode) Routez {
	rz := Routez{ServerID: s.id, ServerName: s.name, Now: time.Now(), Routes: []RouteInfo{}}
	cl := s.cl
	if cl == nil {
		return rz
	}
	seeds := map[string]bool{}
	for _, r := range cl.opts.Routes {
		if u, err := ParseRouteURL(r); err == nil {
			seeds[u.Host] = true
		}
	}
	for _, r := range cl.registered() {
		c := r.c
		cl.mu.Lock()
		ri := RouteInfo{
			RID: c.id, RemoteID: r.remote.ServerID, RemoteName: r.remote.ServerName,
			DidSolicit: r.dialed != nil, IP: c.host, Port: c.port,
			Start: c.start, Uptime: formatUptime(rz.Now.Sub(c.start)),
		}
		cl.mu.Unlock()
		ri.IsConfigured = r.dialed != nil && seeds[r.dialed.Host]
		ri.LastActivity, ri.RTT = c.lastActivity(), formatRTT(c.roundTrip())
		ri.Idle, ri.Compression = formatIdle(rz.Now, ri.LastActivity), "off"
		ri.InMsgs, ri.InBytes = c.inMsgs.Load(), c.inBytes.Load()
		c.out.mu.Lock()
		ri.OutMsgs, ri.OutBytes, ri.Pending = c.out.msgs, c.out.bytes, c.out.pending
		c.out.mu.Unlock()
		ri.NumSubs = int(r.numSubs.Load())
		routeSubs(&ri, r, subs)
		rz.Routes = append(rz.Routes, ri)
	}
	slices.SortFunc(rz.Routes, func(a, b RouteInfo) int { return cmp.Compare(a.RemoteName, b.RemoteName) })
	rz.NumRoutes = len(rz.Routes)
	return rz
}

func (s *Server) handleRoutez(w http.ResponseWriter, r *http.Request) {
	subs, err := parseSubsMode(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, s.routez(subs))
}

// routeSubs fills ri's subscription list as subs asks.
func routeSubs(ri *RouteInfo, r *route, subs subsMode) {
	if subs == subsNone {
		return
	}
	list := r.interestList()
	if subs == subsList {
		ri.Subs = make([]string, len(list))
		for i, sub := range list {
			ri.Subs[i] = sub.Subject
		}
		return
	}
	ri.SubsDetail = make([]SubDetail, len(list))
	for i, sub := range list {
		ri.SubsDetail[i] = subDetail(sub, ri.RID)
	}
}

// clusterVarz fills /varz's cluster object.
func (s *Server) clusterVarz() ClusterVarz {
	cl := s.cl
	if cl == nil {
		return ClusterVarz{}
	}
	a := cl.ln.Addr().(*net.TCPAddr)
	return ClusterVarz{
		Name: cl.opts.Name, Addr: cl.opts.Host, ClusterPort: a.Port,
		AuthTimeout: routeHandshakeTimeout.Seconds(), URLs: seedHosts(cl.opts.Routes),
		SlowRoutes: cl.slowRoutes.Load(),
	}
}

// seedHosts lists the seed routes as host:port, as nats-server's /varz
// does: a seed URL may carry the route credentials, which monitoring must
// never show.
func seedHosts(routes []string) []string {
	out := make([]string, 0, len(routes))
	for _, r := range routes {
		if u, err := ParseRouteURL(r); err == nil {
			out = append(out, u.Host)
		}
	}
	return out
}

var (
	mRoutes = prometheus.NewDesc("wisp_routes",
		"Routes in use to other servers of the cluster.", nil, nil)
	mSlowRoutes = prometheus.NewDesc("wisp_slow_routes_total",
		"Routes closed (and redialled) for exceeding their pending limit.", nil, nil)
	mRouteInMsgs = prometheus.NewDesc("wisp_route_in_msgs_total",
		"Messages received over the route to a server.", []string{"remote_name", "remote_id"}, nil)
	mRouteOutMsgs = prometheus.NewDesc("wisp_route_out_msgs_total",
		"Messages sent over the route to a server.", []string{"remote_name", "remote_id"}, nil)
	mRouteInBytes = prometheus.NewDesc("wisp_route_in_bytes_total",
		"Payload bytes received over the route to a server.", []string{"remote_name", "remote_id"}, nil)
	mRouteOutBytes = prometheus.NewDesc("wisp_route_out_bytes_total",
		"Payload bytes sent over the route to a server.", []string{"remote_name", "remote_id"}, nil)
	mRoutePending = prometheus.NewDesc("wisp_route_pending_bytes",
		"Bytes queued for the route to a server.", []string{"remote_name", "remote_id"}, nil)
)

// routeCollector reports the cluster's routes to Prometheus, read from the
// same counters as /routez when scraped.
type routeCollector struct{ s *Server }

func (c routeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mRoutes, mSlowRoutes, mRouteInMsgs, mRouteOutMsgs, mRouteInBytes, mRouteOutBytes, mRoutePending} {
		ch <- d
	}
}

func (c routeCollector) Collect(ch chan<- prometheus.Metric) {
	cl := c.s.cl
	if cl == nil {
		return
	}
	rz := c.s.Routez()
	ch <- prometheus.MustNewConstMetric(mRoutes, prometheus.GaugeValue, float64(rz.NumRoutes))
	ch <- prometheus.MustNewConstMetric(mSlowRoutes, prometheus.CounterValue, float64(cl.slowRoutes.Load()))
	for _, r := range rz.Routes {
		l := []string{r.RemoteName, r.RemoteID}
		ch <- prometheus.MustNewConstMetric(mRouteInMsgs, prometheus.CounterValue, float64(r.InMsgs), l...)
		ch <- prometheus.MustNewConstMetric(mRouteOutMsgs, prometheus.CounterValue, float64(r.OutMsgs), l...)
		ch <- prometheus.MustNewConstMetric(mRouteInBytes, prometheus.CounterValue, float64(r.InBytes), l...)
		ch <- prometheus.MustNewConstMetric(mRouteOutBytes, prometheus.CounterValue, float64(r.OutBytes), l...)
		ch <- prometheus.MustNewConstMetric(mRoutePending, prometheus.GaugeValue, float64(r.Pending), l...)
	}
}

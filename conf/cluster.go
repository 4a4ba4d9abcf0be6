package conf

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/wisp-mq/wisp/server"
)

// The [cluster] table, with nats-server's keys:
//
//	[cluster]
//	name = "east"
//	host = "0.0.0.0"            # or listen = "0.0.0.0:6222"
//	port = 6222
//	routes = ["nats://h2:6222", "nats://user:pw@h3:6222"]
//	advertise = "10.0.0.1:6222"
//	no_advertise = false
//	connect_retries = 3
//	max_pending = "64MB"
//	[cluster.authorization]
//	user = "route"
//	password = "s3cret"
//
//	[cluster.tls]               # TLS on every route, from its first byte
//	cert_file = "route.pem"     # presented to servers that dial, and when dialling
//	key_file = "route-key.pem"
//	ca_file = "ca.pem"          # what the other servers' certificates must chain to
//	verify = true               # require a certificate from servers that dial
//	timeout = "2s"
type fileCluster struct {
	Name           *stringValue     `toml:"name"`
	Host           *stringValue     `toml:"host"`
	Port           *intValue        `toml:"port"`
	Listen         *stringValue     `toml:"listen"`
	Routes         *routeList       `toml:"routes"`
	Advertise      *stringValue     `toml:"advertise"`
	NoAdvertise    *boolValue       `toml:"no_advertise"`
	ConnectRetries *intValue        `toml:"connect_retries"`
	MaxPending     *sizeValue       `toml:"max_pending"`
	Authorization  *fileClusterAuth `toml:"authorization"`
	TLS            *fileTLS         `toml:"tls"`
}

type fileClusterAuth struct {
	User     *stringValue `toml:"user"`
	Password *stringValue `toml:"password"`
}

// routeList is a TOML array of strings (or a single string).
type routeList []string

func (v *routeList) UnmarshalTOML(data any) error {
	switch d := data.(type) {
	case string:
		*v = []string{d}
		return nil
	case []any:
		out := make([]string, 0, len(d))
		for _, e := range d {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("expected a list of strings, found %s", tomlKind(e))
			}
			out = append(out, s)
		}
		*v = out
		return nil
	}
	return fmt.Errorf("expected a list of strings, got %s", tomlKind(data))
}

// applyCluster copies the [cluster] table onto o.
func (p *parsedFile) applyCluster(o *server.ClusterOptions) error {
	f := p.cfg.Cluster
	setString(&o.Name, f.Name)
	setString(&o.Host, f.Host)
	setInt(&o.Port, f.Port)
	if f.Listen != nil {
		if f.Host != nil || f.Port != nil {
			return p.keyError("cluster.listen", errors.New(`set either "listen" or "host"/"port", not both`))
		}
		host, port, err := net.SplitHostPort(string(*f.Listen))
		if err != nil {
			return p.keyError("cluster.listen", fmt.Errorf("expected \"host:port\": %v", err))
		}
		if o.Port, err = parsePort(port); err != nil {
			return p.keyError("cluster.listen", err)
		}
		o.Host = host
	}
	if f.Routes != nil {
		o.Routes = append([]string(nil), *f.Routes...)
	}
	setString(&o.Advertise, f.Advertise)
	setBool(&o.NoAdvertise, f.NoAdvertise)
	setInt(&o.ConnectRetries, f.ConnectRetries)
	if f.MaxPending != nil {
		o.MaxPending = int64(*f.MaxPending)
	}
	if a := f.Authorization; a != nil {
		setString(&o.Username, a.User)
		setString(&o.Password, a.Password)
	}
	if f.TLS != nil {
		o.TLS = f.TLS.options()
	}
	return nil
}

// setClusterListen applies --cluster nats://host:port.
func setClusterListen(c *Config, v string) error {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return fmt.Errorf("expected nats://host:port, got %q", v)
	}
	if u.Scheme != "nats" && u.Scheme != "route" {
		return fmt.Errorf("expected nats://host:port, got %q", v)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return fmt.Errorf("expected nats://host:port, got %q", v)
	}
	p, err := parsePort(port)
	if err != nil {
		return err
	}
	if p == 0 {
		return fmt.Errorf("route port must not be 0 in %q (use -1 for any free port)", v)
	}
	c.Server.Cluster.Host, c.Server.Cluster.Port = host, p
	if u.User != nil {
		c.Server.Cluster.Username = u.User.Username()
		c.Server.Cluster.Password, _ = u.User.Password()
	}
	return nil
}

// splitRoutes applies --routes, a comma-separated list of route URLs.
func splitRoutes(c *Config, v string) error {
	var routes []string
	for _, r := range strings.Split(v, ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		if _, err := server.ParseRouteURL(r); err != nil {
			return err
		}
		routes = append(routes, r)
	}
	c.Server.Cluster.Routes = routes
	return nil
}

var clusterFlags = []*flagDef{
	{names: []string{"cluster", "cluster_listen"}, arg: "<url>", section: "Cluster", key: "cluster.port",
		usage: "Route listen URL for other servers of the cluster, e.g. nats://0.0.0.0:6222",
		set:   setClusterListen},
	{names: []string{"cluster_name"}, arg: "<name>", section: "Cluster", key: "cluster.name",
		usage: "Cluster name, the same on every server of the cluster",
		set:   func(c *Config, v string) error { c.Server.Cluster.Name = v; return nil }},
	{names: []string{"routes"}, arg: "<urls>", section: "Cluster", key: "cluster.routes",
		usage: "Seed routes, comma-separated: nats://h2:6222,nats://h3:6222",
		set:   splitRoutes},
	{names: []string{"cluster_advertise"}, arg: "<host:port>", section: "Cluster", key: "cluster.advertise",
		usage: "Route address to give other servers (behind NAT or 0.0.0.0)",
		set:   func(c *Config, v string) error { c.Server.Cluster.Advertise = v; return nil }},
	{names: []string{"no_advertise"}, section: "Cluster", key: "cluster.no_advertise",
		usage: "Do not give clients the other servers' URLs",
		set:   func(c *Config, v string) (err error) { c.Server.Cluster.NoAdvertise, err = boolArg(v); return err }},
}

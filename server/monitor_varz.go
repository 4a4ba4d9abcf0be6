package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"time"
)

// Varz is the /varz body: the server's configuration, process figures and
// traffic totals. Fields that mean the same as nats-server's carry its JSON
// names, so tools written for nats-server (nats-top, exporters) read them.
type Varz struct {
	ServerID       string        `json:"server_id"`
	ServerName     string        `json:"server_name"`
	Version        string        `json:"version"` // NATSVersion, as in INFO
	WispVersion    string        `json:"wisp_version"`
	GitCommit      string        `json:"git_commit,omitempty"`
	Proto          int           `json:"proto"`
	Go             string        `json:"go"`
	Host           string        `json:"host"`
	Port           int           `json:"port"`
	AuthRequired   bool          `json:"auth_required"`
	TLSRequired    bool          `json:"tls_required,omitempty"`
	TLSVerify      bool          `json:"tls_verify,omitempty"`
	MaxConnections int           `json:"max_connections"`
	MaxSubs        int           `json:"max_subscriptions,omitempty"`
	PingInterval   time.Duration `json:"ping_interval"` // nanoseconds, as nats-server
	MaxPingsOut    int           `json:"ping_max"`
	HTTPHost       string        `json:"http_host"`
	HTTPPort       int           `json:"http_port"`
	AuthTimeout    float64       `json:"auth_timeout"` // seconds, as nats-server
	MaxControlLine int           `json:"max_control_line"`
	MaxPayload     int           `json:"max_payload"`
	MaxPending     int64         `json:"max_pending"`
	WriteDeadline  time.Duration `json:"write_deadline"` // nanoseconds
	JetStream      JetStreamVarz `json:"jetstream"`
	Cluster        ClusterVarz   `json:"cluster"`
	Websocket      WebsocketVarz `json:"websocket"`

	Start      time.Time `json:"start"`
	ConfigLoad time.Time `json:"config_load_time"` // start, or the last reload
	Now        time.Time `json:"now"`
	Uptime     string    `json:"uptime"`
	Mem        int64     `json:"mem"`        // resident set size, bytes
	Cores      int       `json:"cores"`      // CPUs the OS reports
	GoMaxProcs int       `json:"gomaxprocs"` // CPUs Go schedules on
	CPU        float64   `json:"cpu"`        // percent of one core, over the last interval

	Connections      int   `json:"connections"`
	TotalConnections int64 `json:"total_connections"`
	Routes           int   `json:"routes"`    // routes to other servers of the cluster
	Remotes          int   `json:"remotes"`   // always 0
	Leafnodes        int   `json:"leafnodes"` // always 0
	InMsgs           int64 `json:"in_msgs"`
	OutMsgs          int64 `json:"out_msgs"`
	InBytes          int64 `json:"in_bytes"`
	OutBytes         int64 `json:"out_bytes"`
	SlowConsumers    int64 `json:"slow_consumers"`
	Subscriptions    int   `json:"subscriptions"`

	// Wisp's own additions.
	AuthFailures   int64            `json:"auth_failures"`
	ProtocolErrors map[string]int64 `json:"protocol_errors"`
	Sublist        SublistStats     `json:"sublist"`
}

// JetStreamVarz is /varz's "jetstream" object. nats-server puts an object
// here (config and stats), so Wisp does too: a bare bool would break tools
// that decode /varz into nats-server's types.
type JetStreamVarz struct {
	Enabled bool             `json:"enabled"`          // -js / jetstream in the config
	Config  *JetStreamConfig `json:"config,omitempty"` // when the stream layer reports
	Stats   *JetStreamStats  `json:"stats,omitempty"`  // when the stream layer reports
	Error   string           `json:"error,omitempty"`  // what the stream layer reported instead
}

// JetStreamConfig is the stream layer's configuration, as nats-server's
// jetstream.config (0: no limit).
type JetStreamConfig struct {
	MaxMemory  int64  `json:"max_memory"`
	MaxStorage int64  `json:"max_storage"`
	StoreDir   string `json:"store_dir,omitempty"`
}

// JetStreamStats are the stream layer's totals, with nats-server's names.
type JetStreamStats struct {
	Memory    uint64            `json:"memory"`
	Storage   uint64            `json:"storage"`
	Accounts  int               `json:"accounts"` // accounts with a stream layer
	Streams   int               `json:"streams"`
	Consumers int               `json:"consumers"`
	Messages  uint64            `json:"messages"`
	Bytes     uint64            `json:"bytes"`
	API       JetStreamAPIStats `json:"api"`
	// Limits and Stores: configured limits, and each store's usage, disk
	// space and whether it accepts writes (monitor_store.go).
	Limits JetStreamLimits `json:"limits"`
	Stores []StoreStatus   `json:"stores"`
}

// JetStreamAPIStats count the stream layer's API requests.
type JetStreamAPIStats struct {
	Level  int    `json:"level"` // JetStreamAPILevel
	Total  uint64 `json:"total"`
	Errors uint64 `json:"errors"`
}

// SublistStats are the subject index's counters, as /subsz names them.
type SublistStats struct {
	NumSubs      uint64  `json:"num_subscriptions"`
	NumCache     uint64  `json:"num_cache"`
	NumInserts   uint64  `json:"num_inserts"`
	NumRemoves   uint64  `json:"num_removes"`
	NumMatches   uint64  `json:"num_matches"`
	CacheHitRate float64 `json:"cache_hit_rate"`
	MaxFanout    uint64  `json:"max_fanout"`
	AvgFanout    float64 `json:"avg_fanout"`
}

// Varz returns what /varz serves.
func (s *Server) Varz() Varz {
	st := s.Stats()
	now := time.Now()
	o := s.o() // the options in force, after any reload
	v := Varz{
		ServerID:       s.id,
		ServerName:     s.name,
		Version:        NATSVersion,
		WispVersion:    Version,
		GitCommit:      GitCommit,
		Proto:          1,
		Go:             goVersion,
		Host:           o.Host,
		Port:           o.Port,
		AuthRequired:   o.AuthRequired(),
		MaxConnections: o.MaxConnections,
		MaxSubs:        o.MaxSubscriptions,
		PingInterval:   o.PingInterval,
		MaxPingsOut:    o.MaxPingsOut,
		HTTPHost:       o.HTTPHost,
		HTTPPort:       o.HTTPPort,
		AuthTimeout:    o.AuthTimeout.Seconds(),
		MaxControlLine: o.MaxControlLine,
		MaxPayload:     o.MaxPayload,
		MaxPending:     o.MaxPending,
		WriteDeadline:  o.WriteDeadline,
		JetStream:      s.jetStreamVarz(),

		Start:      st.Start,
		ConfigLoad: s.configLoadTime(),
		Now:        now,
		Uptime:     formatUptime(now.Sub(st.Start)),
		Mem:        residentBytes(),
		Cores:      runtime.NumCPU(),
		GoMaxProcs: runtime.GOMAXPROCS(0),

		Connections:      st.Connections,
		TotalConnections: st.TotalConns,
		InMsgs:           st.InMsgs,
		OutMsgs:          st.OutMsgs,
		InBytes:          st.InBytes,
		OutBytes:         st.OutBytes,
		SlowConsumers:    st.SlowConsumers,
		Subscriptions:    st.Subscriptions,
		AuthFailures:     st.AuthFailures,
		ProtocolErrors:   st.ProtocolErrors,
		Sublist:          sublistStats(s),
	}
	if m := s.monitorIfAny(); m != nil {
		v.CPU = m.cpu.percent()
	}
	v.Cluster, v.Routes = s.clusterVarz(), s.NumRoutes()
	v.Websocket = s.websocketVarz()
	if ts := s.tls.Load(); ts != nil {
		v.TLSRequired, v.TLSVerify = true, ts.opts.verifyClients()
	}
	// Report the ports really bound, which differ from the options when
	// they asked for any free port (-1).
	s.mu.Lock()
	if s.ln != nil {
		v.Port = portOf(s.ln.Addr(), v.Port)
	}
	v.HTTPPort = portOf(s.httpAddr, v.HTTPPort)
	s.mu.Unlock()
	return v
}

func (s *Server) handleVarz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Varz())
}

// jetStreamVarz reports the stream layer's totals, if it is wired in.
func (s *Server) jetStreamVarz() JetStreamVarz {
	jv := JetStreamVarz{Enabled: s.opts.JetStream}
	rep, err := s.jetStreamReport()
	switch {
	case errors.Is(err, errNoStreamLayer):
	case err != nil:
		jv.Error = err.Error()
	default:
		jv.Enabled = true
		jv.Stats = rep.totals()
		jv.Config = &JetStreamConfig{MaxMemory: rep.Limits.MaxMemory, MaxStorage: rep.Limits.MaxStorage, StoreDir: rep.StoreDir}
	}
	return jv
}

// sublistStats reads the subject index's counters.
func sublistStats(s *Server) SublistStats {
	ss := s.sublistTotals()
	out := SublistStats{
		NumSubs: ss.Subs, NumCache: ss.CacheEntries, NumInserts: ss.Inserts,
		NumRemoves: ss.Removes, NumMatches: ss.Matches,
		MaxFanout: ss.MaxFanout, AvgFanout: ss.AvgFanout,
	}
	if n := ss.CacheHits + ss.CacheMisses; n > 0 {
		out.CacheHitRate = float64(ss.CacheHits) / float64(n)
	}
	return out
}

func portOf(a net.Addr, def int) int {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.Port
	}
	return def
}

// formatUptime writes d the way nats-server does: "45s", "3m7s", "2h0m5s",
// "4d1h0m0s", "1y2d0h0m0s" (whole seconds, leading zero units left out).
func formatUptime(d time.Duration) string {
	secs := int64(d / time.Second)
	mins, hours := secs/60, secs/3600
	days := hours / 24
	years := days / 365
	switch {
	case years > 0:
		return fmt.Sprintf("%dy%dd%dh%dm%ds", years, days%365, hours%24, mins%60, secs%60)
	case days > 0:
		return fmt.Sprintf("%dd%dh%dm%ds", days, hours%24, mins%60, secs%60)
	case hours > 0:
		return fmt.Sprintf("%dh%dm%ds", hours, mins%60, secs%60)
	case mins > 0:
		return fmt.Sprintf("%dm%ds", mins, secs%60)
	default:
		return fmt.Sprintf("%ds", secs)
	}
}

package bench

// Result is one run of one scenario against one target.
type Result struct {
	Scenario string  `json:"scenario"`
	Target   string  `json:"target"`               // "wisp", or the compared server's label
	Server   string  `json:"server"`               // "embedded", a URL, or a binary path
	Version  string  `json:"server_version"`       // from the server's INFO
	Run      int     `json:"run"`                  // 1-based
	Size     int     `json:"size"`                 // payload bytes
	Pubs     int     `json:"pubs,omitempty"`       // publishers or requesters
	Subs     int     `json:"subs,omitempty"`       // subscribers, members or responders
	Msgs     int64   `json:"msgs"`                 // messages, requests or connections counted in Rate
	Seconds  float64 `json:"seconds"`              // measured wall time
	Rate     float64 `json:"rate"`                 // Msgs / Seconds
	Unit     string  `json:"unit"`                 // of Rate
	MBPerSec float64 `json:"mb_per_sec,omitempty"` // payload bytes counted in Rate, per second

	Latency *Latency `json:"latency,omitempty"` // request/reply scenarios

	// MemPerConn is the server's memory growth per open connection, in
	// bytes (conn scenario, local servers only).
	MemPerConn float64 `json:"mem_per_conn_bytes,omitempty"`

	// Efficiency, where the server is local. Scope says what was measured:
	// ScopeServer for a child process, ScopeProcess for the embedded
	// server (the bench's own process: clients and server together).
	CPUSeconds    float64 `json:"cpu_seconds,omitempty"`
	CPUPerMillion float64 `json:"cpu_seconds_per_million,omitempty"`
	PeakRSS       int64   `json:"peak_rss_bytes,omitempty"`
	Scope         string  `json:"efficiency_scope,omitempty"`

	CapReached bool     `json:"time_cap_reached,omitempty"`
	Notes      []string `json:"notes,omitempty"`
	Error      string   `json:"error,omitempty"` // non-empty: the run failed its checks
}

// Efficiency scopes.
const (
	ScopeServer  = "server process"
	ScopeProcess = "whole bench process (clients + embedded server)"
)

// Latency is a latency distribution in microseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p99_9_us"`
	Max   float64 `json:"max_us"`
}

// OK reports whether the run passed its own checks.
func (r *Result) OK() bool { return r.Error == "" }

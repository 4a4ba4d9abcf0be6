package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// startMonitored runs a server with monitoring on a free port.
func startMonitored(t testing.TB, edit func(*Options)) *Server {
	t.Helper()
	return startServer(t, func(o *Options) {
		o.HTTPPort = -1
		if edit != nil {
			edit(o)
		}
	})
}

// monURL is the monitoring URL for path.
func monURL(s *Server, path string) string {
	return "http://" + s.MonitorAddr().String() + path
}

// monGet fetches path, checks the status and the JSON content type, and
// decodes the body into v (when not nil).
func monGet(t testing.TB, s *Server, path string, wantStatus int, v any) {
	t.Helper()
	resp, err := http.Get(monURL(s, path))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", path, err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: status %d, want %d; body %s", path, resp.StatusCode, wantStatus, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: decoding %s: %v", path, body, err)
		}
	}
}

func varzOf(t testing.TB, s *Server) Varz {
	t.Helper()
	var v Varz
	monGet(t, s, "/varz", http.StatusOK, &v)
	return v
}

// waitVarz polls /varz until cond holds and returns that reading. Counts are
// folded into the totals at the end of each read, which may be just after
// the client's Flush returns, so a reading is only final once it arrives.
func waitVarz(t testing.TB, s *Server, what string, cond func(Varz) bool) Varz {
	t.Helper()
	var v Varz
	eventually(t, what, func() bool { v = varzOf(t, s); return cond(v) })
	return v
}

func TestMonitorVarzCountsPublishes(t *testing.T) {
	s := startMonitored(t, func(o *Options) { o.ServerName = "varz-test" })
	pub := connect(t, s, nats.Name("publisher"))
	sub := connect(t, s, nats.Name("subscriber"))
	ch := make(chan *nats.Msg, 200)
	if _, err := sub.ChanSubscribe("count.me", ch); err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	before := waitVarz(t, s, "both connections and the subscription", func(v Varz) bool {
		return v.Connections == 2 && v.Subscriptions == 1
	})

	payload := []byte("0123456789") // 10 bytes
	for i := 0; i < 100; i++ {
		if err := pub.Publish("count.me", payload); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		select {
		case <-ch:
		case <-time.After(3 * time.Second):
			t.Fatalf("received %d of 100 messages", i)
		}
	}
	after := waitVarz(t, s, "100 messages in and out", func(v Varz) bool {
		return v.InMsgs-before.InMsgs >= 100 && v.OutMsgs-before.OutMsgs >= 100
	})
	// PING, PONG, CONNECT and SUB are not messages: exactly the 100 PUBs count.
	if d := after.InMsgs - before.InMsgs; d != 100 {
		t.Errorf("in_msgs grew by %d, want 100", d)
	}
	if d := after.InBytes - before.InBytes; d != 1000 {
		t.Errorf("in_bytes grew by %d, want 1000", d)
	}
	if d := after.OutMsgs - before.OutMsgs; d != 100 {
		t.Errorf("out_msgs grew by %d, want 100", d)
	}
	if d := after.OutBytes - before.OutBytes; d != 1000 {
		t.Errorf("out_bytes grew by %d, want 1000", d)
	}

	// The rest of /varz describes this server.
	v := after
	port := s.Addr().(*net.TCPAddr).Port
	httpPort := s.MonitorAddr().(*net.TCPAddr).Port
	switch {
	case v.ServerID != s.ID(), v.ServerName != "varz-test", v.Version != NATSVersion, v.WispVersion != Version, v.Proto != 1:
		t.Errorf("identity: %+v", v)
	case v.Port != port, v.HTTPPort != httpPort:
		t.Errorf("ports %d/%d, want %d/%d", v.Port, v.HTTPPort, port, httpPort)
	case v.MaxPayload != DefaultMaxPayload, v.MaxConnections != DefaultMaxConnections, v.PingInterval != DefaultPingInterval:
		t.Errorf("limits: %+v", v)
	case v.Connections != 2 || v.TotalConnections < 2 || v.Subscriptions != 1:
		t.Errorf("connections %d (total %d), subscriptions %d", v.Connections, v.TotalConnections, v.Subscriptions)
	case v.Mem <= 0 || v.Cores <= 0 || v.GoMaxProcs <= 0 || v.CPU < 0:
		t.Errorf("process figures: mem %d cores %d gomaxprocs %d cpu %f", v.Mem, v.Cores, v.GoMaxProcs, v.CPU)
	case !regexp.MustCompile(`^(\d+[ydhm])*\d+s$`).MatchString(v.Uptime):
		t.Errorf("uptime %q", v.Uptime)
	case v.Start.IsZero() || v.Now.Before(v.Start):
		t.Errorf("start %v now %v", v.Start, v.Now)
	case v.JetStream.Enabled || v.JetStream.Stats != nil:
		t.Errorf("jetstream %+v without a stream layer", v.JetStream)
	}
	// Field names matter: tools written for nats-server read them.
	var raw map[string]any
	monGet(t, s, "/varz", http.StatusOK, &raw)
	for _, k := range []string{"server_id", "server_name", "version", "proto", "go", "host", "port", "max_connections",
		"max_payload", "max_control_line", "max_pending", "ping_interval", "ping_max", "http_port", "auth_required",
		"jetstream", "now", "start", "uptime", "mem", "cores", "gomaxprocs", "cpu", "connections", "total_connections",
		"subscriptions", "slow_consumers", "in_msgs", "out_msgs", "in_bytes", "out_bytes"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("/varz has no %q", k)
		}
	}
}

func TestFormatUptime(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{999 * time.Millisecond, "0s"},
		{45 * time.Second, "45s"},
		{3*time.Minute + 7*time.Second, "3m7s"},
		{2*time.Hour + 5*time.Second, "2h0m5s"},
		{(4*24+1)*time.Hour + 2*time.Minute, "4d1h2m0s"},
		{(367*24 + 3) * time.Hour, "1y2d3h0m0s"},
	} {
		if got := formatUptime(c.d); got != c.want {
			t.Errorf("formatUptime(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

// named connects three clients with CONNECT names and known traffic:
// alpha publishes 5 messages, bravo 10 and charlie 1; charlie holds three
// subscriptions, the others none.
func namedTrio(t *testing.T, s *Server) {
	t.Helper()
	for _, c := range []struct {
		name string
		pubs int
		subs []string
	}{
		{"alpha", 5, nil},
		{"bravo", 10, nil},
		{"charlie", 1, []string{"orders.>", "orders.*.eu", "audit"}},
	} {
		nc := connect(t, s, nats.Name(c.name))
		for _, subj := range c.subs {
			var err error
			if subj == "audit" {
				_, err = nc.QueueSubscribeSync(subj, "workers")
			} else {
				_, err = nc.SubscribeSync(subj)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < c.pubs; i++ {
			if err := nc.Publish("nobody.listens", []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "traffic counted", func() bool {
		var n int64
		for _, c := range s.Conns(false) {
			n += c.InMsgs
		}
		return n == 16
	})
}

func connNames(cz Connz) []string {
	var out []string
	for _, c := range cz.Conns {
		out = append(out, c.Name)
	}
	return out
}

func TestMonitorConnz(t *testing.T) {
	s := startMonitored(t, nil)
	namedTrio(t, s)

	var cz Connz
	monGet(t, s, "/connz", http.StatusOK, &cz)
	if cz.Total != 3 || cz.NumConns != 3 || cz.Limit != defaultLimit || cz.Offset != 0 || cz.ServerID != s.ID() {
		t.Fatalf("connz header: %+v", cz)
	}
	if got := connNames(cz); !slices.Equal(got, []string{"alpha", "bravo", "charlie"}) {
		t.Fatalf("names in cid order: %v", got)
	}
	for _, c := range cz.Conns {
		if c.IP != "127.0.0.1" || c.Port == 0 || c.Lang != "go" || c.Version == "" || c.Start.IsZero() || c.Uptime == "" {
			t.Errorf("connection %+v", c)
		}
		if c.Subs != nil || c.SubsDetail != nil {
			t.Errorf("%s: subscriptions listed without subs=1", c.Name)
		}
	}
	if c := cz.Conns[1]; c.InMsgs != 10 || c.InBytes != 10 || c.NumSubs != 0 {
		t.Errorf("bravo: %+v", c)
	}

	// Paging.
	monGet(t, s, "/connz?limit=2", http.StatusOK, &cz)
	if cz.NumConns != 2 || cz.Total != 3 || cz.Limit != 2 || !slices.Equal(connNames(cz), []string{"alpha", "bravo"}) {
		t.Errorf("limit=2: %d of %d, %v", cz.NumConns, cz.Total, connNames(cz))
	}
	monGet(t, s, "/connz?offset=2&limit=2", http.StatusOK, &cz)
	if cz.NumConns != 1 || cz.Offset != 2 || !slices.Equal(connNames(cz), []string{"charlie"}) {
		t.Errorf("offset=2: %v", connNames(cz))
	}
	var raw map[string]any
	monGet(t, s, "/connz?offset=10", http.StatusOK, &raw)
	if list, ok := raw["connections"].([]any); !ok || len(list) != 0 || raw["total"] != 3.0 {
		t.Errorf("past the end: connections=%v total=%v", raw["connections"], raw["total"])
	}

	// Sorting.
	for _, c := range []struct {
		sort string
		want []string
	}{
		{"cid", []string{"alpha", "bravo", "charlie"}},
		{"start", []string{"alpha", "bravo", "charlie"}},
		{"uptime", []string{"alpha", "bravo", "charlie"}},
		{"msgs_from", []string{"bravo", "alpha", "charlie"}},
		{"bytes_from", []string{"bravo", "alpha", "charlie"}},
		{"subs", []string{"charlie", "alpha", "bravo"}},
		{"msgs_to", []string{"alpha", "bravo", "charlie"}}, // all 0: ties keep cid order
	} {
		monGet(t, s, "/connz?sort="+c.sort, http.StatusOK, &cz)
		if got := connNames(cz); !slices.Equal(got, c.want) || cz.Sort != c.sort {
			t.Errorf("sort=%s: %v, want %v", c.sort, got, c.want)
		}
	}
	monGet(t, s, "/connz?sort=msgs_from&limit=1&offset=1", http.StatusOK, &cz)
	if got := connNames(cz); !slices.Equal(got, []string{"alpha"}) {
		t.Errorf("sorted then paged: %v", got)
	}

	// Subscriptions, as subjects and in detail.
	monGet(t, s, "/connz?subs=1&sort=subs&limit=1", http.StatusOK, &cz)
	if got := cz.Conns[0].Subs; !slices.Equal(got, []string{"audit", "orders.*.eu", "orders.>"}) {
		t.Errorf("subs=1: %v", got)
	}
	monGet(t, s, "/connz?subs=detail&cid="+strconv.FormatUint(cz.Conns[0].CID, 10), http.StatusOK, &cz)
	if cz.Total != 1 || len(cz.Conns[0].SubsDetail) != 3 {
		t.Fatalf("subs=detail&cid: %+v", cz)
	}
	if d := cz.Conns[0].SubsDetail[0]; d.Subject != "audit" || d.Queue != "workers" || d.Sid == "" || d.CID != cz.Conns[0].CID {
		t.Errorf("detail %+v", d)
	}
}

func TestMonitorBadParams(t *testing.T) {
	s := startMonitored(t, nil)
	for _, c := range []struct{ path, mention string }{
		{"/connz?offset=abc", "offset"},
		{"/connz?limit=-1", "limit"},
		{"/connz?offset=-5", "offset"},
		{"/connz?limit=1e3", "limit"},
		{"/connz?sort=size", "sort"},
		{"/connz?subs=maybe", "subs"},
		{"/connz?cid=x", "cid"},
		{"/connz?auth=2", "auth"},
		{"/subsz?offset=1.5", "offset"},
		{"/subsz?limit=-1", "limit"},
		{"/subsz?subs=yes", "subs"},
		{"/subsz?subs=1&test=foo.*", "test"},
		{"/subsz?test=foo..bar", "test"},
	} {
		var e apiError
		monGet(t, s, c.path, http.StatusBadRequest, &e)
		if !strings.Contains(e.Error, c.mention) {
			t.Errorf("%s: error %q does not mention %q", c.path, e.Error, c.mention)
		}
	}
}

func subjects(sz Subsz) []string {
	var out []string
	if sz.SubsList != nil {
		for _, d := range sz.Subs {
			out = append(out, d.Subject)
		}
	}
	return out
}

func TestMonitorSubsz(t *testing.T) {
	s := startMonitored(t, nil)
	namedTrio(t, s)
	cancel, err := s.Subscribe("internal.>", "", func(_, _, _, _ []byte) {})
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()

	var sz Subsz
	monGet(t, s, "/subsz", http.StatusOK, &sz)
	if sz.NumSubs != 4 || sz.NumInserts < 4 || sz.NumMatches == 0 || sz.SubsList != nil {
		t.Errorf("counts: %+v", sz)
	}
	if sz.CacheHitRate < 0 || sz.CacheHitRate > 1 {
		t.Errorf("cache_hit_rate %f", sz.CacheHitRate)
	}

	monGet(t, s, "/subsz?subs=1", http.StatusOK, &sz)
	// In-process subscriptions (cid 0) come first, then by connection.
	if got := subjects(sz); !slices.Equal(got, []string{"internal.>", "audit", "orders.*.eu", "orders.>"}) || sz.Total != 4 {
		t.Errorf("subs=1: %v (total %d)", got, sz.Total)
	}
	if d := sz.Subs[1]; d.CID == 0 || d.Sid == "" || d.Queue != "workers" {
		t.Errorf("audit: %+v", d)
	}

	for _, c := range []struct {
		query string
		want  []string
	}{
		{"test=orders.new.eu", []string{"orders.*.eu", "orders.>"}},
		{"test=orders.new", []string{"orders.>"}},
		{"test=orders", nil},
		{"test=internal.x.y", []string{"internal.>"}},
		{"filter=ORDERS", []string{"orders.*.eu", "orders.>"}},
		{"filter=.eu", []string{"orders.*.eu"}},
		{"subs=1&filter=orders&limit=1&offset=1", []string{"orders.>"}},
	} {
		monGet(t, s, "/subsz?"+c.query, http.StatusOK, &sz)
		if got := subjects(sz); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.query, got, c.want)
		}
	}
	monGet(t, s, "/subsz?subs=1&filter=orders&limit=1", http.StatusOK, &sz)
	if sz.Total != 2 || len(sz.Subs) != 1 || sz.Limit != 1 {
		t.Errorf("paged filter: total %d, %d listed", sz.Total, len(sz.Subs))
	}
}

func TestSubjectMatches(t *testing.T) {
	for _, c := range []struct {
		pattern, subject string
		want             bool
	}{
		{"a", "a", true},
		{"a", "b", false},
		{"a.b", "a", false},
		{"a", "a.b", false},
		{"*", "a", true},
		{"*", "a.b", false},
		{"a.*", "a.b", true},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.b.d", false},
		{">", "a", true},
		{">", "a.b.c", true},
		{"a.>", "a", false},
		{"a.>", "a.b", true},
		{"a.>", "a.b.c", true},
		{"*.>", "a.b", true},
		{"*.>", "a", false},
		{"ab", "a", false},
	} {
		if got := subjectMatches(c.pattern, c.subject); got != c.want {
			t.Errorf("subjectMatches(%q, %q) = %v", c.pattern, c.subject, got)
		}
	}
}

// fakeJetStream is a report as a stream layer would give it.
var fakeJetStream = JetStreamReport{
	Memory: 2048, Storage: 1 << 20, APITotal: 42, APIErrors: 2,
	Streams: []StreamReport{
		{
			Name: "ORDERS", Subjects: []string{"orders.>"}, Storage: "file",
			Messages: 120, Bytes: 1 << 20, FirstSeq: 81, LastSeq: 200,
			Consumers: []ConsumerReport{
				{Name: "billing", NumPending: 7, NumAckPending: 3, NumRedelivered: 1, NumWaiting: 2},
				{Name: "shipping", NumPending: 0, NumAckPending: 0},
			},
		},
		{Name: "EVENTS", Subjects: []string{"events.*"}, Storage: "memory", Messages: 4, Bytes: 2048, FirstSeq: 1, LastSeq: 4, NumConsumers: 5},
	},
}

func TestMonitorJsz(t *testing.T) {
	s := startMonitored(t, func(o *Options) { o.JetStream = true })

	// Without a stream layer wired in.
	var off jszOff
	monGet(t, s, "/jsz", http.StatusNotFound, &off)
	if off.Error != "stream layer not enabled" || !off.Enabled {
		t.Errorf("no reporter: %+v", off)
	}
	if v := varzOf(t, s); !v.JetStream.Enabled || v.JetStream.Stats != nil {
		t.Errorf("varz jetstream without reporter: %+v", v.JetStream)
	}

	s.SetJetStreamReporter(func() (JetStreamReport, error) { return fakeJetStream, nil })
	var jz Jsz
	monGet(t, s, "/jsz", http.StatusOK, &jz)
	if !jz.Enabled || jz.Streams != 2 || jz.JetStreamStats.Consumers != 7 || jz.Messages != 124 ||
		jz.Bytes != 1<<20+2048 || jz.Memory != 2048 || jz.Storage != 1<<20 || jz.API.Total != 42 || jz.API.Errors != 2 {
		t.Errorf("totals: %+v", jz.JetStreamStats)
	}
	if len(jz.StreamDetail) != 2 {
		t.Fatalf("stream_detail: %+v", jz.StreamDetail)
	}
	o := jz.StreamDetail[0]
	if o.Name != "ORDERS" || o.State.Messages != 120 || o.State.FirstSeq != 81 || o.State.LastSeq != 200 ||
		o.State.Consumers != 2 || len(o.Consumers) != 2 || o.Storage != "file" {
		t.Errorf("ORDERS: %+v", o)
	}
	// A stream on this server alone names this server its leader.
	if o.Cluster == nil || o.Cluster.Leader != s.Name() || o.Cluster.Name != "" || o.Cluster.RaftGroup != "" {
		t.Errorf("ORDERS' cluster: %+v, want leader %s only", o.Cluster, s.Name())
	}
	if c := o.Consumers[0]; c.Name != "billing" || c.StreamName != "ORDERS" || c.NumPending != 7 || c.NumAckPending != 3 ||
		c.NumRedelivered != 1 || c.NumWaiting != 2 {
		t.Errorf("billing: %+v", c)
	}
	if e := jz.StreamDetail[1]; e.State.Consumers != 5 || e.Consumers == nil {
		t.Errorf("EVENTS: %+v", e)
	}
	v := varzOf(t, s)
	if !v.JetStream.Enabled || v.JetStream.Stats == nil || v.JetStream.Stats.Streams != 2 || v.JetStream.Stats.Storage != 1<<20 {
		t.Errorf("varz jetstream: %+v", v.JetStream)
	}
	var h healthz
	monGet(t, s, "/healthz", http.StatusOK, &h)

	// A stream layer in trouble makes the server unhealthy.
	s.SetJetStreamReporter(func() (JetStreamReport, error) { return JetStreamReport{}, errors.New("store is read-only") })
	monGet(t, s, "/healthz", http.StatusServiceUnavailable, &h)
	if h.Status != "unavailable" || !strings.Contains(h.Error, "store is read-only") {
		t.Errorf("healthz: %+v", h)
	}
	monGet(t, s, "/jsz", http.StatusServiceUnavailable, &off)
	if !strings.Contains(off.Error, "store is read-only") {
		t.Errorf("jsz: %+v", off)
	}
	if v := varzOf(t, s); v.JetStream.Error == "" {
		t.Errorf("varz jetstream: %+v", v.JetStream)
	}

	s.SetJetStreamReporter(nil)
	monGet(t, s, "/healthz", http.StatusOK, &h)
	monGet(t, s, "/jsz", http.StatusNotFound, &off)
}

// The reporter may be set before Start, as cmd/wisp may wire the stream
// layer first.
func TestMonitorReporterBeforeStart(t *testing.T) {
	s, err := New(&Options{Host: "127.0.0.1", Port: -1, HTTPPort: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.SetJetStreamReporter(func() (JetStreamReport, error) { return fakeJetStream, nil })
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	var jz Jsz
	monGet(t, s, "/jsz", http.StatusOK, &jz)
	if jz.Streams != 2 {
		t.Errorf("streams %d", jz.Streams)
	}
}

func TestMonitorHealthzShutdown(t *testing.T) {
	s, err := New(&Options{Host: "127.0.0.1", Port: -1, HTTPPort: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	var h healthz
	monGet(t, s, "/healthz", http.StatusOK, &h)
	if h.Status != "ok" || h.Error != "" {
		t.Fatalf("healthz: %+v", h)
	}
	handler := s.monitor().handler
	addr := s.MonitorAddr().String()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A request the monitoring listener is still answering when shutdown
	// begins sees 503; once it stops, the port is closed.
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("healthz while shutting down: %d %s", rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil || h.Status != "unavailable" || !strings.Contains(h.Error, "shutting down") {
		t.Fatalf("healthz body %s (%v)", rec.Body, err)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("monitoring port still open after Shutdown")
	}
	if _, ok := monitors.Load(s); ok {
		t.Errorf("monitor state kept after Shutdown")
	}
}

func TestMonitorConsoleFiles(t *testing.T) {
	s := startMonitored(t, nil)
	for _, c := range []struct{ path, ctype, contains string }{
		{"/", "text/html; charset=utf-8", "/console/console.js"},
		{"/console/index.html", "text/html; charset=utf-8", "<title>"},
		{"/console/console.js", "text/javascript; charset=utf-8", "/varz"},
		{"/console/console.js", "text/javascript; charset=utf-8", "/routez"},
		{"/console/index.html", "text/html; charset=utf-8", `id="page-cluster"`},
		{"/console/console.css", "text/css; charset=utf-8", "--in"},
		{"/console/favicon.svg", "image/svg+xml", "<svg"},
	} {
		resp, err := http.Get(monURL(s, c.path))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != c.ctype || !strings.Contains(string(body), c.contains) {
			t.Errorf("%s: %d %q, body contains %q: %v", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.contains, strings.Contains(string(body), c.contains))
		}
		etag := resp.Header.Get("ETag")
		if resp.Header.Get("Cache-Control") != "no-cache" || etag == "" || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: caching headers %v", c.path, resp.Header)
		}
		// Revalidation answers 304 while the file is unchanged.
		req, _ := http.NewRequest("GET", monURL(s, c.path), nil)
		req.Header.Set("If-None-Match", etag)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-None-Match: %d", c.path, resp.StatusCode)
		}
	}
	var e apiError
	monGet(t, s, "/console/nope.js", http.StatusNotFound, &e)
	monGet(t, s, "/nope", http.StatusNotFound, &e)
	if !strings.Contains(e.Error, "/nope") {
		t.Errorf("404 body: %+v", e)
	}
	// Nothing in the console reaches beyond the server it came from.
	for path, a := range consoleAssets {
		if regexp.MustCompile(`(?i)(src|href)=["']?(https?:)?//`).Match(a.body) || strings.Contains(string(a.body), "http://") || strings.Contains(string(a.body), "https://") {
			if !strings.HasSuffix(path, ".svg") { // the SVG namespace URI is not a fetch
				t.Errorf("%s refers to another origin", path)
			}
		}
	}
}

// TestMonitorSubszAllAccounts: the subject index figures of /subsz and
// /varz count every account's subscriptions, not the global account's
// alone.
func TestMonitorSubszAllAccounts(t *testing.T) {
	s := startMonitored(t, func(o *Options) {
		o.Users = []User{{Username: "g", Password: "p"}}
		o.Accounts = []AccountConfig{{Name: "A", Users: []User{{Username: "a", Password: "p"}}}}
	})
	g := connect(t, s, nats.UserInfo("g", "p"))
	a := connect(t, s, nats.UserInfo("a", "p"))
	g.SubscribeSync("g.1")
	for _, subj := range []string{"a.1", "a.2", "a.3"} {
		a.SubscribeSync(subj)
	}
	g.Flush()
	a.Flush()
	a.Publish("a.1", nil)
	a.Flush()
	var sz Subsz
	monGet(t, s, "/subsz", http.StatusOK, &sz)
	if sz.NumSubs != 4 || sz.NumInserts < 4 || sz.NumMatches == 0 {
		t.Errorf("/subsz counts: %+v", sz.SublistStats)
	}
	if sz.MaxFanout != 1 || sz.AvgFanout <= 0 || sz.AvgFanout > 1 {
		t.Errorf("/subsz fan-out: max %d, avg %.2f", sz.MaxFanout, sz.AvgFanout)
	}
	var v Varz
	monGet(t, s, "/varz", http.StatusOK, &v)
	if v.Sublist.NumSubs != 4 || v.Subscriptions != 4 {
		t.Errorf("/varz: subscriptions %d, sublist %+v", v.Subscriptions, v.Sublist)
	}
}

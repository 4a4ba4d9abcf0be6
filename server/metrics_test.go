package server

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics and parses it as Prometheus does.
func scrape(t testing.TB, s *Server) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(monURL(s, "/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: status %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return mfs
}

// metricValue finds the sample of name whose labels include want (pairs of
// name, value), and returns its value; ok is false when there is none.
func metricValue(mfs map[string]*dto.MetricFamily, name string, want ...string) (v float64, ok bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == want[i] && lp.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func TestMetrics(t *testing.T) {
	const token = "s3cret"
	s := startMonitored(t, func(o *Options) { o.AuthToken = token })
	sub := connect(t, s, nats.Token(token), nats.Name("sub"))
	ch := make(chan *nats.Msg, 100)
	if _, err := sub.ChanSubscribe("metrics.test", ch); err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	pub := connect(t, s, nats.Token(token), nats.Name("pub"))
	for i := 0; i < 50; i++ {
		if err := pub.Publish("metrics.test", []byte("four")); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		select {
		case <-ch:
		case <-time.After(3 * time.Second):
			t.Fatalf("received %d of 50", i)
		}
	}
	// One client with the wrong token, one that speaks garbage.
	bad := dialRaw(t, s)
	bad.send("CONNECT {\"verbose\":false,\"auth_token\":\"wrong\"}\r\n")
	bad.expect("-ERR 'Authorization Violation'")
	bad.expectClosed()
	rude := dialRaw(t, s)
	rude.send("CONNECT {\"verbose\":false,\"auth_token\":\"" + token + "\"}\r\nHELLO\r\n")
	rude.expect("-ERR 'Unknown Protocol Operation'")
	rude.expectClosed()

	var mfs map[string]*dto.MetricFamily
	eventually(t, "traffic in the metrics", func() bool {
		mfs = scrape(t, s)
		in, _ := metricValue(mfs, "wisp_in_msgs_total")
		out, _ := metricValue(mfs, "wisp_out_msgs_total")
		conns, _ := metricValue(mfs, "wisp_connections")
		return in == 50 && out == 50 && conns == 2
	})
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"wisp_in_msgs_total", nil, 50},
		{"wisp_out_msgs_total", nil, 50},
		{"wisp_in_bytes_total", nil, 200},
		{"wisp_out_bytes_total", nil, 200},
		{"wisp_connections", nil, 2},
		{"wisp_connections_total", nil, 4},
		{"wisp_subscriptions", nil, 1},
		{"wisp_slow_consumers_total", nil, 0},
		{"wisp_auth_failures_total", nil, 1},
		{"wisp_protocol_errors_total", []string{"kind", "unknown_op"}, 1},
		{"wisp_protocol_errors_total", []string{"kind", "max_payload"}, 0},
		{"wisp_info", []string{"server_id", s.ID(), "version", Version}, 1},
	} {
		got, ok := metricValue(mfs, c.name, c.labels...)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if mfs["wisp_in_msgs_total"].GetType() != dto.MetricType_COUNTER || mfs["wisp_connections"].GetType() != dto.MetricType_GAUGE {
		t.Errorf("types: %v %v", mfs["wisp_in_msgs_total"].GetType(), mfs["wisp_connections"].GetType())
	}
	// Every publish looked the subject up: hits and misses add up to at
	// least the 50 lookups (the per-connection cache answers most).
	hits, _ := metricValue(mfs, "wisp_sublist_cache_hits_total")
	misses, ok := metricValue(mfs, "wisp_sublist_cache_misses_total")
	if !ok || hits+misses < 1 {
		t.Errorf("sublist cache: hits %v misses %v", hits, misses)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_resident_memory_bytes", "process_cpu_seconds_total"} {
		if _, ok := mfs[name]; !ok {
			t.Errorf("no %s: the Go and process collectors are missing", name)
		}
	}
	for name := range mfs {
		if strings.HasPrefix(name, "wisp_stream") || strings.HasPrefix(name, "wisp_consumer") || strings.HasPrefix(name, "wisp_jetstream") {
			t.Errorf("%s without a stream layer", name)
		}
	}
}

func TestMetricsStreams(t *testing.T) {
	s := startMonitored(t, nil)
	damaged := fakeJetStream
	damaged.Damage = StoreDamage{LostMessages: 102, DamagedStreams: 1, CorruptRecords: 3}
	s.SetJetStreamReporter(func() (JetStreamReport, error) { return damaged, nil })
	mfs := scrape(t, s)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"wisp_jetstream_up", nil, 1},
		{"wisp_jetstream_memory_bytes", nil, 2048},
		{"wisp_jetstream_storage_bytes", nil, 1 << 20},
		{"wisp_jetstream_api_requests_total", nil, 42},
		{"wisp_jetstream_api_errors_total", nil, 2},
		{"wisp_stream_messages", []string{"stream", "ORDERS"}, 120},
		{"wisp_stream_messages", []string{"stream", "EVENTS"}, 4},
		{"wisp_stream_bytes", []string{"stream", "ORDERS"}, 1 << 20},
		{"wisp_stream_first_seq", []string{"stream", "ORDERS"}, 81},
		{"wisp_stream_last_seq", []string{"stream", "ORDERS"}, 200},
		{"wisp_stream_consumers", []string{"stream", "EVENTS"}, 5},
		{"wisp_consumer_pending", []string{"stream", "ORDERS", "consumer", "billing"}, 7},
		{"wisp_consumer_ack_pending", []string{"stream", "ORDERS", "consumer", "billing"}, 3},
		{"wisp_consumer_redelivered", []string{"stream", "ORDERS", "consumer", "billing"}, 1},
		{"wisp_consumer_waiting", []string{"stream", "ORDERS", "consumer", "billing"}, 2},
		{"wisp_consumer_pending", []string{"stream", "ORDERS", "consumer", "shipping"}, 0},
		{"wisp_jetstream_lost_messages_total", nil, 102},
		{"wisp_jetstream_damaged_streams_total", nil, 1},
		{"wisp_jetstream_corrupt_records_total", nil, 3},
		{"wisp_jetstream_offline_streams", nil, 0},
	} {
		got, ok := metricValue(mfs, c.name, c.labels...)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if n := len(mfs["wisp_consumer_pending"].GetMetric()); n != 2 {
		t.Errorf("%d consumer_pending series, want 2", n)
	}

	// A failing stream layer does not fail the scrape.
	s.SetJetStreamReporter(func() (JetStreamReport, error) { return JetStreamReport{}, errors.New("disk on fire") })
	mfs = scrape(t, s)
	if v, ok := metricValue(mfs, "wisp_jetstream_up"); !ok || v != 0 {
		t.Errorf("wisp_jetstream_up = %v (%v) on error", v, ok)
	}
	if _, ok := mfs["wisp_in_msgs_total"]; !ok {
		t.Errorf("server metrics missing when the stream layer fails")
	}
}

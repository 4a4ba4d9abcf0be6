package server

import (
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Prometheus metrics. Nothing is counted for Prometheus on the message path:
// a collector reads the server's own counters (Stats) and the stream layer's
// report when scraped, and turns them into constant metrics. Each server has
// its own registry, so two servers in one process (as in tests) never
// collide and nothing lands in the global registry.

// metric descriptions, shared by every server's collector.
var (
	mInfo = prometheus.NewDesc("wisp_info", "Server identity; always 1.",
		[]string{"version", "server_id", "server_name"}, nil)
	mInMsgs = prometheus.NewDesc("wisp_in_msgs_total",
		"Messages received from clients and in-process publishers.", nil, nil)
	mOutMsgs = prometheus.NewDesc("wisp_out_msgs_total",
		"Messages delivered to subscribers.", nil, nil)
	mInBytes = prometheus.NewDesc("wisp_in_bytes_total",
		"Payload bytes received (headers included).", nil, nil)
	mOutBytes = prometheus.NewDesc("wisp_out_bytes_total",
		"Payload bytes delivered (headers included).", nil, nil)
	mConns = prometheus.NewDesc("wisp_connections",
		"Client connections open now.", nil, nil)
	mTotalConns = prometheus.NewDesc("wisp_connections_total",
		"Client connections accepted since start.", nil, nil)
	mSubs = prometheus.NewDesc("wisp_subscriptions",
		"Subscriptions held now, in-process ones included.", nil, nil)
	mSlow = prometheus.NewDesc("wisp_slow_consumers_total",
		"Connections closed for falling behind (pending bytes or write deadline).", nil, nil)
	mCacheHits = prometheus.NewDesc("wisp_sublist_cache_hits_total",
		"Subject index lookups answered from its match cache.", nil, nil)
	mCacheMisses = prometheus.NewDesc("wisp_sublist_cache_misses_total",
		"Subject index lookups that walked the trie.", nil, nil)
	mCacheEntries = prometheus.NewDesc("wisp_sublist_cache_entries",
		"Subjects held in the subject index's match cache.", nil, nil)
	mAuthFail = prometheus.NewDesc("wisp_auth_failures_total",
		"Connections refused for missing or wrong credentials.", nil, nil)
	mProtoErr = prometheus.NewDesc("wisp_protocol_errors_total",
		"Protocol errors from clients, by kind.", []string{"kind"}, nil)

	mJSUp = prometheus.NewDesc("wisp_jetstream_up",
		"1 when the stream layer answered this scrape, 0 when it reported an error. Absent without a stream layer.", nil, nil)
	mJSMemory = prometheus.NewDesc("wisp_jetstream_memory_bytes",
		"Bytes held by memory streams.", nil, nil)
	mJSStorage = prometheus.NewDesc("wisp_jetstream_storage_bytes",
		"Bytes held by file streams.", nil, nil)
	mJSAPI = prometheus.NewDesc("wisp_jetstream_api_requests_total",
		"Stream API requests answered.", nil, nil)
	mJSAPIErr = prometheus.NewDesc("wisp_jetstream_api_errors_total",
		"Stream API requests that failed.", nil, nil)
	mStreamMsgs = prometheus.NewDesc("wisp_stream_messages",
		"Messages stored in the stream.", []string{"stream"}, nil)
	mStreamBytes = prometheus.NewDesc("wisp_stream_bytes",
		"Bytes stored in the stream.", []string{"stream"}, nil)
	mStreamFirst = prometheus.NewDesc("wisp_stream_first_seq",
		"Sequence number of the stream's first message.", []string{"stream"}, nil)
	mStreamLast = prometheus.NewDesc("wisp_stream_last_seq",
		"Sequence number of the stream's last message.", []string{"stream"}, nil)
	mStreamConsumers = prometheus.NewDesc("wisp_stream_consumers",
		"Consumers on the stream.", []string{"stream"}, nil)
	mConsPending = prometheus.NewDesc("wisp_consumer_pending",
		"Messages the consumer has not been delivered yet.", []string{"stream", "consumer"}, nil)
	mConsAckPending = prometheus.NewDesc("wisp_consumer_ack_pending",
		"Messages delivered to the consumer and not yet acknowledged.", []string{"stream", "consumer"}, nil)
	mConsRedelivered = prometheus.NewDesc("wisp_consumer_redelivered",
		"Messages delivered to the consumer more than once.", []string{"stream", "consumer"}, nil)
	mConsWaiting = prometheus.NewDesc("wisp_consumer_waiting",
		"Pull requests waiting on the consumer.", []string{"stream", "consumer"}, nil)
)

// serverCollector is a prometheus.Collector over one server's counters.
type serverCollector struct {
	s *Server
}

// Describe sends every description this collector may emit.
func (c serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		mInfo, mInMsgs, mOutMsgs, mInBytes, mOutBytes, mConns, mTotalConns, mSubs, mSlow,
		mCacheHits, mCacheMisses, mCacheEntries, mAuthFail, mProtoErr,
		mJSUp, mJSMemory, mJSStorage, mJSAPI, mJSAPIErr,
		mStreamMsgs, mStreamBytes, mStreamFirst, mStreamLast, mStreamConsumers,
		mConsPending, mConsAckPending, mConsRedelivered, mConsWaiting,
	} {
		ch <- d
	}
	for _, d := range storeDamageDescs {
		ch <- d
	}
	for _, d := range raftDescs {
		ch <- d
	}
	describeStoreMetrics(ch)
}

// Collect reads the counters once and sends them as constant metrics.
func (c serverCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	st := s.Stats()
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(mInfo, 1, Version, s.id, s.name)
	counter(mInMsgs, float64(st.InMsgs))
	counter(mOutMsgs, float64(st.OutMsgs))
	counter(mInBytes, float64(st.InBytes))
	counter(mOutBytes, float64(st.OutBytes))
	gauge(mConns, float64(st.Connections))
	counter(mTotalConns, float64(st.TotalConns))
	gauge(mSubs, float64(st.Subscriptions))
	counter(mSlow, float64(st.SlowConsumers))
	counter(mCacheHits, float64(st.Sublist.CacheHits))
	counter(mCacheMisses, float64(st.Sublist.CacheMisses))
	gauge(mCacheEntries, float64(st.Sublist.CacheEntries))
	counter(mAuthFail, float64(st.AuthFailures))
	for kind, n := range st.ProtocolErrors {
		counter(mProtoErr, float64(n), kind)
	}

	rep, err := s.jetStreamReport()
	switch {
	case errors.Is(err, errNoStreamLayer):
		return
	case err != nil:
		gauge(mJSUp, 0)
		return
	}
	gauge(mJSUp, 1)
	gauge(mJSMemory, float64(rep.Memory))
	gauge(mJSStorage, float64(rep.Storage))
	counter(mJSAPI, float64(rep.APITotal))
	counter(mJSAPIErr, float64(rep.APIErrors))
	collectStoreDamage(ch, &rep.Damage)
	collectRaft(ch, rep.Meta)
	collectStoreMetrics(&rep, ch)
	for i := range rep.Streams {
		sr := &rep.Streams[i]
		gauge(mStreamMsgs, float64(sr.Messages), sr.Name)
		gauge(mStreamBytes, float64(sr.Bytes), sr.Name)
		gauge(mStreamFirst, float64(sr.FirstSeq), sr.Name)
		gauge(mStreamLast, float64(sr.LastSeq), sr.Name)
		gauge(mStreamConsumers, float64(sr.numConsumers()), sr.Name)
		for _, cr := range sr.Consumers {
			gauge(mConsPending, float64(cr.NumPending), sr.Name, cr.Name)
			gauge(mConsAckPending, float64(cr.NumAckPending), sr.Name, cr.Name)
			gauge(mConsRedelivered, float64(cr.NumRedelivered), sr.Name, cr.Name)
			gauge(mConsWaiting, float64(cr.NumWaiting), sr.Name, cr.Name)
		}
	}
}

// metricsHandler builds the server's registry and its /metrics handler.
func (s *Server) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		serverCollector{s: s},
		routeCollector{s: s},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// A stream layer that reports two streams of one name would make the
	// scrape fail as a whole; ContinueOnError serves what is valid and logs.
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slogPromLogger{s},
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// slogPromLogger passes promhttp's errors to the server's logger.
type slogPromLogger struct{ s *Server }

func (l slogPromLogger) Println(v ...any) { l.s.log.Warn("metrics", "err", v) }

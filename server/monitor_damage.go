package server

import "github.com/prometheus/client_golang/prometheus"

// StoreDamage is what the stream layer found wrong with its stores when it
// started: acknowledged messages missing (a damaged file), records that
// fail their checksum, streams kept offline. Everything here is a reason
// for an operator to look; docs/streams.md says what to do.
type StoreDamage struct {
	LostMessages   uint64            `json:"lost_messages"`   // acknowledged, found missing at start
	DamagedStreams uint64            `json:"damaged_streams"` // streams found damaged at start
	StoreProblems  uint64            `json:"store_problems"`  // damaged manifest, unreadable definition, ...
	CorruptRecords uint64            `json:"corrupt_records"` // records skipped: bad checksum
	Offline        map[string]string `json:"offline_streams,omitempty"`
}

// any says whether there is anything to show.
func (d *StoreDamage) any() bool {
	return d.LostMessages+d.DamagedStreams+d.StoreProblems+d.CorruptRecords > 0 || len(d.Offline) > 0
}

var (
	mJSLost = prometheus.NewDesc("wisp_jetstream_lost_messages_total",
		"Acknowledged messages found missing from a damaged store at start.", nil, nil)
	mJSDamaged = prometheus.NewDesc("wisp_jetstream_damaged_streams_total",
		"Streams found damaged at start.", nil, nil)
	mJSStoreProblems = prometheus.NewDesc("wisp_jetstream_store_problems_total",
		"Store-wide problems found at start (damaged manifest, unreadable definitions).", nil, nil)
	mJSCorrupt = prometheus.NewDesc("wisp_jetstream_corrupt_records_total",
		"Stored records skipped because they failed their checksum.", nil, nil)
	mJSOffline = prometheus.NewDesc("wisp_jetstream_offline_streams",
		"Streams kept offline after damage.", nil, nil)
	storeDamageDescs = []*prometheus.Desc{mJSLost, mJSDamaged, mJSStoreProblems, mJSCorrupt, mJSOffline}
)

// collectStoreDamage sends the damage figures of a report.
func collectStoreDamage(ch chan<- prometheus.Metric, d *StoreDamage) {
	for _, m := range []struct {
		d *prometheus.Desc
		t prometheus.ValueType
		v uint64
	}{
		{mJSLost, prometheus.CounterValue, d.LostMessages},
		{mJSDamaged, prometheus.CounterValue, d.DamagedStreams},
		{mJSStoreProblems, prometheus.CounterValue, d.StoreProblems},
		{mJSCorrupt, prometheus.CounterValue, d.CorruptRecords},
		{mJSOffline, prometheus.GaugeValue, uint64(len(d.Offline))},
	} {
		ch <- prometheus.MustNewConstMetric(m.d, m.t, float64(m.v))
	}
}

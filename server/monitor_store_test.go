package server

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStoreHealthInMonitoring checks that a store refusing writes shows in
// /healthz (503), /jsz, /varz and /metrics, and that healthy stores do not.
func TestStoreHealthInMonitoring(t *testing.T) {
	s := startMonitored(t, nil)
	rep := JetStreamReport{
		Limits: JetStreamLimits{MaxStorage: 1 << 30},
		Stores: []StoreReport{
			{Storage: "file", Used: 4096, Free: 10 << 20, Total: 1 << 30, Headroom: 8 << 20},
			{Storage: "memory", Used: 100},
		},
	}
	s.SetJetStreamReporter(func() (JetStreamReport, error) { return rep, nil })
	var h healthz
	monGet(t, s, "/healthz", http.StatusOK, &h)
	if h.Status != "ok" {
		t.Errorf("healthy stores: %+v", h)
	}
	var jz Jsz
	monGet(t, s, "/jsz", http.StatusOK, &jz)
	if jz.Limits.MaxStorage != 1<<30 || len(jz.Stores) != 2 || !jz.Stores[0].Writable ||
		jz.Stores[0].Free != 10<<20 || jz.Stores[0].Headroom != 8<<20 || jz.Stores[0].Used != 4096 {
		t.Errorf("jsz stores: %+v limits %+v", jz.Stores, jz.Limits)
	}
	if v := varzOf(t, s); v.JetStream.Stats == nil || len(v.JetStream.Stats.Stores) != 2 || v.JetStream.Stats.Limits.MaxStorage != 1<<30 {
		t.Errorf("varz jetstream: %+v", v.JetStream.Stats)
	}
	mfs := scrape(t, s)
	if v, ok := metricValue(mfs, "wisp_jetstream_store_writable", "account", "$G", "storage", "file"); !ok || v != 1 {
		t.Errorf("writable = %v (%v)", v, ok)
	}
	if v, ok := metricValue(mfs, "wisp_jetstream_store_disk_free_bytes", "account", "$G", "storage", "file"); !ok || v != 10<<20 {
		t.Errorf("disk free = %v (%v)", v, ok)
	}
	if v, ok := metricValue(mfs, "wisp_jetstream_max_storage_bytes"); !ok || v != 1<<30 {
		t.Errorf("max storage = %v (%v)", v, ok)
	}

	rep.Stores[0].LowSpace = true
	rep.Stores = append(rep.Stores, StoreReport{Account: "A", Storage: "file", Failed: "write 000002.log: input/output error", FailedSince: time.Now()})
	monGet(t, s, "/healthz", http.StatusServiceUnavailable, &h)
	if h.Status != "unavailable" || !strings.Contains(h.Error, "file store out of disk space") ||
		!strings.Contains(h.Error, "account A file store failed") {
		t.Errorf("stores refusing writes: %+v", h)
	}
	monGet(t, s, "/jsz", http.StatusOK, &jz)
	if jz.Stores[0].Writable || !jz.Stores[0].LowSpace || jz.Stores[2].Writable || jz.Stores[2].Failed == "" {
		t.Errorf("jsz stores refusing writes: %+v", jz.Stores)
	}
	mfs = scrape(t, s)
	if v, ok := metricValue(mfs, "wisp_jetstream_store_writable", "account", "$G", "storage", "file"); !ok || v != 0 {
		t.Errorf("writable when low = %v (%v)", v, ok)
	}
	if v, ok := metricValue(mfs, "wisp_jetstream_store_writable", "account", "A", "storage", "file"); !ok || v != 0 {
		t.Errorf("writable when failed = %v (%v)", v, ok)
	}
}

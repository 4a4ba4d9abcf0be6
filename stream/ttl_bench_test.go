package stream

import "testing"

// BenchmarkShapingHeaderChecks is what per-message TTL and schedules add
// to the publish of a message with headers on a stream that uses neither:
// one scan of the header names (shapingHeaderNames). A message without
// headers skips it.
func BenchmarkShapingHeaderChecks(b *testing.B) {
	o := &opPublish{Subject: []byte("orders.eu"), Header: []byte("NATS/1.0\r\nNats-Msg-Id: 3f2c1a\r\nTrace: x\r\n\r\n")}
	b.ReportAllocs()
	for b.Loop() {
		if ttl, sched := shapingHeaderNames(o.Header); ttl || sched {
			b.Fatal("found")
		}
	}
}

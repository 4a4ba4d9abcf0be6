package stream

import "testing"

// TestShapingHeaderNames: the one-pass scan finds Nats-TTL and the
// Nats-Schedule family whatever their case, and nothing else.
func TestShapingHeaderNames(t *testing.T) {
	for _, c := range []struct {
		hdr        string
		ttl, sched bool
	}{
		{"NATS/1.0\r\nNats-Msg-Id: x\r\n\r\n", false, false},
		{"NATS/1.0\r\nNats-TTL: 5s\r\n\r\n", true, false},
		{"NATS/1.0\r\nnats-ttl : 5s\r\n\r\n", true, false},
		{"NATS/1.0\r\nNats-TTLX: 5s\r\nX-Nats-TTL: 1\r\n\r\n", false, false},
		{"NATS/1.0\r\nFoo: Nats-TTL: 1\r\nNats-Schedule-Next: purge\r\n\r\n", false, true},
		{"NATS/1.0\r\nNATS-SCHEDULER: s\r\nNats-Ttl:1\r\n\r\n", true, true},
		{"NATS/1.0\r\nNats-Schedule: @every 1s", false, true},
		{"NATS/1.0", false, false},
		{"", false, false},
	} {
		ttl, sched := shapingHeaderNames([]byte(c.hdr))
		if ttl != c.ttl || sched != c.sched {
			t.Errorf("%q: ttl %v sched %v", c.hdr, ttl, sched)
		}
	}
}

package server

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

func TestRingKeepsTheLastPoints(t *testing.T) {
	r := newRing[int](3)
	if got := r.points(); len(got) != 0 {
		t.Fatalf("empty ring: %v", got)
	}
	for i := 1; i <= 2; i++ {
		r.add(i)
	}
	if got := fmt.Sprint(r.points()); got != "[1 2]" {
		t.Fatalf("two points: %s", got)
	}
	for i := 3; i <= 7; i++ {
		r.add(i)
	}
	if got := fmt.Sprint(r.points()); got != "[5 6 7]" {
		t.Fatalf("after wrapping: %s", got)
	}
}

// The history endpoint returns the samples taken, per stream and for the
// server; streams that are gone lose theirs, and the number of streams
// kept is capped.
func TestConsoleHistory(t *testing.T) {
	s := startMonitored(t, nil)
	var n atomic.Int64
	var streams atomic.Int64
	streams.Store(2)
	s.SetJetStreamReporter(func() (JetStreamReport, error) {
		seq := uint64(n.Load())
		rep := JetStreamReport{Streams: []StreamReport{{Name: "ORDERS", LastSeq: 10 * seq, Bytes: 100 * seq, Messages: 10 * seq,
			Consumers: []ConsumerReport{{Name: "audit", Delivered: 5 * seq, NumPending: 1}}}}}
		if streams.Load() == 2 {
			rep.Streams = append(rep.Streams, StreamReport{Name: "A/LOGS", LastSeq: seq})
		}
		return rep, nil
	})
	h := s.monitor().console.history
	start := time.Unix(1000, 0)
	for i := 0; i < 3; i++ {
		n.Store(int64(i))
		s.sampleHistory(h, start.Add(time.Duration(i)*time.Second))
	}
	c := newConsoleClient(t, s)
	status, out := c.call("GET", "/console/api/session", nil)
	if status != http.StatusOK {
		t.Fatal(status, out)
	}
	status, out = c.call("GET", "/console/api/history?stream=ORDERS", nil)
	if status != http.StatusOK {
		t.Fatal(status, out)
	}
	points := out["points"].([]any)
	if len(points) != 3 || points[2].(map[string]any)["last_seq"] != float64(20) || points[2].(map[string]any)["t"] != float64(1002000) {
		t.Fatalf("ORDERS history: %v", points)
	}
	audit := out["consumers"].(map[string]any)["audit"].([]any)
	if len(audit) != 3 || audit[2].(map[string]any)["delivered"] != float64(10) {
		t.Fatalf("consumer audit's history: %v", out["consumers"])
	}
	if _, out = c.call("GET", "/console/api/history?account=A&stream=LOGS", nil); len(out["points"].([]any)) != 3 {
		t.Fatalf("A/LOGS history: %v", out)
	}
	if _, out = c.call("GET", "/console/api/history", nil); len(out["points"].([]any)) != 3 {
		t.Fatalf("server history: %v", out)
	}
	streams.Store(1)
	s.sampleHistory(h, start.Add(3*time.Second))
	if _, out = c.call("GET", "/console/api/history?account=A&stream=LOGS", nil); len(out["points"].([]any)) != 0 {
		t.Fatalf("a deleted stream's history: %v", out)
	}
	if _, out = c.call("GET", "/console/api/history?stream=ORDERS", nil); len(out["consumers"].(map[string]any)) != 1 {
		t.Fatalf("ORDERS's consumers: %v", out["consumers"])
	}

	// At most maxHistoryStreams streams are kept.
	many := JetStreamReport{}
	for i := 0; i < maxHistoryStreams+10; i++ {
		many.Streams = append(many.Streams, StreamReport{Name: fmt.Sprintf("S%d", i)})
	}
	s.SetJetStreamReporter(func() (JetStreamReport, error) { return many, nil })
	s.sampleHistory(h, start.Add(4*time.Second))
	h.mu.Lock()
	kept := len(h.streams)
	h.mu.Unlock()
	if kept != maxHistoryStreams {
		t.Errorf("%d streams kept, want %d", kept, maxHistoryStreams)
	}
}

// Nobody using the console: the sampler takes no samples.
func TestConsoleHistoryIdle(t *testing.T) {
	s := startMonitored(t, nil)
	var calls atomic.Int64
	s.SetJetStreamReporter(func() (JetStreamReport, error) { calls.Add(1); return JetStreamReport{}, nil })
	h := newChartHistory()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { s.runChartHistory(h, stop); close(done) }()
	time.Sleep(2500 * time.Millisecond) // long enough for two ticks, were it sampling
	close(stop)
	<-done
	if calls.Load() != 0 || len(h.server.points()) != 0 {
		t.Errorf("an unwatched server sampled: %d reports, %d points", calls.Load(), len(h.server.points()))
	}
}

package stream

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMarkersAndScheduledMessagesRepublished: the messages a stream makes
// itself go out on its republish subject like published ones, as
// nats-server's do (they go through its publish path): a subject delete
// marker, with the expired message's sequence as Nats-Last-Sequence, and
// a scheduled message.
func TestMarkersAndScheduledMessagesRepublished(t *testing.T) {
	h, clock := newClockHarness(t)
	var mu sync.Mutex
	var got []string
	cancel, err := h.b.Subscribe("rp.>", "", func(subject, _, hdr, _ []byte) {
		mu.Lock()
		got = append(got, string(subject)+" "+string(headerValue(hdr, hdrMarkerReason))+" last="+string(headerValue(hdr, hdrLastSequence)))
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	h.create(Config{Name: "M", Subjects: []string{"m.>"}, AllowMsgTTL: true, SubjectDeleteMarkerTTL: time.Second,
		AllowSchedules: true, RePublish: &RePublish{Source: ">", Destination: "rp.>"}})
	if a := h.pub("m.a", "x", hdrTTL, "1s"); a.Error != nil {
		t.Fatal(a.Error)
	}
	at := clock.Now().Add(3 * time.Second).UTC().Format(time.RFC3339)
	if a := h.pub("m.sched", "", "Nats-Schedule", "@at "+at, "Nats-Schedule-Target", "m.fired"); a.Error != nil {
		t.Fatal(a.Error)
	}
	want := []string{"rp.m.a  last=0", "rp.m.sched  last=0", "rp.m.a MaxAge last=1", "rp.m.fired  last=0"}
	advanceUntil(t, clock, 100*time.Millisecond, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= len(want)
	})
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("republished\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

package stream_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// sourcedSubjects reads every message of a stream and counts its subjects,
// checking each sourced one carries its Nats-Stream-Source header.
func sourcedSubjects(t *testing.T, s jetstream.Stream, last uint64) map[string]int {
	t.Helper()
	out := map[string]int{}
	for seq := uint64(1); seq <= last; seq++ {
		m, err := s.GetMsg(ctx(t), seq)
		if err != nil {
			continue
		}
		out[m.Subject]++
		if !strings.HasPrefix(m.Subject, "own.") && m.Header.Get("Nats-Stream-Source") == "" {
			t.Errorf("seq %d (%s) has no Nats-Stream-Source header", seq, m.Subject)
		}
	}
	return out
}

func TestSourcesMergeFilterTransformAndResume(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	for _, name := range []string{"A", "B"} {
		if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: name, Subjects: []string{strings.ToLower(name) + ".>"}}); err != nil {
			t.Fatal(err)
		}
	}
	publishN(t, n.js, "a.x", 3)
	publishN(t, n.js, "b.keep", 2)
	publishN(t, n.js, "b.skip", 2)
	_, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "S", Subjects: []string{"own.>"}, Sources: []*jetstream.StreamSource{
		{Name: "A", SubjectTransforms: []jetstream.SubjectTransformConfig{{Source: "a.>", Destination: "from-a.>"}}},
		{Name: "B", FilterSubject: "b.keep"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, n.js, "own.z", 1)
	info := waitStream(t, n.js, "S", 6, 6)
	if len(info.Sources) != 2 {
		t.Fatalf("sources info %+v", info.Sources)
	}
	for _, si := range info.Sources {
		if si.Error != nil || si.Active < 0 {
			t.Errorf("source %s: %+v", si.Name, si)
		}
	}
	s, err := n.js.Stream(ctx(t), "S")
	if err != nil {
		t.Fatal(err)
	}
	got := sourcedSubjects(t, s, 6)
	if got["from-a.x"] != 3 || got["b.keep"] != 2 || got["own.z"] != 1 || got["b.skip"] != 0 {
		t.Fatalf("S holds %v", got)
	}
	// After a restart each source resumes where it was: nothing twice.
	n.stop()
	n = startNode(t, dir)
	publishN(t, n.js, "a.x", 1)
	publishN(t, n.js, "b.keep", 1)
	waitStream(t, n.js, "S", 8, 8)
	// Give a copier that wrongly started over time to show it.
	time.Sleep(200 * time.Millisecond)
	s, err = n.js.Stream(ctx(t), "S")
	if err != nil {
		t.Fatal(err)
	}
	if st := s.CachedInfo().State; st.Msgs != 8 {
		t.Fatalf("after restart S holds %d messages, want 8", st.Msgs)
	}
}

func TestSourceStartSequenceAndTime(t *testing.T) {
	n := startNode(t, t.TempDir())
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "A", Subjects: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	publishN(t, n.js, "a", 3)
	time.Sleep(10 * time.Millisecond) // a start time strictly after the first three
	start := time.Now()
	time.Sleep(10 * time.Millisecond)
	publishN(t, n.js, "a", 2)
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "BYSEQ", Sources: []*jetstream.StreamSource{{Name: "A", OptStartSeq: 2}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "BYTIME", Sources: []*jetstream.StreamSource{{Name: "A", OptStartTime: &start}}}); err != nil {
		t.Fatal(err)
	}
	waitStream(t, n.js, "BYSEQ", 4, 4)
	waitStream(t, n.js, "BYTIME", 2, 2)
}

// A source reached through an explicit API prefix (here this account's own
// "$JS.API", as an import of another account's API would be named) copies
// like any other; a prefix nobody answers shows as the source's error.
func TestSourceExternalPrefix(t *testing.T) {
	n := startNode(t, t.TempDir())
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "A", Subjects: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	publishN(t, n.js, "a", 2)
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "S", Sources: []*jetstream.StreamSource{
		{Name: "A", External: &jetstream.ExternalStream{APIPrefix: "$JS.API"}},
		{Name: "A", External: &jetstream.ExternalStream{APIPrefix: "$JS.nowhere.API"}},
	}}); err != nil {
		t.Fatal(err)
	}
	waitStream(t, n.js, "S", 2, 2)
	waitUntil(t, "the unanswered prefix's error", func() (bool, string) {
		s, err := n.js.Stream(ctx(t), "S")
		if err != nil {
			return false, err.Error()
		}
		for _, si := range s.CachedInfo().Sources {
			if si.External != nil && si.External.APIPrefix == "$JS.nowhere.API" && si.Error != nil {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", s.CachedInfo().Sources)
	})
}

// A work queue that sources another stream forgets the messages it hands
// out, but not how far it has copied: after a restart it takes only what
// is new.
func TestSourceIntoWorkQueueResumesAfterItsMessagesAreGone(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "A", Subjects: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	publishN(t, n.js, "a", 3)
	wq, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "WQ", Retention: jetstream.WorkQueuePolicy,
		Sources: []*jetstream.StreamSource{{Name: "A"}}})
	if err != nil {
		t.Fatal(err)
	}
	waitStream(t, n.js, "WQ", 3, 3)
	c, err := wq.CreateOrUpdateConsumer(ctx(t), jetstream.ConsumerConfig{Durable: "W", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(3, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	waitStream(t, n.js, "WQ", 0, 3)
	n.stop()
	n = startNode(t, dir)
	publishN(t, n.js, "a", 1)
	waitStream(t, n.js, "WQ", 1, 4)
	time.Sleep(200 * time.Millisecond) // room for a wrongly restarted copier to show
	if s, err := n.js.Stream(ctx(t), "WQ"); err != nil || s.CachedInfo().State.Msgs != 1 {
		t.Fatalf("after restart: %v %+v", err, s.CachedInfo().State)
	}
}

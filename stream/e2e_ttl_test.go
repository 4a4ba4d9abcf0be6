package stream_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/stream"
)

// ttlWait polls cond until it holds or 20 s pass: the expiry operation a
// clock step proposes is applied on the store's writer, a moment later.
func ttlWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pubTTL publishes data on subj with a Nats-TTL header of ttl.
func pubTTL(t *testing.T, n *node, subj, ttl string) (*jetstream.PubAck, error) {
	t.Helper()
	m := nats.NewMsg(subj)
	m.Data = []byte("x")
	if ttl != "" {
		m.Header.Set("Nats-TTL", ttl)
	}
	return n.js.PublishMsg(ctx(t), m)
}

// msgGone reports whether sequence seq left stream s.
func msgGone(t *testing.T, s jetstream.Stream, seq uint64) bool {
	_, err := s.GetMsg(ctx(t), seq)
	return errors.Is(err, jetstream.ErrMsgNotFound)
}

// TestE2EMsgTTL: a message leaves at its own TTL (a duration, seconds),
// "never" outlives max_age, and the header is refused with nats-server's
// codes when it is invalid or the stream does not allow TTLs.
func TestE2EMsgTTL(t *testing.T) {
	clock := stream.NewFakeClock(time.Now())
	n := startNodeWith(t, stream.Options{StoreDir: t.TempDir(), Clock: clock})
	s, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "TTL", Subjects: []string{"ttl.>"},
		AllowMsgTTL: true, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !s.CachedInfo().Config.AllowMsgTTL {
		t.Fatal("allow_msg_ttl not echoed")
	}
	for i, ttl := range []string{"2s", "5", "never", "", "1m"} {
		if ack, err := pubTTL(t, n, "ttl.a", ttl); err != nil || ack.Sequence != uint64(i+1) {
			t.Fatalf("publish %q: %v %+v", ttl, err, ack)
		}
	}
	for _, bad := range []string{"abc", "500ms", "-5", "0s"} {
		if _, err := pubTTL(t, n, "ttl.a", bad); apiErrCode(err) != 10165 {
			t.Fatalf("TTL %q: %v, want 10165", bad, err)
		}
	}
	clock.Advance(2 * time.Second)
	ttlWait(t, "2s TTL", func() bool { return msgGone(t, s, 1) })
	if msgGone(t, s, 2) {
		t.Fatal("5 s TTL gone after 2 s")
	}
	clock.Advance(3*time.Second + time.Millisecond) // times are raised by 1 ns per message
	ttlWait(t, "5 s TTL", func() bool { return msgGone(t, s, 2) })
	clock.Advance(time.Hour) // max_age: all but "never" go
	ttlWait(t, "max_age", func() bool {
		clock.Advance(time.Millisecond) // the age timer is re-armed from the applied expiry
		return msgGone(t, s, 4) && msgGone(t, s, 5)
	})
	if msgGone(t, s, 3) {
		t.Fatal(`"never" message expired by max_age`)
	}

	plain, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "PLAIN", Subjects: []string{"plain"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pubTTL(t, n, "plain", "10s"); apiErrCode(err) != 10166 {
		t.Fatalf("TTL on a stream without allow_msg_ttl: %v, want 10166", err)
	}
	if _, err := pubTTL(t, n, "plain", "bogus"); apiErrCode(err) != 10165 {
		t.Fatalf("invalid TTL on a stream without allow_msg_ttl: %v, want 10165", err)
	}
	if _, err := pubTTL(t, n, "plain", "0"); apiErrCode(err) != 10165 {
		t.Fatalf(`TTL "0" (a duration under a second): %v, want 10165`, err)
	}
	m := nats.NewMsg("plain")
	m.Header["Nats-TTL"] = []string{""} // empty: no TTL
	if _, err := n.js.PublishMsg(ctx(t), m); err != nil {
		t.Fatal(err)
	}
	if info, _ := plain.Info(ctx(t)); info.State.Msgs != 1 {
		t.Fatalf("plain stream holds %d", info.State.Msgs)
	}
}

// TestE2EMsgTTLConfigErrors: delete marker settings nats-server refuses,
// and its defaults for the ones it accepts.
func TestE2EMsgTTLConfigErrors(t *testing.T) {
	n := startNode(t, t.TempDir())
	for _, cfg := range []jetstream.StreamConfig{
		{Name: "A", Subjects: []string{"a"}, SubjectDeleteMarkerTTL: 500 * time.Millisecond},
		{Name: "B", Subjects: []string{"b"}, SubjectDeleteMarkerTTL: -time.Second},
		{Name: "C", Mirror: &jetstream.StreamSource{Name: "X"}, SubjectDeleteMarkerTTL: time.Second},
	} {
		if _, err := n.js.CreateStream(ctx(t), cfg); apiErrCode(err) != 10052 {
			t.Fatalf("%s: %v, want 10052", cfg.Name, err)
		}
	}
	s, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "D", Subjects: []string{"d"},
		SubjectDeleteMarkerTTL: time.Second, DenyPurge: true})
	if err != nil {
		t.Fatal(err)
	}
	c := s.CachedInfo().Config
	if !c.AllowMsgTTL || !c.AllowRollup || c.DenyPurge {
		t.Fatalf("markers did not switch on TTLs and rollups: %+v", c)
	}
	c.AllowMsgTTL, c.SubjectDeleteMarkerTTL = false, 0
	if _, err := n.js.UpdateStream(ctx(t), c); apiErrCode(err) != 10052 {
		t.Fatalf("disabling TTLs: %v, want 10052", err)
	}
}

// TestE2EKVKeyTTLAndMarkers: a KV bucket with LimitMarkerTTL, through
// nats.go: a key created with KeyTTL expires into a delete marker that a
// watcher sees as a deletion, the key can be created over the marker, the
// marker goes after its own TTL, and a purge with a TTL leaves nothing.
func TestE2EKVKeyTTLAndMarkers(t *testing.T) {
	clock := stream.NewFakeClock(time.Now())
	n := startNodeWith(t, stream.Options{StoreDir: t.TempDir(), Clock: clock})
	kv, err := n.js.CreateKeyValue(ctx(t), jetstream.KeyValueConfig{Bucket: "K", LimitMarkerTTL: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := kv.Status(ctx(t)); err != nil || st.LimitMarkerTTL() != 5*time.Second {
		t.Fatalf("status %v %v", st, err)
	}
	w, err := kv.Watch(ctx(t), "k", jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := kv.Create(ctx(t), "k", []byte("v"), jetstream.KeyTTL(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if e := next(t, w); e.Operation() != jetstream.KeyValuePut {
		t.Fatalf("first watch entry %v", e.Operation())
	}
	clock.Advance(10 * time.Second)
	if e := next(t, w); e.Operation() != jetstream.KeyValuePurge || e.Key() != "k" {
		t.Fatalf("expiry seen as %v on %q", e.Operation(), e.Key())
	}
	if _, err := kv.Get(ctx(t), "k"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("get after expiry: %v", err)
	}
	s, err := n.js.Stream(ctx(t), "KV_K")
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(ctx(t), "$KV.K.k")
	if err != nil || m.Header.Get("Nats-Marker-Reason") != "MaxAge" || m.Header.Get("Nats-TTL") != "5s" ||
		m.Header.Get("Nats-Rollup") != "sub" {
		t.Fatalf("marker %+v %v", m, err)
	}
	if _, err := kv.Create(ctx(t), "k", []byte("again")); err != nil {
		t.Fatalf("create over the marker: %v", err)
	}
	if e := next(t, w); e.Operation() != jetstream.KeyValuePut || string(e.Value()) != "again" {
		t.Fatalf("re-created entry %v %q", e.Operation(), e.Value())
	}
	clock.Advance(5 * time.Second) // the marker expires; the new value is no marker's business
	ttlWait(t, "the marker's own expiry", func() bool {
		info, err := s.Info(ctx(t))
		return err == nil && info.State.Msgs == 1
	})
	if err := kv.Purge(ctx(t), "k", jetstream.PurgeTTL(7*time.Second)); err != nil {
		t.Fatal(err)
	}
	if e := next(t, w); e.Operation() != jetstream.KeyValuePurge {
		t.Fatalf("purge seen as %v", e.Operation())
	}
	clock.Advance(7 * time.Second)
	ttlWait(t, "the purge marker's TTL", func() bool {
		info, err := s.Info(ctx(t))
		return err == nil && info.State.Msgs == 0
	})
}

// next returns a watcher's next entry, failing after 20 s.
func next(t *testing.T, w jetstream.KeyWatcher) jetstream.KeyValueEntry {
	t.Helper()
	select {
	case e := <-w.Updates():
		if e == nil {
			t.Fatal("watcher sent the end of its initial values")
		}
		return e
	case <-time.After(20 * time.Second):
		t.Fatal("no watch entry")
	}
	return nil
}

// TestE2EMsgTTLRestart: a TTL set before a restart still expires after
// it, the marker included.
func TestE2EMsgTTLRestart(t *testing.T) {
	dir := t.TempDir()
	clock := stream.NewFakeClock(time.Now())
	n := startNodeWith(t, stream.Options{StoreDir: dir, Clock: clock})
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "R", Subjects: []string{"r.>"},
		SubjectDeleteMarkerTTL: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := pubTTL(t, n, "r.a", "10s"); err != nil {
		t.Fatal(err)
	}
	if _, err := pubTTL(t, n, "r.b", "1"); err != nil { // raised to the marker TTL
		t.Fatal(err)
	}
	n.stop()
	clock.Advance(4 * time.Second)
	n = startNodeWith(t, stream.Options{StoreDir: dir, Clock: clock})
	s, err := n.js.Stream(ctx(t), "R")
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(ctx(t), 2)
	if err != nil || m.Header.Get("Nats-TTL") != "3" {
		t.Fatalf("raised TTL: %v %v", m, err)
	}
	clock.Advance(time.Millisecond) // the timer armed on load for the overdue message
	ttlWait(t, "the overdue TTL", func() bool { return msgGone(t, s, 2) })
	clock.Advance(6 * time.Second)
	ttlWait(t, "the TTL across the restart", func() bool { return msgGone(t, s, 1) })
	m, err = s.GetLastMsgForSubject(ctx(t), "r.a")
	if err != nil || m.Header.Get("Nats-Marker-Reason") != "MaxAge" || m.Sequence != 4 {
		t.Fatalf("marker after the restart: %+v %v", m, err)
	}
}

// TestE2EMsgTTLEnabledByUpdate: a source copies messages with their
// Nats-TTL into a stream without allow_msg_ttl, where they stay; turning
// TTLs on by an update makes them expire.
func TestE2EMsgTTLEnabledByUpdate(t *testing.T) {
	clock := stream.NewFakeClock(time.Now())
	n := startNodeWith(t, stream.Options{StoreDir: t.TempDir(), Clock: clock})
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "ORIGIN", Subjects: []string{"o.>"},
		AllowMsgTTL: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := pubTTL(t, n, "o.a", "10s"); err != nil {
		t.Fatal(err)
	}
	s, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "COPY",
		Sources: []*jetstream.StreamSource{{Name: "ORIGIN"}}})
	if err != nil {
		t.Fatal(err)
	}
	ttlWait(t, "the copy", func() bool {
		info, err := s.Info(ctx(t))
		return err == nil && info.State.Msgs == 1
	})
	clock.Advance(5 * time.Second)
	cfg := s.CachedInfo().Config
	cfg.AllowMsgTTL = true
	if _, err := n.js.UpdateStream(ctx(t), cfg); err != nil {
		t.Fatal(err)
	}
	if msgGone(t, s, 1) {
		t.Fatal("the copy expired at once")
	}
	clock.Advance(10 * time.Second) // past the copy's own deadline (it was stored at 0 s)
	ttlWait(t, "the copied TTL", func() bool { return msgGone(t, s, 1) })
}

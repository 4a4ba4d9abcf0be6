package stream_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/stream"
)

// pubSchedule publishes data on subj with the given header pairs.
func pubSchedule(t *testing.T, n *node, subj, data string, kv ...string) (*jetstream.PubAck, error) {
	t.Helper()
	m := nats.NewMsg(subj)
	m.Data = []byte(data)
	for i := 0; i+1 < len(kv); i += 2 {
		m.Header[kv[i]] = []string{kv[i+1]}
	}
	return n.js.PublishMsg(ctx(t), m)
}

// subjectCount is how many messages subj holds in s.
func subjectCount(t *testing.T, s jetstream.Stream, subj string) uint64 {
	t.Helper()
	info, err := s.Info(ctx(t), jetstream.WithSubjectFilter(subj))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subj]
}

func scheduleStream(t *testing.T, n *node, name string) jetstream.Stream {
	t.Helper()
	s, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: name, Subjects: []string{"sch.>"},
		AllowMsgSchedules: true, AllowMsgTTL: true})
	if err != nil {
		t.Fatal(err)
	}
	if c := s.CachedInfo().Config; !c.AllowMsgSchedules || !c.AllowRollup {
		t.Fatalf("schedules not echoed or rollups not switched on: %+v", c)
	}
	return s
}

// TestE2EScheduleAt: a message scheduled "@at" a time is produced on its
// target once, with the schedule's data and headers, Nats-Scheduler,
// Nats-Schedule-Next: purge and its TTL; the schedule is then gone.
func TestE2EScheduleAt(t *testing.T) {
	clock := stream.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	n := startNodeWith(t, stream.Options{StoreDir: t.TempDir(), Clock: clock})
	s := scheduleStream(t, n, "SCH")
	at := clock.Now().Add(10 * time.Second).Format(time.RFC3339)
	if _, err := pubSchedule(t, n, "sch.s1", "hello", "Nats-Schedule", "@at "+at, "Nats-Schedule-Target", "sch.t",
		"Nats-Schedule-TTL", "5s", "Foo", "bar", "Nats-Msg-Id", "m1"); err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(ctx(t), "sch.s1")
	if err != nil || m.Header.Get("Nats-Rollup") != "sub" {
		t.Fatalf("stored schedule %+v %v", m, err)
	}
	clock.Advance(9 * time.Second)
	if subjectCount(t, s, "sch.t") != 0 {
		t.Fatal("fired early")
	}
	clock.Advance(time.Second)
	ttlWait(t, "the scheduled message", func() bool { return subjectCount(t, s, "sch.t") == 1 })
	got, err := s.GetLastMsgForSubject(ctx(t), "sch.t")
	if err != nil {
		t.Fatal(err)
	}
	h := got.Header
	if string(got.Data) != "hello" || h.Get("Foo") != "bar" || h.Get("Nats-Scheduler") != "sch.s1" ||
		h.Get("Nats-Schedule-Next") != "purge" || h.Get("Nats-TTL") != "5s" || h.Get("Nats-Msg-Id") != "" ||
		h.Get("Nats-Schedule") != "" || h.Get("Nats-Schedule-Target") != "" {
		t.Fatalf("produced message %q %v", got.Data, h)
	}
	if subjectCount(t, s, "sch.s1") != 0 {
		t.Fatal("the schedule stayed after firing once")
	}
	clock.Advance(5 * time.Second) // the produced message's TTL
	ttlWait(t, "the produced message's TTL", func() bool { return subjectCount(t, s, "sch.t") == 0 })
	if info, _ := s.Info(ctx(t)); info.State.LastSeq != 2 {
		t.Fatalf("fired more than once: last seq %d", info.State.LastSeq)
	}
}

// TestE2EScheduleEveryAndCancel: "@every" repeats, each produced message
// naming the next firing; a purge message through Nats-Schedule-Next
// cancels it. A schedule's source supplies the content.
func TestE2EScheduleEveryAndCancel(t *testing.T) {
	clock := stream.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	n := startNodeWith(t, stream.Options{StoreDir: t.TempDir(), Clock: clock})
	s := scheduleStream(t, n, "EV")
	if _, err := pubSchedule(t, n, "sch.src", "from source", "X", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := pubSchedule(t, n, "sch.every", "own", "Nats-Schedule", "@every 5s", "Nats-Schedule-Target", "sch.out",
		"Nats-Schedule-Source", "sch.src"); err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 3; i++ {
		clock.Advance(5 * time.Second)
		ttlWait(t, "a repetition", func() bool { return subjectCount(t, s, "sch.out") == i })
	}
	m, err := s.GetLastMsgForSubject(ctx(t), "sch.out")
	if err != nil {
		t.Fatal(err)
	}
	next, err := time.Parse(time.RFC3339Nano, m.Header.Get("Nats-Schedule-Next"))
	if err != nil || !next.Equal(clock.Now().Add(5*time.Second)) || string(m.Data) != "from source" || m.Header.Get("X") != "1" {
		t.Fatalf("repetition %q %v (next %v, now %v)", m.Data, m.Header, next, clock.Now())
	}
	if _, err := pubSchedule(t, n, "sch.cancel", "", "Nats-Schedule-Next", "purge", "Nats-Scheduler", "sch.every"); err != nil {
		t.Fatal(err)
	}
	if subjectCount(t, s, "sch.every") != 0 {
		t.Fatal("the purge left the schedule")
	}
	clock.Advance(20 * time.Second)
	if _, err := pubSchedule(t, n, "sch.barrier", ""); err != nil { // after any firing the step proposed
		t.Fatal(err)
	}
	if c := subjectCount(t, s, "sch.out"); c != 3 {
		t.Fatalf("fired %d times after its cancellation", c)
	}
}

// TestE2EScheduleRestart: a schedule due while the server was down fires
// exactly once after the restart.
func TestE2EScheduleRestart(t *testing.T) {
	dir := t.TempDir()
	clock := stream.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	n := startNodeWith(t, stream.Options{StoreDir: dir, Clock: clock})
	scheduleStream(t, n, "RS")
	at := clock.Now().Add(10 * time.Second).Format(time.RFC3339)
	if _, err := pubSchedule(t, n, "sch.s", "once", "Nats-Schedule", "@at "+at, "Nats-Schedule-Target", "sch.t"); err != nil {
		t.Fatal(err)
	}
	n.stop()
	clock.Advance(time.Minute)
	n = startNodeWith(t, stream.Options{StoreDir: dir, Clock: clock})
	s, err := n.js.Stream(ctx(t), "RS")
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Millisecond)
	ttlWait(t, "the overdue schedule", func() bool { return subjectCount(t, s, "sch.t") == 1 })
	n.stop()
	clock.Advance(time.Minute)
	n = startNodeWith(t, stream.Options{StoreDir: dir, Clock: clock})
	s, err = n.js.Stream(ctx(t), "RS")
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if _, err := pubSchedule(t, n, "sch.barrier", ""); err != nil {
		t.Fatal(err)
	}
	if c := subjectCount(t, s, "sch.t"); c != 1 {
		t.Fatalf("fired %d times across two restarts", c)
	}
}

// TestE2EScheduleErrors: what nats-server refuses, with its codes.
func TestE2EScheduleErrors(t *testing.T) {
	n := startNode(t, t.TempDir())
	scheduleStream(t, n, "ERR")
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "OFF", Subjects: []string{"off.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "NOTTL", Subjects: []string{"nt.>"},
		AllowMsgSchedules: true}); err != nil {
		t.Fatal(err)
	}
	at := "@at 2030-01-01T00:00:00Z"
	for _, c := range []struct {
		subj string
		hdr  []string
		code jetstream.ErrorCode
	}{
		{"off.s", []string{"Nats-Schedule", at, "Nats-Schedule-Target", "off.t"}, 10188},
		{"off.s", []string{"Nats-Schedule", "bogus"}, 10188},
		{"sch.s", []string{"Nats-Schedule", "bogus", "Nats-Schedule-Target", "sch.t"}, 10189},
		{"sch.s", []string{"Nats-Schedule", "@every 500ms", "Nats-Schedule-Target", "sch.t"}, 10189},
		{"sch.s", []string{"Nats-Schedule", at, "Nats-Schedule-Time-Zone", "Europe/Amsterdam", "Nats-Schedule-Target", "sch.t"}, 10189},
		{"sch.s", []string{"Nats-Schedule", "0 0 * * * *", "Nats-Schedule-Time-Zone", "Nowhere/Else", "Nats-Schedule-Target", "sch.t"}, 10223},
		{"sch.s", []string{"Nats-Schedule", at}, 10190},
		{"sch.s", []string{"Nats-Schedule", at, "Nats-Schedule-Target", "sch.s"}, 10190},
		{"sch.s", []string{"Nats-Schedule", at, "Nats-Schedule-Target", "elsewhere"}, 10190},
		{"sch.s", []string{"Nats-Schedule", at, "Nats-Schedule-Target", "sch.*"}, 10190},
		{"sch.s", []string{"Nats-Schedule", at, "Nats-Schedule-Target", "sch.t", "Nats-Schedule-TTL", "x"}, 10191},
		{"nt.s", []string{"Nats-Schedule", at, "Nats-Schedule-Target", "nt.t", "Nats-Schedule-TTL", "5s"}, 10166},
		{"sch.s", []string{"Nats-Schedule", at, "Nats-Schedule-Target", "sch.t", "Nats-Schedule-Rollup", "all"}, 10192},
		{"sch.s", []string{"Nats-Schedule", at, "Nats-Schedule-Target", "sch.t", "Nats-Rollup", "all"}, 10192},
		{"sch.s", []string{"Nats-Schedule", at, "Nats-Schedule-Target", "sch.t", "Nats-Schedule-Source", "sch.t"}, 10203},
		{"sch.s", []string{"Nats-Schedule", at, "Nats-Schedule-Target", "sch.t", "Nats-Schedule-Source", "other"}, 10203},
		{"sch.x", []string{"Nats-Scheduler", "sch.s"}, 10212},
		{"sch.x", []string{"Nats-Schedule-Next", "later", "Nats-Scheduler", "sch.s"}, 10212},
		{"sch.x", []string{"Nats-Schedule-Next", "purge"}, 10212},
		{"sch.x", []string{"Nats-Schedule-Next", "purge", "Nats-Scheduler", "sch.x"}, 10212},
	} {
		if _, err := pubSchedule(t, n, c.subj, "", c.hdr...); apiErrCode(err) != c.code {
			t.Errorf("%s %v: %v, want %d", c.subj, c.hdr, err, c.code)
		}
	}
	if _, err := pubSchedule(t, n, "sch.plain", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := pubSchedule(t, n, "sch.y", "", "Nats-Schedule-Next", "purge", "Nats-Scheduler", "sch.plain"); apiErrCode(err) != 10212 {
		t.Errorf("purging a subject that holds no schedule: %v", err)
	}
	for _, c := range []struct {
		cfg  jetstream.StreamConfig
		code jetstream.ErrorCode
	}{
		{jetstream.StreamConfig{Name: "M", Mirror: &jetstream.StreamSource{Name: "ERR"}, AllowMsgSchedules: true}, 10186},
		{jetstream.StreamConfig{Name: "S", Sources: []*jetstream.StreamSource{{Name: "ERR"}}, AllowMsgSchedules: true}, 10187},
		{jetstream.StreamConfig{Name: "D", Subjects: []string{"d"}, Discard: jetstream.DiscardNew, AllowMsgSchedules: true}, 10052},
	} {
		if _, err := n.js.CreateStream(ctx(t), c.cfg); apiErrCode(err) != c.code {
			t.Errorf("%s: %v, want %d", c.cfg.Name, err, c.code)
		}
	}
	s, err := n.js.Stream(ctx(t), "ERR")
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.AllowMsgSchedules = false
	if _, err := n.js.UpdateStream(ctx(t), cfg); apiErrCode(err) != 10052 {
		t.Errorf("disabling schedules: %v", err)
	}
	var je jetstream.JetStreamError
	if _, err := pubSchedule(t, n, "off.s", "", "Nats-Schedule", at, "Nats-Schedule-Target", "off.t"); !errors.As(err, &je) {
		t.Errorf("not a JetStream error: %v", err)
	}
}

// TestE2EScheduleCronTimeZone: a cron schedule fires in its time zone,
// names its next firing in that zone, and with Nats-Schedule-Rollup its
// target keeps only the latest produced message.
func TestE2EScheduleCronTimeZone(t *testing.T) {
	if _, err := time.LoadLocation("America/New_York"); err != nil {
		t.Skip("no time zone database:", err)
	}
	clock := stream.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	n := startNodeWith(t, stream.Options{StoreDir: t.TempDir(), Clock: clock})
	s := scheduleStream(t, n, "TZ")
	if _, err := pubSchedule(t, n, "sch.noon", "lunch", "Nats-Schedule", "0 0 12 * * *",
		"Nats-Schedule-Time-Zone", "America/New_York", "Nats-Schedule-Target", "sch.t", "Nats-Schedule-Rollup", "sub"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5*time.Hour - time.Second) // noon in New York is 17:00 UTC
	if subjectCount(t, s, "sch.t") != 0 {
		t.Fatal("fired before noon in New York")
	}
	clock.Advance(time.Second)
	ttlWait(t, "noon", func() bool { return subjectCount(t, s, "sch.t") == 1 })
	clock.Advance(24 * time.Hour)
	ttlWait(t, "the next noon", func() bool {
		m, err := s.GetLastMsgForSubject(ctx(t), "sch.t")
		return err == nil && m.Sequence == 3
	})
	m, err := s.GetLastMsgForSubject(ctx(t), "sch.t")
	if err != nil || m.Header.Get("Nats-Schedule-Next") != "2026-03-03T12:00:00-05:00" || m.Header.Get("Nats-Rollup") != "sub" {
		t.Fatalf("second firing %v %v", m.Header, err)
	}
	if c := subjectCount(t, s, "sch.t"); c != 1 {
		t.Fatalf("the rollup left %d messages on the target", c)
	}
}

// TestE2EScheduledMessageWakesConsumer: a pull request waiting on the
// target gets the produced message as soon as the schedule fires.
func TestE2EScheduledMessageWakesConsumer(t *testing.T) {
	clock := stream.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	n := startNodeWith(t, stream.Options{StoreDir: t.TempDir(), Clock: clock})
	s := scheduleStream(t, n, "WAKE")
	c, err := s.CreateOrUpdateConsumer(ctx(t), jetstream.ConsumerConfig{Durable: "D", FilterSubject: "sch.t",
		AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		batch, err := c.Fetch(1, jetstream.FetchMaxWait(30*time.Second))
		if err != nil {
			got <- err.Error()
			return
		}
		for m := range batch.Messages() {
			got <- string(m.Data())
			return
		}
		got <- "nothing"
	}()
	ttlWait(t, "the waiting pull request", func() bool {
		info, err := c.Info(ctx(t))
		return err == nil && info.NumWaiting == 1
	})
	at := clock.Now().Add(10 * time.Second).Format(time.RFC3339) // before the request expires on the stream's clock
	if _, err := pubSchedule(t, n, "sch.s", "wake up", "Nats-Schedule", "@at "+at, "Nats-Schedule-Target", "sch.t"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	select {
	case v := <-got:
		if v != "wake up" {
			t.Fatalf("fetched %q", v)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting consumer did not get the scheduled message")
	}
}

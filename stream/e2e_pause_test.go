package stream_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/wisp-mq/wisp/stream"
)

// pauseAdv is the body of $JS.EVENT.ADVISORY.CONSUMER.PAUSE.<stream>.<consumer>.
type pauseAdv struct {
	Type       string     `json:"type"`
	ID         string     `json:"id"`
	Stream     string     `json:"stream"`
	Consumer   string     `json:"consumer"`
	Paused     bool       `json:"paused"`
	PauseUntil *time.Time `json:"pause_until"`
}

func nextPauseAdv(t *testing.T, sub *nats.Subscription) pauseAdv {
	t.Helper()
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no pause advisory: %v", err)
	}
	var a pauseAdv
	if err := json.Unmarshal(m.Data, &a); err != nil {
		t.Fatalf("advisory %s: %v", m.Data, err)
	}
	if a.Type != "io.nats.jetstream.advisory.v1.consumer_pause" || a.ID == "" {
		t.Fatalf("advisory %s", m.Data)
	}
	return a
}

// TestE2EPauseResume: a paused pull consumer hands out nothing while
// messages arrive, still takes acks and naks, holds its redeliveries, and
// delivers everything, redeliveries first, once resumed.
func TestE2EPauseResume(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := ctx(t)
	s := mkStream(t, n, jetstream.StreamConfig{Name: "PA", Subjects: []string{"pa.*"}}, 3)
	cons := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "D"})
	adv, err := n.nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.PAUSE.PA.D")
	if err != nil {
		t.Fatal(err)
	}
	got := fetchAll(t, cons, 2, time.Second) // 1 and 2, left pending
	if len(got) != 2 {
		t.Fatalf("fetched %d", len(got))
	}

	until := time.Now().Add(time.Hour)
	pr, err := n.js.PauseConsumer(c, "PA", "D", until)
	if err != nil {
		t.Fatal(err)
	}
	if !pr.Paused || !pr.PauseUntil.Equal(until) || pr.PauseRemaining < 59*time.Minute {
		t.Fatalf("pause reply %+v", pr)
	}
	if a := nextPauseAdv(t, adv); !a.Paused || a.Stream != "PA" || a.Consumer != "D" || a.PauseUntil == nil || !a.PauseUntil.Equal(until) {
		t.Fatalf("pause advisory %+v", a)
	}
	for i := 0; i < 3; i++ {
		if _, err := n.js.Publish(c, "pa.new", []byte("new")); err != nil {
			t.Fatal(err)
		}
	}
	got[0].Ack()
	got[1].Nak()
	waitFor(t, func() bool { ci := info(t, cons); return ci.NumAckPending == 1 && ci.AckFloor.Stream == 1 })
	if m := fetchAll(t, cons, 5, time.Second); len(m) != 0 {
		t.Fatalf("paused consumer delivered %d", len(m))
	}
	b, err := cons.FetchNoWait(5)
	if err != nil {
		t.Fatal(err)
	}
	for m := range b.Messages() {
		t.Fatalf("paused consumer delivered %+v to a no_wait request", meta(t, m))
	}
	ci := info(t, cons)
	if !ci.Paused || ci.PauseRemaining < 59*time.Minute || ci.Config.PauseUntil == nil || !ci.Config.PauseUntil.Equal(until) ||
		ci.NumPending != 4 || ci.NumAckPending != 1 {
		t.Fatalf("paused info %+v", ci)
	}

	rr, err := n.js.ResumeConsumer(c, "PA", "D")
	if err != nil {
		t.Fatal(err)
	}
	if rr.Paused || rr.PauseRemaining != 0 {
		t.Fatalf("resume reply %+v", rr)
	}
	// pause_until is present and zero once resumed, as from nats-server.
	if a := nextPauseAdv(t, adv); a.Paused || a.PauseUntil == nil || !a.PauseUntil.IsZero() {
		t.Fatalf("resume advisory %+v", a)
	}
	var seqs []uint64
	deadline := time.Now().Add(5 * time.Second)
	for len(seqs) < 5 && time.Now().Before(deadline) {
		for _, m := range fetchAll(t, cons, 5, time.Second) {
			md := meta(t, m)
			if md.Sequence.Stream == 2 && md.NumDelivered != 2 {
				t.Fatalf("redelivery of 2 counted %d", md.NumDelivered)
			}
			seqs = append(seqs, md.Sequence.Stream)
			m.Ack()
		}
	}
	if len(seqs) != 5 || seqs[0] != 2 || seqs[4] != 6 {
		t.Fatalf("after resume got %v, want 2 (redelivered) then 3..6", seqs)
	}
	if ci := info(t, cons); ci.Paused || ci.Config.PauseUntil != nil {
		t.Fatalf("resumed info %+v", ci)
	}
}

// TestE2EPauseEndsByItself: a consumer paused for a short while resumes at
// pause_until without being asked, and a pull request waiting meanwhile
// gets the messages then.
func TestE2EPauseEndsByItself(t *testing.T) {
	// The stream layer runs on a fake clock: the pause ends when the test
	// moves time past pause_until, not two seconds later.
	clock := stream.NewFakeClock(time.Now())
	n := startNodeWith(t, stream.Options{StoreDir: t.TempDir(), Clock: clock})
	c := ctx(t)
	s := mkStream(t, n, jetstream.StreamConfig{Name: "PE", Subjects: []string{"pe"}}, 2)
	cons := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "D"})
	adv, err := n.nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.PAUSE.PE.D")
	if err != nil {
		t.Fatal(err)
	}
	until := clock.Now().Add(2 * time.Second)
	if _, err := n.js.PauseConsumer(c, "PE", "D", until); err != nil {
		t.Fatal(err)
	}
	nextPauseAdv(t, adv)
	if ci := info(t, cons); !ci.Paused || ci.PauseRemaining != 2*time.Second {
		t.Fatalf("paused info %+v", ci)
	}
	clock.Advance(2*time.Second - time.Millisecond)
	b, err := cons.FetchNoWait(2)
	if err != nil {
		t.Fatal(err)
	}
	for m := range b.Messages() {
		t.Fatalf("delivered %v before pause_until: %+v", time.Millisecond, meta(t, m))
	}
	clock.Advance(time.Millisecond)
	if a := nextPauseAdv(t, adv); a.Paused || a.PauseUntil == nil || !a.PauseUntil.Equal(until) {
		t.Fatalf("automatic resume advisory %+v", a)
	}
	if got := fetchAll(t, cons, 2, 15*time.Second); len(got) != 2 {
		t.Fatalf("got %d after the pause", len(got))
	}
	if ci := info(t, cons); ci.Paused || ci.PauseRemaining != 0 {
		t.Fatalf("info after the pause %+v", ci)
	}
}

// TestE2EPauseSurvivesRestart: pause_until is part of the stored config.
func TestE2EPauseSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	s := mkStream(t, n, jetstream.StreamConfig{Name: "PR", Subjects: []string{"pr"}}, 2)
	pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "D"})
	until := time.Now().Add(time.Hour)
	if _, err := n.js.PauseConsumer(ctx(t), "PR", "D", until); err != nil {
		t.Fatal(err)
	}
	n.stop()

	n = startNode(t, dir)
	cons, err := n.js.Consumer(ctx(t), "PR", "D")
	if err != nil {
		t.Fatal(err)
	}
	if ci := info(t, cons); !ci.Paused || ci.Config.PauseUntil == nil || !ci.Config.PauseUntil.Equal(until) {
		t.Fatalf("after restart %+v", ci)
	}
	if got := fetchAll(t, cons, 2, time.Second); len(got) != 0 {
		t.Fatalf("paused consumer delivered %d after restart", len(got))
	}
	if _, err := n.js.ResumeConsumer(ctx(t), "PR", "D"); err != nil {
		t.Fatal(err)
	}
	if got := fetchAll(t, cons, 2, 5*time.Second); len(got) != 2 {
		t.Fatalf("resumed consumer delivered %d", len(got))
	}
}

// TestE2ECreatePaused: pause_until in the config on create starts the
// consumer paused; an update leaves the pause as it is (only PAUSE changes
// it, as in nats-server). A paused push consumer sends only heartbeats.
func TestE2ECreatePaused(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := ctx(t)
	s := mkStream(t, n, jetstream.StreamConfig{Name: "CP", Subjects: []string{"cp"}}, 2)
	until := time.Now().Add(time.Hour)
	cfg := jetstream.ConsumerConfig{Durable: "D", PauseUntil: &until}
	cons := pullConsumer(t, s, cfg)
	if ci := info(t, cons); !ci.Paused || ci.Config.PauseUntil == nil || !ci.Config.PauseUntil.Equal(until) {
		t.Fatalf("created %+v", ci)
	}
	if got := fetchAll(t, cons, 2, time.Second); len(got) != 0 {
		t.Fatalf("paused consumer delivered %d", len(got))
	}
	// An update without pause_until: accepted, still paused.
	cfg.PauseUntil = nil
	cfg.Description = "updated"
	cons, err := s.CreateOrUpdateConsumer(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ci := info(t, cons); !ci.Paused || ci.Config.Description != "updated" {
		t.Fatalf("updated %+v", ci)
	}

	// A push consumer created paused: heartbeats, no messages.
	pushUntil := time.Now().Add(time.Hour)
	sub, err := n.nc.SubscribeSync("deliver.cp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateOrUpdatePushConsumer(c, jetstream.ConsumerConfig{Durable: "PUSH", DeliverSubject: "deliver.cp",
		IdleHeartbeat: 200 * time.Millisecond, PauseUntil: &pushUntil}); err != nil {
		t.Fatal(err)
	}
	heartbeats := 0
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); {
		m, err := sub.NextMsg(time.Until(end))
		if err != nil {
			break
		}
		if m.Header.Get("Status") != "100" || len(m.Data) > 0 {
			t.Fatalf("paused push consumer sent %q %v", m.Data, m.Header)
		}
		heartbeats++
	}
	if heartbeats == 0 {
		t.Fatal("no idle heartbeat while paused")
	}
	if _, err := n.js.ResumeConsumer(c, "CP", "PUSH"); err != nil {
		t.Fatal(err)
	}
	data := 0
	for end := time.Now().Add(5 * time.Second); data < 2 && time.Now().Before(end); {
		m, err := sub.NextMsg(time.Until(end))
		if err != nil {
			break
		}
		if len(m.Data) > 0 {
			data++
		}
	}
	if data != 2 {
		t.Fatalf("resumed push consumer sent %d messages", data)
	}
}

// TestE2EPauseErrors: unknown consumers and streams get nats-server's codes.
func TestE2EPauseErrors(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := ctx(t)
	mkStream(t, n, jetstream.StreamConfig{Name: "PX", Subjects: []string{"px"}}, 0)
	if _, err := n.js.PauseConsumer(c, "PX", "NOPE", time.Now().Add(time.Hour)); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("pause unknown consumer: %v", err)
	}
	if _, err := n.js.ResumeConsumer(c, "PX", "NOPE"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("resume unknown consumer: %v", err)
	}
	if _, err := n.js.PauseConsumer(c, "NOSTREAM", "D", time.Now().Add(time.Hour)); apiErrCode(err) != 10059 {
		t.Fatalf("pause on unknown stream: %v", err)
	}
	var r struct {
		Type  string `json:"type"`
		Error *struct {
			ErrCode int `json:"err_code"`
		} `json:"error"`
	}
	apiCall(t, n, "CONSUMER.PAUSE.PX.NOPE", `{"pause_until":`, &r)
	if r.Type != "io.nats.jetstream.api.v1.consumer_pause_response" || r.Error == nil || r.Error.ErrCode != 10025 {
		t.Fatalf("bad JSON: %+v", r)
	}
}

package stream_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func asJSErr(err error, target *jetstream.JetStreamError) bool { return errors.As(err, target) }

func TestE2EStreamLifecycle(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := ctx(t)
	cfg := jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, AllowDirect: true}
	s, err := n.js.CreateStream(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.js.CreateStream(c, cfg); err != nil {
		t.Fatalf("identical create must succeed: %v", err)
	}
	cfg2 := cfg
	cfg2.MaxMsgs = 5
	if _, err := n.js.CreateStream(c, cfg2); !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		t.Fatalf("conflicting create: %v", err)
	}
	for i := 1; i <= 5; i++ {
		ack, err := n.js.Publish(c, fmt.Sprintf("orders.%d", i%2), []byte(fmt.Sprint(i)))
		if err != nil || ack.Stream != "ORDERS" || ack.Sequence != uint64(i) {
			t.Fatalf("publish %d: %+v %v", i, ack, err)
		}
	}
	info, err := s.Info(c, jetstream.WithSubjectFilter("orders.*"))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 5 || info.State.LastSeq != 5 || info.State.Subjects["orders.1"] != 3 {
		t.Fatalf("info %+v", info.State)
	}
	// Gets: JSON API and direct.
	m, err := s.GetMsg(c, 2)
	if err != nil || string(m.Data) != "2" || m.Subject != "orders.0" {
		t.Fatalf("get: %+v %v", m, err)
	}
	m, err = s.GetLastMsgForSubject(c, "orders.1")
	if err != nil || m.Sequence != 5 {
		t.Fatalf("direct last: %+v %v", m, err)
	}
	if _, err := s.GetMsg(c, 99); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if err := s.DeleteMsg(c, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMsg(c, 1); err == nil {
		t.Fatal("deleting twice succeeded")
	}
	// Update trims at once, and cannot change storage.
	cfg.MaxMsgs = 2
	if _, err := n.js.UpdateStream(c, cfg); err != nil {
		t.Fatal(err)
	}
	info, _ = s.Info(c)
	if info.State.Msgs != 2 || info.State.FirstSeq != 4 {
		t.Fatalf("after update %+v", info.State)
	}
	cfg.Storage = jetstream.MemoryStorage
	if _, err := n.js.UpdateStream(c, cfg); apiErrCode(err) != 10052 {
		t.Fatalf("storage change: %v", err)
	}
	// Purge: by subject, then all; sequences never go back.
	if err := s.Purge(c, jetstream.WithPurgeSubject("orders.1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(c); err != nil {
		t.Fatal(err)
	}
	info, _ = s.Info(c)
	if info.State.Msgs != 0 || info.State.FirstSeq != 6 || info.State.LastSeq != 5 {
		t.Fatalf("after purge %+v", info.State)
	}
	if err := n.js.DeleteStream(c, "ORDERS"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.js.Stream(c, "ORDERS"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := n.js.DeleteStream(c, "ORDERS"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestE2ENamesListAndLookup(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := ctx(t)
	for i := 0; i < 30; i++ {
		if _, err := n.js.CreateStream(c, jetstream.StreamConfig{Name: fmt.Sprintf("S%02d", i),
			Subjects: []string{fmt.Sprintf("s%d.>", i)}, Storage: jetstream.StorageType(i % 2)}); err != nil {
			t.Fatal(err)
		}
	}
	names := n.js.StreamNames(c)
	count := 0
	for range names.Name() {
		count++
	}
	if names.Err() != nil || count != 30 {
		t.Fatalf("names %d %v", count, names.Err())
	}
	list := n.js.ListStreams(c)
	count = 0
	for si := range list.Info() {
		if si.Config.Name == "" {
			t.Fatal("empty info")
		}
		count++
	}
	if list.Err() != nil || count != 30 {
		t.Fatalf("list %d %v", count, list.Err())
	}
	name, err := n.js.StreamNameBySubject(c, "s7.x")
	if err != nil || name != "S07" {
		t.Fatalf("by subject %q %v", name, err)
	}
	if _, err := n.js.StreamNameBySubject(c, "nobody"); err == nil {
		t.Fatal("lookup of an uncaptured subject succeeded")
	}
	if _, err := n.js.CreateStream(c, jetstream.StreamConfig{Name: "X", Subjects: []string{"s3.a"}}); apiErrCode(err) != 10065 {
		t.Fatalf("overlap: %v", err)
	}
	ai, err := n.js.AccountInfo(c)
	if err != nil || ai.Streams != 30 {
		t.Fatalf("account %+v %v", ai, err)
	}
}

func TestE2EPublishRules(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := ctx(t)
	if _, err := n.js.CreateStream(c, jetstream.StreamConfig{Name: "P", Subjects: []string{"p.*"},
		MaxMsgs: 3, Discard: jetstream.DiscardNew}); err != nil {
		t.Fatal(err)
	}
	a1, err := n.js.Publish(c, "p.a", []byte("1"), jetstream.WithMsgID("one"))
	if err != nil {
		t.Fatal(err)
	}
	a2, err := n.js.Publish(c, "p.a", []byte("1"), jetstream.WithMsgID("one"))
	if err != nil || !a2.Duplicate || a2.Sequence != a1.Sequence {
		t.Fatalf("dedupe %+v %v", a2, err)
	}
	if _, err := n.js.Publish(c, "p.a", nil, jetstream.WithExpectLastSequence(7)); apiErrCode(err) != 10071 {
		t.Fatalf("expect last seq: %v", err)
	}
	if _, err := n.js.Publish(c, "p.a", nil, jetstream.WithExpectStream("Q")); apiErrCode(err) != 10060 {
		t.Fatalf("expect stream: %v", err)
	}
	if _, err := n.js.Publish(c, "p.b", nil, jetstream.WithExpectLastSequencePerSubject(0), jetstream.WithExpectLastMsgID("one")); err != nil {
		t.Fatalf("expectations that hold: %v", err)
	}
	if _, err := n.js.Publish(c, "p.a", nil, jetstream.WithExpectLastSequencePerSubject(2)); apiErrCode(err) != 10071 {
		t.Fatalf("expect subject seq: %v", err)
	}
	if _, err := n.js.Publish(c, "p.a", nil, jetstream.WithExpectLastMsgID("zzz")); apiErrCode(err) != 10070 {
		t.Fatalf("expect msg id: %v", err)
	}
	n.js.Publish(c, "p.c", nil)
	if _, err := n.js.Publish(c, "p.c", nil); apiErrCode(err) != 10077 {
		t.Fatalf("discard new: %v", err)
	}
	// A subject no stream holds: no responders, as with nats-server.
	if _, err := n.js.Publish(c, "unheld", nil, jetstream.WithRetryAttempts(0)); !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("unheld subject: %v", err)
	}
}

func TestE2EAsyncPublishContiguous(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := ctx(t)
	if _, err := n.js.CreateStream(c, jetstream.StreamConfig{Name: "A", Subjects: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	const total = 10000
	futures := make([]jetstream.PubAckFuture, 0, total)
	for i := 0; i < total; i++ {
		// The stall wait covers a loaded machine: past the client's
		// window of outstanding acks, it waits this long for room.
		f, err := n.js.PublishAsync("a", []byte("payload"), jetstream.WithStallWait(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	select {
	case <-n.js.PublishAsyncComplete():
	case <-time.After(20 * time.Second):
		t.Fatal("async publishes not acked in time")
	}
	seen := make([]bool, total+1)
	for _, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack.Sequence == 0 || ack.Sequence > total || seen[ack.Sequence] {
				t.Fatalf("bad ack %+v", ack)
			}
			seen[ack.Sequence] = true
		case err := <-f.Err():
			t.Fatal(err)
		}
	}
	s, _ := n.js.Stream(c, "A")
	info, _ := s.Info(c)
	if info.State.Msgs != total || info.State.FirstSeq != 1 || info.State.LastSeq != total {
		t.Fatalf("state %+v", info.State)
	}
}

func TestE2ERestartRecovers(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	c := ctx(t)
	if _, err := n.js.CreateStream(c, jetstream.StreamConfig{Name: "R", Subjects: []string{"r"}, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if _, err := n.js.Publish(c, "r", []byte("x"), jetstream.WithMsgID(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	n.stop()
	n = startNode(t, dir)
	s, err := n.js.Stream(c, "R")
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(c)
	if info.State.Msgs != 100 || info.State.LastSeq != 100 || info.Config.MaxAge != time.Hour {
		t.Fatalf("after restart %+v %+v", info.State, info.Config)
	}
	ack, err := n.js.Publish(c, "r", []byte("x"), jetstream.WithMsgID("5"))
	if err != nil || !ack.Duplicate || ack.Sequence != 6 {
		t.Fatalf("dedupe after restart %+v %v", ack, err)
	}
	ack, err = n.js.Publish(c, "r", []byte("x"))
	if err != nil || ack.Sequence != 101 {
		t.Fatalf("next seq %+v %v", ack, err)
	}
}

func TestE2EBadRequestsGetErrors(t *testing.T) {
	n := startNode(t, t.TempDir())
	for _, subj := range []string{"$JS.API.STREAM.CREATE.X", "$JS.API.STREAM.INFO.X", "$JS.API.STREAM.NAMES",
		"$JS.API.STREAM.MSG.GET.X", "$JS.API.STREAM.PURGE.X", "$JS.API.STREAM.WHAT"} {
		msg, err := n.nc.Request(subj, []byte("{garbage"), 2*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", subj, err)
		}
		if !jsonHasError(msg) {
			t.Fatalf("%s: reply without error: %s", subj, msg.Data)
		}
	}
}

func jsonHasError(m *nats.Msg) bool {
	var r struct {
		Type  string `json:"type"`
		Error *struct {
			Code    int `json:"code"`
			ErrCode int `json:"err_code"`
		} `json:"error"`
	}
	return jsonUnmarshal(m.Data, &r) == nil && r.Type != "" && r.Error != nil && r.Error.Code >= 400
}

package stream_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publishRollup publishes data on subject with a Nats-Rollup header.
func publishRollup(t *testing.T, n *node, subject, rollup string) (*jetstream.PubAck, error) {
	t.Helper()
	m := nats.NewMsg(subject)
	m.Header.Set("Nats-Rollup", rollup)
	m.Data = []byte("rollup")
	return n.js.PublishMsg(ctx(t), m)
}

// KV purge publishes a marker with "Nats-Rollup: sub": afterwards the key's
// history is the marker alone.
func TestE2EKVPurgeRollsUpTheKey(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	kv, err := n.js.CreateKeyValue(ctx(t), jetstream.KeyValueConfig{Bucket: "RU", History: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, err := kv.Put(ctx(t), "k", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Put(ctx(t), "other", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.Purge(ctx(t), "k"); err != nil {
		t.Fatal(err)
	}
	hist, err := kv.History(ctx(t), "k", jetstream.IncludeHistory())
	if err != nil && err != jetstream.ErrKeyNotFound {
		t.Fatal(err)
	}
	// History returns ErrKeyNotFound when only a delete/purge marker is
	// left; the stream itself must hold exactly the marker for the key.
	if len(hist) > 1 {
		t.Fatalf("history after purge has %d entries, want the purge marker alone", len(hist))
	}
	s, err := n.js.Stream(ctx(t), "KV_RU")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx(t), jetstream.WithSubjectFilter(">"))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.State.Subjects["$KV.RU.k"]; got != 1 {
		t.Fatalf("$KV.RU.k holds %d messages after purge, want 1 (the marker)", got)
	}
	if got := info.State.Subjects["$KV.RU.other"]; got != 4 {
		t.Fatalf("$KV.RU.other holds %d messages, want its 4 untouched", got)
	}
	last, err := s.GetLastMsgForSubject(ctx(t), "$KV.RU.k")
	if err != nil {
		t.Fatal(err)
	}
	if op := last.Header.Get("KV-Operation"); op != "PURGE" {
		t.Fatalf("last message on the key has KV-Operation %q, want PURGE", op)
	}
	if info.State.Msgs != 5 || info.State.FirstSeq != 2 || info.State.LastSeq != 9 {
		t.Fatalf("stream state %+v, want 5 messages from 2 (the first on other) to 9", info.State)
	}
	// The rollup is on disk as it is in memory.
	n.stop()
	n = startNode(t, dir)
	s, err = n.js.Stream(ctx(t), "KV_RU")
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Info(ctx(t), jetstream.WithSubjectFilter(">"))
	if err != nil {
		t.Fatal(err)
	}
	if again.State.Msgs != 5 || again.State.FirstSeq != 2 || again.State.Subjects["$KV.RU.k"] != 1 {
		t.Fatalf("after restart: %+v, want what it was before", again.State)
	}
}

// An object store keeps one metadata message per object: updating it is a
// subject rollup.
func TestE2EObjectStoreMetaRollsUp(t *testing.T) {
	n := startNode(t, t.TempDir())
	obs, err := n.js.CreateObjectStore(ctx(t), jetstream.ObjectStoreConfig{Bucket: "RUO"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := obs.PutBytes(ctx(t), "obj", bytes.Repeat([]byte{byte(i)}, 100)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := n.js.Stream(ctx(t), "OBJ_RUO")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx(t), jetstream.WithSubjectFilter("$O.RUO.M.>"))
	if err != nil {
		t.Fatal(err)
	}
	for subj, count := range info.State.Subjects {
		if count != 1 {
			t.Fatalf("metadata subject %s holds %d messages, want 1", subj, count)
		}
	}
	if len(info.State.Subjects) != 1 {
		t.Fatalf("metadata subjects %v, want one", info.State.Subjects)
	}
	got, err := obs.GetBytes(ctx(t), "obj")
	if err != nil || !bytes.Equal(got, bytes.Repeat([]byte{2}, 100)) {
		t.Fatalf("object after three puts: %v %v", got, err)
	}
}

// "Nats-Rollup: all" leaves the stream holding the rollup message alone,
// and that survives a restart.
func TestE2ERollupAll(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	mkStream(t, n, jetstream.StreamConfig{Name: "RA", Subjects: []string{"ra.*"}, AllowRollup: true}, 9)
	ack, err := publishRollup(t, n, "ra.x", "ALL") // values compare without case
	if err != nil {
		t.Fatal(err)
	}
	check := func(n *node) {
		t.Helper()
		s, err := n.js.Stream(ctx(t), "RA")
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		st := info.State
		if st.Msgs != 1 || st.FirstSeq != ack.Sequence || st.LastSeq != 10 || ack.Sequence != 10 {
			t.Fatalf("after rollup all: %+v (ack seq %d), want only message 10", st, ack.Sequence)
		}
		m, err := s.GetMsg(ctx(t), 10)
		if err != nil || string(m.Data) != "rollup" {
			t.Fatalf("rollup message: %v %v", m, err)
		}
	}
	check(n)
	// A subject rollup on a stream of one message leaves it alone.
	if _, err := publishRollup(t, n, "ra.y", "sub"); err != nil {
		t.Fatal(err)
	}
	ack, err = publishRollup(t, n, "ra.y", "all")
	if err != nil {
		t.Fatal(err)
	}
	if ack.Sequence != 12 {
		t.Fatalf("ack seq %d, want 12", ack.Sequence)
	}
	n.stop()
	n = startNode(t, dir)
	s, err := n.js.Stream(ctx(t), "RA")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st := info.State; st.Msgs != 1 || st.FirstSeq != 12 || st.LastSeq != 12 {
		t.Fatalf("after restart: %+v, want only message 12", st)
	}
}

// Rollups are refused with nats-server's errors where the stream does not
// allow them, or the value is not one of sub and all; a refused rollup
// stores nothing.
func TestE2ERollupRefused(t *testing.T) {
	n := startNode(t, t.TempDir())
	mkStream(t, n, jetstream.StreamConfig{Name: "RN", Subjects: []string{"rn.*"}}, 3)
	mkStream(t, n, jetstream.StreamConfig{Name: "RY", Subjects: []string{"ry.*"}, AllowRollup: true}, 3)
	for _, tc := range []struct{ subject, rollup, desc string }{
		{"rn.a", "sub", "rollup not permitted"},
		{"rn.a", "all", "rollup not permitted"},
		{"ry.a", "some", `rollup value invalid: "some"`},
	} {
		_, err := publishRollup(t, n, tc.subject, tc.rollup)
		if code := apiErrCode(err); code != 10111 || !strings.Contains(err.Error(), tc.desc) {
			t.Errorf("rollup %q on %s: %v (code %d), want 10111 %q", tc.rollup, tc.subject, err, code, tc.desc)
		}
	}
	for _, name := range []string{"RN", "RY"} {
		s, _ := n.js.Stream(ctx(t), name)
		info, err := s.Info(ctx(t))
		if err != nil || info.State.Msgs != 3 || info.State.LastSeq != 3 {
			t.Fatalf("%s after refused rollups: %+v %v", name, info.State, err)
		}
	}
	// Rollups need the purge permission.
	_, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "RD", Subjects: []string{"rd"}, AllowRollup: true, DenyPurge: true})
	if code := apiErrCode(err); code != 10052 || !strings.Contains(err.Error(), "roll-ups require the purge permission") {
		t.Fatalf("allow rollup with deny purge: %v (code %d), want 10052", err, code)
	}
}

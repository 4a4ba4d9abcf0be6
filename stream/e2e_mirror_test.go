package stream_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// waitUntil polls cond until it holds, failing after a generous deadline.
func waitUntil(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last: %s", what, last)
}

// waitStream waits until the stream holds msgs messages, its last
// sequence is last, and its mirror or sources report no lag.
func waitStream(t *testing.T, js jetstream.JetStream, name string, msgs, last uint64) *jetstream.StreamInfo {
	t.Helper()
	var info *jetstream.StreamInfo
	waitUntil(t, fmt.Sprintf("%s to hold %d messages up to %d", name, msgs, last), func() (bool, string) {
		s, err := js.Stream(ctx(t), name)
		if err != nil {
			return false, err.Error()
		}
		info = s.CachedInfo()
		return info.State.Msgs == msgs && info.State.LastSeq == last, fmt.Sprintf("%+v mirror=%+v", info.State, info.Mirror)
	})
	return info
}

func publishN(t *testing.T, js jetstream.JetStream, subject string, n int) {
	t.Helper()
	for i := range n {
		if _, err := js.Publish(ctx(t), subject, fmt.Appendf(nil, "%s-%d", subject, i)); err != nil {
			t.Fatalf("publish %s: %v", subject, err)
		}
	}
}

func TestMirrorCopiesWithOriginSequences(t *testing.T) {
	n := startNode(t, t.TempDir())
	o, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "O", Subjects: []string{"o.>"}})
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, n.js, "o.a", 5)
	if err := o.DeleteMsg(ctx(t), 2); err != nil {
		t.Fatal(err)
	}
	m, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "M", Mirror: &jetstream.StreamSource{Name: "O"}})
	if err != nil {
		t.Fatal(err)
	}
	waitStream(t, n.js, "M", 4, 5)
	publishN(t, n.js, "o.b", 2)
	info := waitStream(t, n.js, "M", 6, 7)
	if info.Mirror == nil || info.Mirror.Name != "O" || info.Mirror.Error != nil || info.Mirror.Active < 0 {
		t.Fatalf("mirror info %+v", info.Mirror)
	}
	// Stream info shows a copy once it is applied, a read once its batch
	// committed: wait for the read.
	var got *jetstream.RawStreamMsg
	waitUntil(t, "mirror seq 6 to read back", func() (bool, string) {
		got, err = m.GetMsg(ctx(t), 6)
		return err == nil, fmt.Sprint(err)
	})
	if got.Subject != "o.b" || string(got.Data) != "o.b-0" {
		t.Fatalf("mirror seq 6: %+v", got)
	}
	if _, err := m.GetMsg(ctx(t), 2); err == nil {
		t.Fatal("the mirror has the message deleted from its origin")
	}
	// A mirror captures no subject: nothing answers a publish to it.
	if _, err := n.js.Publish(ctx(t), "M", []byte("x")); !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("publish to the mirror's name: %v", err)
	}
}

func TestMirrorConfigRefusedWithNATSCodes(t *testing.T) {
	n := startNode(t, t.TempDir())
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "O", Subjects: []string{"o.>"}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cases := []struct {
		cfg  jetstream.StreamConfig
		code jetstream.ErrorCode
	}{
		{jetstream.StreamConfig{Name: "M", Subjects: []string{"m"}, Mirror: &jetstream.StreamSource{Name: "O"}}, 10034},
		{jetstream.StreamConfig{Name: "M", FirstSeq: 5, Mirror: &jetstream.StreamSource{Name: "O"}}, 10143},
		{jetstream.StreamConfig{Name: "M", Mirror: &jetstream.StreamSource{Name: "O"}, Sources: []*jetstream.StreamSource{{Name: "O"}}}, 10031},
		{jetstream.StreamConfig{Name: "M", Mirror: &jetstream.StreamSource{Name: "O", OptStartSeq: 2, OptStartTime: &now}}, 10032},
		{jetstream.StreamConfig{Name: "M", Mirror: &jetstream.StreamSource{Name: "O.x"}}, 10142},
		{jetstream.StreamConfig{Name: "M", Mirror: &jetstream.StreamSource{Name: "O", FilterSubject: "o.a",
			SubjectTransforms: []jetstream.SubjectTransformConfig{{Source: "o.b", Destination: "x"}}}}, 10150},
		{jetstream.StreamConfig{Name: "M", Mirror: &jetstream.StreamSource{Name: "O",
			SubjectTransforms: []jetstream.SubjectTransformConfig{{Source: "o.*", Destination: "x.{{wildcard(3)}}"}}}}, 10154},
		{jetstream.StreamConfig{Name: "S", Sources: []*jetstream.StreamSource{{Name: "O"}, {Name: "O"}}}, 10140},
		{jetstream.StreamConfig{Name: "S", Sources: []*jetstream.StreamSource{{Name: "O", FilterSubject: "o..x"}}}, 10145},
		{jetstream.StreamConfig{Name: "S", Sources: []*jetstream.StreamSource{{Name: "O",
			SubjectTransforms: []jetstream.SubjectTransformConfig{{Source: "o.>", Destination: "a.>"}, {Source: "o.a", Destination: "b"}}}}}, 10147},
	}
	for i, c := range cases {
		_, err := n.js.CreateStream(ctx(t), c.cfg)
		if code := apiErrCode(err); code != c.code {
			t.Errorf("case %d: got %v (code %d), want %d", i, err, code, c.code)
		}
	}
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "M", Mirror: &jetstream.StreamSource{Name: "O"}}); err != nil {
		t.Fatal(err)
	}
	_, err := n.js.UpdateStream(ctx(t), jetstream.StreamConfig{Name: "M", Mirror: &jetstream.StreamSource{Name: "O", FilterSubject: "o.a"}})
	if code := apiErrCode(err); code != 10055 {
		t.Fatalf("mirror update: %v (code %d), want 10055", err, code)
	}
}

// A mirror resumes after a restart from the sequence after its last one,
// neither repeating nor skipping a message.
func TestMirrorResumesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "O", Subjects: []string{"o.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "M", Mirror: &jetstream.StreamSource{Name: "O"}}); err != nil {
		t.Fatal(err)
	}
	publishN(t, n.js, "o.a", 3)
	waitStream(t, n.js, "M", 3, 3)
	n.stop()
	n = startNode(t, dir)
	publishN(t, n.js, "o.a", 2)
	waitStream(t, n.js, "M", 5, 5)
}

// A mirror of a stream that does not exist yet reports why it is not
// copying, and starts once the origin appears.
func TestMirrorWaitsForItsOrigin(t *testing.T) {
	n := startNode(t, t.TempDir())
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "M", Mirror: &jetstream.StreamSource{Name: "LATER"}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the mirror to report its missing origin", func() (bool, string) {
		s, err := n.js.Stream(ctx(t), "M")
		if err != nil {
			return false, err.Error()
		}
		mi := s.CachedInfo().Mirror
		return mi != nil && mi.Error != nil && mi.Error.ErrorCode == 10059, fmt.Sprintf("%+v", mi)
	})
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "LATER", Subjects: []string{"later"}}); err != nil {
		t.Fatal(err)
	}
	publishN(t, n.js, "later", 2)
	info := waitStream(t, n.js, "M", 2, 2)
	if info.Mirror.Error != nil {
		t.Fatalf("error still shown: %+v", info.Mirror.Error)
	}
}

// A mirror may take some of its origin's subjects and rename them; it
// still keeps each message's origin sequence.
func TestMirrorFilterAndTransform(t *testing.T) {
	n := startNode(t, t.TempDir())
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "O", Subjects: []string{"o.>"}}); err != nil {
		t.Fatal(err)
	}
	publishN(t, n.js, "o.keep", 2)
	publishN(t, n.js, "o.drop", 2)
	publishN(t, n.js, "o.keep", 1)
	m, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "M", Mirror: &jetstream.StreamSource{Name: "O",
		SubjectTransforms: []jetstream.SubjectTransformConfig{{Source: "o.keep", Destination: "kept"}}}})
	if err != nil {
		t.Fatal(err)
	}
	waitStream(t, n.js, "M", 3, 5)
	for _, seq := range []uint64{1, 2, 5} {
		got, err := m.GetMsg(ctx(t), seq)
		if err != nil || got.Subject != "kept" {
			t.Fatalf("mirror seq %d: %+v %v", seq, got, err)
		}
	}
}

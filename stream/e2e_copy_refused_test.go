package stream_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// storedPayloads lists a stream's payloads in sequence order, once every
// message its info counts reads back (info shows a message once applied,
// a read once its batch committed).
func storedPayloads(t *testing.T, js jetstream.JetStream, name string) []string {
	t.Helper()
	var out []string
	waitUntil(t, name+"'s messages to read back", func() (bool, string) {
		s, err := js.Stream(ctx(t), name)
		if err != nil {
			return false, err.Error()
		}
		info := s.CachedInfo()
		out = out[:0]
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			if m, err := s.GetMsg(ctx(t), seq); err == nil {
				out = append(out, string(m.Data))
			}
		}
		return uint64(len(out)) == info.State.Msgs, fmt.Sprintf("%d of %d", len(out), info.State.Msgs)
	})
	return out
}

// TestSourceRefusedCopyShowsErrorAndRetries: a copy the stream refuses (a
// discard-new limit here) shows as the source's error in stream info, and
// is not skipped: once there is room the copier goes on from it, in order,
// and the error clears.
func TestSourceRefusedCopyShowsErrorAndRetries(t *testing.T) {
	n := startNode(t, t.TempDir())
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "O", Subjects: []string{"o"}}); err != nil {
		t.Fatal(err)
	}
	publishN(t, n.js, "o", 5)
	s, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "FULL", Subjects: []string{"full"},
		Sources: []*jetstream.StreamSource{{Name: "O"}}, MaxMsgs: 3, Discard: jetstream.DiscardNew})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the refusal to show", func() (bool, string) {
		info, err := s.Info(ctx(t))
		if err != nil || len(info.Sources) != 1 {
			return false, fmt.Sprint(err)
		}
		e := info.Sources[0].Error
		return info.State.Msgs == 3 && e != nil && e.ErrorCode == 10077 && strings.Contains(e.Description, "maximum messages"),
			fmt.Sprintf("%+v %+v", info.State, e)
	})
	if err := s.Purge(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the copier to go on", func() (bool, string) {
		info, err := s.Info(ctx(t))
		if err != nil || len(info.Sources) != 1 {
			return false, fmt.Sprint(err)
		}
		return info.State.Msgs == 2 && info.Sources[0].Error == nil, fmt.Sprintf("%+v %+v", info.State, info.Sources[0].Error)
	})
	if got := strings.Join(storedPayloads(t, n.js, "FULL"), " "); got != "o-3 o-4" {
		t.Fatalf("after the retry the stream holds %s, want o-3 o-4", got)
	}
}

// TestSourceOriginRecreated: a source whose origin is deleted and created
// again copies the new origin from its beginning, as nats-server 2.15
// does, instead of waiting for it to pass the old sequences.
func TestSourceOriginRecreated(t *testing.T) {
	n := startNode(t, t.TempDir())
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "RO", Subjects: []string{"ro"}}); err != nil {
		t.Fatal(err)
	}
	publishN(t, n.js, "ro", 5)
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "RS", Subjects: []string{"rs"},
		Sources: []*jetstream.StreamSource{{Name: "RO"}}}); err != nil {
		t.Fatal(err)
	}
	waitStream(t, n.js, "RS", 5, 5)
	if err := n.js.DeleteStream(ctx(t), "RO"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "RO", Subjects: []string{"ro"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := n.js.Publish(ctx(t), "ro", fmt.Appendf(nil, "new-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitStream(t, n.js, "RS", 8, 8)
	if got := strings.Join(storedPayloads(t, n.js, "RS"), " "); got != "ro-0 ro-1 ro-2 ro-3 ro-4 new-0 new-1 new-2" {
		t.Fatalf("RS holds %s", got)
	}
}

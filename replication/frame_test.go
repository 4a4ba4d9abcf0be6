package replication

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/wisp-mq/wisp/consensus"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func raftMsg(typ pb.MessageType, from, to uint64, data ...[]byte) *pb.Message {
	m := &pb.Message{Type: typ.Enum(), From: proto.Uint64(from), To: proto.Uint64(to), Term: proto.Uint64(3)}
	for i, d := range data {
		m.Entries = append(m.Entries, &pb.Entry{Index: proto.Uint64(uint64(i + 1)), Term: proto.Uint64(3), Data: d})
	}
	return m
}

// fakeNet records what is sent and can refuse it.
type fakeNet struct {
	mu       sync.Mutex
	frames   map[string][][]byte
	refuse   error
	handlers map[string]func(string, []byte)
}

func newFakeNet() *fakeNet {
	return &fakeNet{frames: map[string][][]byte{}, handlers: map[string]func(string, []byte){}}
}

func (n *fakeNet) Send(peer, channel string, payload []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.refuse != nil {
		return n.refuse
	}
	n.frames[peer] = append(n.frames[peer], bytes.Clone(payload))
	return nil
}
func (n *fakeNet) Handle(channel string, h func(string, []byte)) { n.handlers[channel] = h }
func (n *fakeNet) Peers() []Peer                                 { return nil }
func (n *fakeNet) Seeds() []string                               { return nil }

// TestFrameRoundTripAndSplit: a batch too large for one frame goes out as
// several, each within the limit, and decodes to the same messages.
func TestFrameRoundTripAndSplit(t *testing.T) {
	net := newFakeNet()
	tr := NewTransport(net, "a", 64<<10, nil)
	tr.Learn("b")
	a, b := NodeID("a"), NodeID("b")
	var batch consensus.Batch
	batch.From, batch.To = a, b
	for g := uint64(1); g <= 20; g++ {
		batch.Messages = append(batch.Messages, consensus.Message{Group: g, Raft: raftMsg(pb.MsgApp, a, b, bytes.Repeat([]byte{byte(g)}, 10<<10))})
	}
	batch.TermQueries = []uint64{7}
	batch.TermReplies = []consensus.TermReply{{Group: 8, Term: 9}}
	tr.Send(batch)

	frames := net.frames["b"]
	if len(frames) < 3 {
		t.Fatalf("%d frames for 200 KiB with a 64 KiB limit", len(frames))
	}
	var got consensus.Batch
	for _, f := range frames {
		if len(f) > 64<<10 {
			t.Fatalf("frame of %d bytes over the limit", len(f))
		}
		d, err := decodeFrame(f, a, 2)
		if err != nil {
			t.Fatal(err)
		}
		got.Messages = append(got.Messages, d.Messages...)
		got.TermQueries = append(got.TermQueries, d.TermQueries...)
		got.TermReplies = append(got.TermReplies, d.TermReplies...)
	}
	if len(got.Messages) != 20 {
		t.Fatalf("decoded %d messages", len(got.Messages))
	}
	for i, m := range got.Messages {
		if m.Group != uint64(i+1) || !proto.Equal(m.Raft, batch.Messages[i].Raft) {
			t.Fatalf("message %d differs", i)
		}
	}
	if len(got.TermQueries) != 1 || got.TermQueries[0] != 7 || len(got.TermReplies) != 1 || got.TermReplies[0] != (consensus.TermReply{Group: 8, Term: 9}) {
		t.Fatalf("queries %v replies %v", got.TermQueries, got.TermReplies)
	}
}

// TestFrameDropsForgedAndLocal: messages claiming another sender, local
// message types and proposals never reach the host.
func TestFrameDropsForgedAndLocal(t *testing.T) {
	a, b := NodeID("a"), NodeID("b")
	f := appendFrameHead(nil)
	f = append(f, 4)
	for _, m := range []*pb.Message{
		raftMsg(pb.MsgHeartbeat, a, b),
		raftMsg(pb.MsgHeartbeat, 99, b), // forged sender
		raftMsg(pb.MsgHup, a, b),        // local
		raftMsg(pb.MsgProp, a, b, []byte("x")),
	} {
		raw, _ := proto.Marshal(m)
		f = appendMessage(f, 1, raw)
	}
	f = appendFrameTail(f, nil, nil)
	got, err := decodeFrame(f, a, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 1 || got.Messages[0].Raft.GetType() != pb.MsgHeartbeat || got.Messages[0].Raft.GetFrom() != a {
		t.Fatalf("kept %v", got.Messages)
	}
}

// TestFrameRejectsMalformed: truncations, bad versions, counts larger
// than the frame and trailing bytes are errors, not panics.
func TestFrameRejectsMalformed(t *testing.T) {
	raw, _ := proto.Marshal(raftMsg(pb.MsgApp, 1, 2, []byte("data")))
	good := appendFrameTail(appendMessage(append(appendFrameHead(nil), 1), 5, raw), []uint64{1}, nil)
	if _, err := decodeFrame(good, 1, 2); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(good); i++ {
		if _, err := decodeFrame(good[:i], 1, 2); !errors.Is(err, errFrame) {
			t.Fatalf("truncated at %d: %v", i, err)
		}
	}
	for name, f := range map[string][]byte{
		"version":  append([]byte{9}, good[1:]...),
		"trailing": append(bytes.Clone(good), 0),
		"count":    {frameVersion, 0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		if _, err := decodeFrame(f, 1, 2); !errors.Is(err, errFrame) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// TestTransportDropsAndReportsWhenRefused: a refused frame is counted as
// dropped, and nothing blocks.
func TestTransportDropsWhenRefused(t *testing.T) {
	net := newFakeNet()
	net.refuse = errors.New("busy")
	tr := NewTransport(net, "a", 1<<20, nil)
	tr.Learn("b")
	tr.Send(consensus.Batch{From: NodeID("a"), To: NodeID("b"), Messages: []consensus.Message{{Group: 1, Raft: raftMsg(pb.MsgHeartbeat, NodeID("a"), NodeID("b"))}}})
	tr.Send(consensus.Batch{From: NodeID("a"), To: NodeID("nobody")}) // unknown peer: nothing to send to
	if sent, dropped, _ := tr.Stats(); sent != 0 || dropped != 1 {
		t.Fatalf("sent %d dropped %d", sent, dropped)
	}
}

// TestTransportLogsMalformedFrames: a malformed frame from a peer is
// counted and dropped, and the host never sees it.
func TestTransportCountsMalformedFrames(t *testing.T) {
	net := newFakeNet()
	tr := NewTransport(net, "a", 1<<20, nil)
	net.handlers[chanRaft]("b", []byte{frameVersion, 3, 1})
	if _, _, bad := tr.Stats(); bad != 1 {
		t.Fatalf("malformed = %d", bad)
	}
}

func FuzzDecodeFrame(f *testing.F) {
	raw, _ := proto.Marshal(raftMsg(pb.MsgApp, 1, 2, []byte("data")))
	f.Add(appendFrameTail(appendMessage(append(appendFrameHead(nil), 1), 5, raw), []uint64{1}, []consensus.TermReply{{Group: 2, Term: 3}}))
	f.Add([]byte{frameVersion, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeFrame(b, 1, 2)
		if err != nil {
			return
		}
		for _, m := range got.Messages {
			if m.Raft.GetFrom() != 1 || m.Group == 0 {
				t.Fatalf("kept %v", m)
			}
		}
	})
}

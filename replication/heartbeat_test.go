package replication

import (
	"testing"

	"github.com/wisp-mq/wisp/consensus"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// TestHeartbeatsTravelCompact: plain heartbeats and responses of many
// groups go in the frame's heartbeat sections, a few bytes each, and
// come out as the same raft messages; a heartbeat carrying a read
// request's context, and every other message, travel whole.
func TestHeartbeatsTravelCompact(t *testing.T) {
	net := newFakeNet()
	tr := NewTransport(net, "a", 1<<20, nil)
	tr.Learn("b")
	a, b := NodeID("a"), NodeID("b")
	var sent []consensus.Message
	for g := uint64(1); g <= 1000; g++ {
		m := &pb.Message{Type: pb.MsgHeartbeat.Enum(), From: proto.Uint64(a), To: proto.Uint64(b), Term: proto.Uint64(3 + g%2), Commit: proto.Uint64(1000 + g)}
		if g%2 == 0 {
			m = &pb.Message{Type: pb.MsgHeartbeatResp.Enum(), From: proto.Uint64(a), To: proto.Uint64(b), Term: proto.Uint64(7)}
		}
		sent = append(sent, consensus.Message{Group: g, Raft: m})
	}
	withCtx := &pb.Message{Type: pb.MsgHeartbeat.Enum(), From: proto.Uint64(a), To: proto.Uint64(b), Term: proto.Uint64(3), Commit: proto.Uint64(9), Context: []byte("read")}
	app := raftMsg(pb.MsgApp, a, b, []byte("data"))
	sent = append(sent, consensus.Message{Group: 2000, Raft: withCtx}, consensus.Message{Group: 2001, Raft: app})
	tr.Send(consensus.Batch{From: a, To: b, Messages: sent})

	frames := net.frames["b"]
	if len(frames) != 1 || frames[0][0] != frameVersionBeats {
		t.Fatalf("%d frames, the first of version %d: want one frame with heartbeat sections", len(frames), frames[0][0])
	}
	// Each beat in a few bytes, not a raft message of thirty.
	if n := len(frames[0]); n > 1000*8+200 {
		t.Fatalf("a frame of %d bytes for 1000 idle groups' heartbeats", n)
	}
	got, err := decodeFrame(frames[0], a, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != len(sent) {
		t.Fatalf("%d messages decoded, %d sent", len(got.Messages), len(sent))
	}
	byGroup := map[uint64]*pb.Message{}
	for _, m := range got.Messages {
		byGroup[m.Group] = m.Raft
	}
	for _, m := range sent {
		g := byGroup[m.Group]
		if g == nil || g.GetType() != m.Raft.GetType() || g.GetFrom() != a || g.GetTo() != b || g.GetTerm() != m.Raft.GetTerm() ||
			g.GetCommit() != m.Raft.GetCommit() || string(g.GetContext()) != string(m.Raft.GetContext()) || len(g.GetEntries()) != len(m.Raft.GetEntries()) {
			t.Fatalf("group %d: sent %v, got %v", m.Group, m.Raft, g)
		}
	}
	if !proto.Equal(byGroup[2001], app) || !proto.Equal(byGroup[2000], withCtx) {
		t.Fatal("the messages that are not plain heartbeats changed")
	}
}

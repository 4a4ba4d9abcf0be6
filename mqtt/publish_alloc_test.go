package mqtt

import (
	"bytes"
	"log/slog"
	"testing"
)

// msgBroker is a Broker that takes the caller's buffers, as the server's
// account broker does; it records the last message it was given.
type msgBroker struct {
	n       int
	subject []byte
	msg     []byte
	hdrLen  int
}

func (b *msgBroker) Publish(string, string, []byte, []byte) error {
	panic("the MQTT layer should publish from its own buffers")
}

func (b *msgBroker) Subscribe(string, string, func(subject, reply, hdr, data []byte)) (func(), error) {
	return func() {}, nil
}

func (b *msgBroker) PublishMsg(subject []byte, _ string, msg []byte, hdrLen int) error {
	b.n++
	b.subject = append(b.subject[:0], subject...)
	b.msg = append(b.msg[:0], msg...)
	b.hdrLen = hdrLen
	return nil
}

// Routing a QoS 0 PUBLISH to the account's subscribers converts the
// topic into the reader's subject buffer and joins header and payload in
// its message buffer: nothing is allocated per packet.
func TestPublishRouteAlloc(t *testing.T) {
	b := &msgBroker{}
	c := &conn{svc: &Service{log: slog.New(slog.DiscardHandler)}, acc: &accountState{b: b, pm: b}}
	p := &publishPacket{topic: []byte("sensors/cold-1/temp"), payload: []byte("4.5")}
	if err := c.handlePublish(p); err != nil { // grow the buffers once
		t.Fatal(err)
	}
	if string(b.subject) != "sensors.cold-1.temp" || b.hdrLen != len(hdrQoS0) ||
		!bytes.Equal(b.msg[:b.hdrLen], hdrQoS0) || string(b.msg[b.hdrLen:]) != "4.5" {
		t.Fatalf("published %q: %q with a header of %d bytes", b.subject, b.msg, b.hdrLen)
	}
	n := testing.AllocsPerRun(1000, func() {
		if err := c.handlePublish(p); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per QoS 0 PUBLISH", n)
	}
	if b.n != 1002 {
		t.Fatalf("%d messages published, want 1002", b.n)
	}
}

// A large payload is routed, and its buffer is not kept afterwards.
func TestPublishRouteLargePayloadNotKept(t *testing.T) {
	b := &msgBroker{}
	c := &conn{svc: &Service{log: slog.New(slog.DiscardHandler)}, acc: &accountState{b: b, pm: b}}
	big := bytes.Repeat([]byte("x"), 2*maxKeptMsg)
	if err := c.handlePublish(&publishPacket{topic: []byte("a/b"), payload: big}); err != nil {
		t.Fatal(err)
	}
	if len(b.msg)-b.hdrLen != len(big) {
		t.Fatalf("published %d payload bytes, want %d", len(b.msg)-b.hdrLen, len(big))
	}
	if cap(c.msg) > maxKeptMsg {
		t.Fatalf("kept a routing buffer of %d bytes", cap(c.msg))
	}
}

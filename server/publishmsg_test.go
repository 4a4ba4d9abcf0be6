package server

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
)

// PublishMsg publishes from the caller's buffers: a NATS subscriber in
// the account gets the subject, the header block (the first hdrLen
// bytes) and the data; a bad subject or header length is refused.
func TestAccountBrokerPublishMsg(t *testing.T) {
	s := startServer(t, twoAccounts)
	ab, err := s.Account("A")
	if err != nil {
		t.Fatal(err)
	}
	a := connect(t, s, nats.UserInfo("a", "a"))
	sub, err := a.SubscribeSync("in.>")
	if err != nil {
		t.Fatal(err)
	}
	a.Flush()
	hdr := "NATS/1.0\r\nNmqtt-Pub: 1\r\n\r\n"
	if err := ab.PublishMsg([]byte("in.x"), "", []byte(hdr+"payload"), len(hdr)); err != nil {
		t.Fatal(err)
	}
	m := nextMsg(t, sub)
	if m.Subject != "in.x" || string(m.Data) != "payload" || m.Header.Get("Nmqtt-Pub") != "1" {
		t.Fatalf("got %q %q %v", m.Subject, m.Data, m.Header)
	}
	if err := ab.PublishMsg([]byte("in.*"), "", []byte("x"), 0); !errors.Is(err, ErrInvalidSubject) {
		t.Fatalf("wildcard subject: %v", err)
	}
	if err := ab.PublishMsg([]byte("in.x"), "", []byte("x"), 2); err == nil {
		t.Fatal("a header longer than the message was accepted")
	}
}

// With an in-process subscriber (as the stream layer's), PublishMsg
// allocates nothing per message.
func TestAccountBrokerPublishMsgAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are checked without -race (make test does both)")
	}
	s := startServer(t, twoAccounts)
	ab, err := s.Account("A")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	cancel, err := ab.Subscribe("in.>", "", func(_, _, hdr, data []byte) { n += len(hdr) + len(data) })
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	subject, msg := []byte("in.x"), []byte("NATS/1.0\r\n\r\npayload")
	ab.PublishMsg(subject, "", msg, 12) // warm the match cache
	if a := testing.AllocsPerRun(1000, func() { _ = ab.PublishMsg(subject, "", msg, 12) }); a != 0 {
		t.Fatalf("%v allocations per PublishMsg", a)
	}
	if n != 1002*len(msg) {
		t.Fatalf("subscriber saw %d bytes, want %d", n, 1002*len(msg))
	}
}

package mqtt

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestDecodeConnect(t *testing.T) {
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0xEE, 0, 60}
	body = append(body, 0, 2, 'i', 'd')
	body = append(body, 0, 3, 'w', '/', 't', 0, 2, 'w', 'm')
	body = append(body, 0, 1, 'u', 0, 1, 'p')
	c, err := decodeConnect(0, body)
	if err != nil {
		t.Fatal(err)
	}
	if !c.cleanSess || c.keepAlive != 60 || string(c.clientID) != "id" || !c.willFlag || c.willQoS != 1 ||
		!c.willRetain || string(c.willTopic) != "w/t" || string(c.willMessage) != "wm" || string(c.user) != "u" || string(c.password) != "p" {
		t.Fatalf("%+v", c)
	}
	body[6] = 5
	if _, err := decodeConnect(0, body); !errors.Is(err, errBadProtocolLevel) {
		t.Fatalf("level 5: %v", err)
	}
}

func TestDecodePublish(t *testing.T) {
	p, err := decodePublish(flagQoS1|flagDup|flagRetain, []byte{0, 3, 'a', '/', 'b', 0, 9, 'x', 'y'})
	if err != nil || p.qos != 1 || !p.dup || !p.retain || string(p.topic) != "a/b" || p.id != 9 || string(p.payload) != "xy" {
		t.Fatalf("%+v %v", p, err)
	}
	for _, tc := range []struct {
		flags byte
		body  []byte
	}{
		{0x06, []byte{0, 1, 'a', 0, 1}},     // QoS 3
		{flagDup, []byte{0, 1, 'a'}},        // DUP at QoS 0
		{flagQoS1, []byte{0, 1, 'a', 0, 0}}, // id 0
		{flagQoS1, []byte{0, 1, 'a', 0}},    // truncated id
		{0, []byte{0, 2, 0xc3, 0x28}},       // bad UTF-8
		{0, []byte{0, 1, 0}},                // U+0000
		{0, []byte{0, 5, 'a'}},              // truncated topic
	} {
		if _, err := decodePublish(tc.flags, tc.body); !errors.Is(err, ErrMalformed) {
			t.Errorf("flags %#x body %v: %v, want malformed", tc.flags, tc.body, err)
		}
	}
}

func TestDecodeSubscribe(t *testing.T) {
	body := []byte{0, 5, 0, 3, 'a', '/', '#', 1, 0, 1, 'b', 2}
	id, fs, err := decodeSubscribe(0x02, body, nil)
	if err != nil || id != 5 || len(fs) != 2 || string(fs[0].filter) != "a/#" || fs[0].qos != 1 || fs[1].qos != 2 {
		t.Fatalf("%d %+v %v", id, fs, err)
	}
	id, fs, err = decodeUnsubscribe(0x02, []byte{0, 6, 0, 1, 'x'}, fs[:0])
	if err != nil || id != 6 || len(fs) != 1 || string(fs[0].filter) != "x" {
		t.Fatalf("%d %+v %v", id, fs, err)
	}
}

// A packet read in place (it fits the read buffer) does not allocate.
func TestPacketReaderAlloc(t *testing.T) {
	pkt := []byte{0x30, 5, 0, 1, 'a', 'h', 'i'}
	stream := bytes.Repeat(pkt, 200)
	r := bytes.NewReader(stream)
	pr := newPacketReader(r, 1<<20)
	n := testing.AllocsPerRun(100, func() {
		first, body, err := pr.next()
		if err != nil || first != 0x30 {
			t.Fatal(first, err)
		}
		if _, err := decodePublish(first&0x0f, body); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per packet", n)
	}
}

func TestPacketReaderLimits(t *testing.T) {
	pr := newPacketReader(bytes.NewReader([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 1}), 1<<20)
	if _, _, err := pr.next(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("five length bytes: %v", err)
	}
	pr = newPacketReader(bytes.NewReader([]byte{0x30, 0x80, 0x80, 0x41}), 1<<20)
	if _, _, err := pr.next(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	pr = newPacketReader(bytes.NewReader([]byte{0x30, 10, 1}), 1<<20)
	if _, _, err := pr.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated: %v", err)
	}
	// A body larger than the read buffer comes through the spare buffer.
	big := append([]byte{0x30, 0x80, 0x80, 0x02, 0, 1, 'a'}, make([]byte, 32<<10-3)...)
	pr = newPacketReader(bytes.NewReader(big), 1<<20)
	if _, body, err := pr.next(); err != nil || len(body) != 32<<10 {
		t.Fatalf("large body: %d %v", len(body), err)
	}
}

func TestEncode(t *testing.T) {
	if got := appendConnack(nil, true, 0); !bytes.Equal(got, []byte{0x20, 2, 1, 0}) {
		t.Errorf("connack %v", got)
	}
	if got := appendAck(nil, pktPubrel, 258); !bytes.Equal(got, []byte{0x62, 2, 1, 2}) {
		t.Errorf("pubrel %v", got)
	}
	if got := appendSuback(nil, 1, []byte{0, 0x80}); !bytes.Equal(got, []byte{0x90, 4, 0, 1, 0, 0x80}) {
		t.Errorf("suback %v", got)
	}
	got := appendPublishHeader(nil, flagQoS1|flagRetain, []byte("/.a.b"), 3, 2)
	want := []byte{0x33, 2 + 4 + 2 + 2, 0, 4, '/', 'a', '/', 'b', 0, 3}
	if !bytes.Equal(got, want) {
		t.Errorf("publish header %v, want %v", got, want)
	}
	if got := appendRemainingLength(nil, 321); !bytes.Equal(got, []byte{0xc1, 0x02}) {
		t.Errorf("remaining length %v", got)
	}
}

package mqtt

import (
	"bytes"
	"testing"
)

// Every decoder of bytes from the network is fuzzed; none may panic, and
// what decodes must survive the checks the connection applies next.

func FuzzDecodeConnect(f *testing.F) {
	f.Add(byte(0), []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 2, 'i', 'd'})
	f.Add(byte(0), []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0xEE, 0, 60, 0, 0, 0, 1, 'w', 0, 0, 0, 1, 'u', 0, 1, 'p'})
	f.Add(byte(0), []byte{0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 2, 0, 0})
	f.Fuzz(func(t *testing.T, flags byte, body []byte) {
		c, err := decodeConnect(flags, body)
		if err == nil && c.willFlag {
			_, _ = topicToSubject(nil, c.willTopic)
		}
	})
}

func FuzzDecodePublish(f *testing.F) {
	f.Add(byte(0), []byte{0, 3, 'a', '/', 'b', 'h', 'i'})
	f.Add(byte(0x0b), []byte{0, 1, 'a', 0, 1, 'x'})
	f.Add(byte(0x04), []byte{0, 4, 'a', '.', 'b', '/', 0, 7})
	f.Fuzz(func(t *testing.T, flags byte, body []byte) {
		p, err := decodePublish(flags, body)
		if err != nil {
			return
		}
		subj, err := topicToSubject(nil, p.topic)
		if err != nil {
			return
		}
		// What a client publishes comes back to MQTT subscribers unchanged.
		if back := appendTopic(nil, subj); !bytes.Equal(back, p.topic) {
			t.Fatalf("topic %q -> subject %q -> topic %q", p.topic, subj, back)
		}
	})
}

func FuzzDecodeSubscribe(f *testing.F) {
	f.Add(byte(2), []byte{0, 1, 0, 3, 'a', '/', '#', 1})
	f.Add(byte(2), []byte{0, 1, 0, 15, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', '+', '/', 'x', '/', '#', 0, 2})
	f.Fuzz(func(t *testing.T, flags byte, body []byte) {
		_, fs, err := decodeSubscribe(flags, body, nil)
		if err != nil {
			return
		}
		for _, tf := range fs {
			_, _ = filterToSubjects(tf.filter)
		}
	})
}

func FuzzDecodeUnsubscribe(f *testing.F) {
	f.Add(byte(2), []byte{0, 1, 0, 3, 'a', '/', '#'})
	f.Fuzz(func(t *testing.T, flags byte, body []byte) {
		_, _, _ = decodeUnsubscribe(flags, body, nil)
	})
}

func FuzzDecodePacketID(f *testing.F) {
	f.Add(pktPuback, byte(0), []byte{0, 1})
	f.Add(pktPubrel, byte(2), []byte{1, 0})
	f.Fuzz(func(t *testing.T, typ, flags byte, body []byte) {
		_, _ = decodePacketID(typ, flags, body)
		_ = decodeEmpty(typ, flags, body)
	})
}

// FuzzPacketReader feeds a byte stream to the framing.
func FuzzPacketReader(f *testing.F) {
	f.Add([]byte{0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 0, 0, 0, 0xc0, 0})
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 1})
	f.Add([]byte{0x30, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, stream []byte) {
		pr := newPacketReader(bytes.NewReader(stream), 4096)
		for i := 0; i < 100; i++ {
			if _, _, err := pr.next(); err != nil {
				return
			}
		}
	})
}

// FuzzSubjectToTopic checks that any subject gives a topic without panic.
func FuzzSubjectToTopic(f *testing.F) {
	f.Add([]byte("a./.b//c"))
	f.Add([]byte("/./."))
	f.Fuzz(func(t *testing.T, subj []byte) {
		if n := len(appendTopic(nil, subj)); n != topicLen(subj) {
			t.Fatalf("topicLen %d, appended %d", topicLen(subj), n)
		}
	})
}

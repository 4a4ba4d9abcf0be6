package stream

import (
	"bytes"
	"errors"
	"testing"
)

// sampleOps is one operation of every kind, with every field set.
func sampleOps() []struct {
	consumer string
	op       operation
} {
	t := int64(1767225600123456789)
	return []struct {
		consumer string
		op       operation
	}{
		{"", &opPublish{Now: t, Subject: []byte("orders.eu"), Header: []byte("NATS/1.0\r\nNats-Msg-Id: a\r\n\r\n"), Data: []byte("payload")}},
		{"", &opPublish{Now: t, From: copied{at: 9, key: "src", seq: 4}, Subject: []byte("s"), Data: nil}},
		{"", &opDeleteMsg{Seq: 42}},
		{"", &opPurge{Filter: "orders.>", Seq: 7, Keep: 2}},
		{"", &opExpire{Now: t}},
		{"", &opStreamCreate{Created: t, Config: []byte(`{"name":"S","subjects":["s.>"]}`)}},
		{"", &opStreamUpdate{Now: t, Config: []byte(`{"name":"S","max_msgs":5}`)}},
		{"", &opStreamDelete{}},
		{"C", &opConsumerCreate{Created: t, Config: []byte(`{"name":"C"}`), Next: 9, LPS: []uint64{3, 5, 8}}},
		{"C", &opConsumerUpdate{Config: []byte(`{"name":"C","ack_wait":1}`)}},
		{"C", &opConsumerRemove{}},
		{"C", &opConsumerPause{Until: t + 1e9, Now: t}},
		{"C", &opConsumerReset{Seq: 12}},
		{"C", &opAck{Seq: 5, Now: t}},
		{"C", &opNak{Seq: 5, Now: t, Deadline: t + 5e8}},
		{"C", &opTerm{Seq: 6, Now: t}},
		{"C", &opProgress{Seq: 6, Deadline: t + 3e10}},
		{"C", &opDeliver{Seq: 7, Redelivery: true, Now: t, Deadline: t + 3e10}},
		{"C", &opDeliverBatch{Now: t, Items: []deliverItem{{Seq: 7, Redelivery: true, Deadline: t + 3e10}, {Seq: 9, Deadline: t + 3e10}}}},
		{"C", &opAckBatch{Now: t, Seqs: []uint64{4, 2, 90}}},
		{"C", &opRedeliverDue{Now: t}},
		{"C", &opForget{Seq: 8}},
		{"C", &opConsumerFlush{}},
		{"", &opRemoveUnheld{Seqs: []uint64{1, 2, 300}}},
		{"", &opBatch{Now: t, ID: "b1", Msgs: []batchMsg{{Subject: []byte("s.a"), Data: []byte("x")},
			{Subject: []byte("s.b"), Header: []byte("NATS/1.0\r\nNats-Batch-Commit: 1\r\n\r\n")}}}},
		{"C", &opDeadLettered{Seq: 9, Now: t}},
		{"C", &opDeadLetterHold{Seq: 10}},
		{"", &opExpireTTL{Now: t}},
		{"", &opFireSchedules{Now: t}},
		{"", &opFastPublish{Now: t, ID: "f1", Seq: 3, GapOK: true, Commit: true, Subject: []byte("s.a"),
			Header: []byte("NATS/1.0\r\nNats-Msg-Id: a\r\n\r\n"), Data: []byte("x")}},
	}
}

// TestOpRoundTrip: every kind decodes to what was encoded, names its
// consumer, and refuses every truncation and trailing bytes.
func TestOpRoundTrip(t *testing.T) {
	seen := map[opKind]bool{}
	for _, s := range sampleOps() {
		enc := encodeOp(nil, s.consumer, s.op)
		consumer, got, err := decodeOp(enc)
		if err != nil {
			t.Fatalf("%v: %v", s.op.kind(), err)
		}
		seen[s.op.kind()] = true
		if string(consumer) != s.consumer {
			t.Errorf("%v: consumer %q", s.op.kind(), consumer)
		}
		if again := encodeOp(nil, string(consumer), got); !bytes.Equal(again, enc) {
			t.Errorf("%v: re-encoded\n%x\n%x", s.op.kind(), again, enc)
		}
		if s.op.kind() == kindPublish {
			continue // its payload is the rest of the record: any cut is a shorter payload
		}
		for n := 0; n < len(enc); n++ {
			if _, _, err := decodeOp(enc[:n]); !errors.Is(err, errBadOp) {
				t.Errorf("%v cut to %d bytes: %v", s.op.kind(), n, err)
			}
		}
		if _, _, err := decodeOp(append(enc, 0)); !errors.Is(err, errBadOp) {
			t.Errorf("%v with a trailing byte: %v", s.op.kind(), err)
		}
	}
	for k := opKind(1); k <= kindLast; k++ {
		if !seen[k] {
			t.Errorf("no sample of %v", k)
		}
	}
	for _, bad := range [][]byte{nil, {opVersion}, {2, byte(kindAck)}, {opVersion, 0}, {opVersion, byte(kindLast) + 1}} {
		if _, _, err := decodeOp(bad); !errors.Is(err, errBadOp) {
			t.Errorf("%x: %v", bad, err)
		}
	}
}

// FuzzDecodeOp: whatever bytes reach the decoder (a log read back from
// disk or the network, later), it does not panic, and what it accepts
// encodes to a record that decodes to the same operation.
func FuzzDecodeOp(f *testing.F) {
	for _, s := range sampleOps() {
		f.Add(encodeOp(nil, s.consumer, s.op))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		consumer, o, err := decodeOp(b)
		if err != nil {
			if !errors.Is(err, errBadOp) {
				t.Fatalf("%x: %v is not errBadOp", b, err)
			}
			return
		}
		enc := encodeOp(nil, string(consumer), o)
		consumer2, o2, err := decodeOp(enc)
		if err != nil {
			t.Fatalf("%x re-encoded as %x: %v", b, enc, err)
		}
		if string(consumer2) != string(consumer) || !bytes.Equal(encodeOp(nil, string(consumer2), o2), enc) {
			t.Fatalf("%x: not stable through a re-encoding", b)
		}
	})
}

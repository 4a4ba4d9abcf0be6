package mqtt

import "testing"

// ackKey reads consumer and stream sequence from both forms of a stream
// acknowledgement subject, and the delivery count's redelivery.
func TestAckKey(t *testing.T) {
	for _, c := range []struct {
		ack         string
		key         msgKey
		redelivered bool
	}{
		{"$JS.ACK.$MQTT_msgs.abc_X1.1.42.7.1700000000000000000.0", msgKey{"abc_X1", "42"}, false},
		{"$JS.ACK.$MQTT_msgs.abc_X1.3.42.9.1700000000000000000.5", msgKey{"abc_X1", "42"}, true},
		{"$JS.ACK.dom.acchash.$MQTT_msgs.abc_X1.1.43.8.1700000000000000000.0.tok", msgKey{"abc_X1", "43"}, false},
		{"$JS.ACK.dom.acchash.$MQTT_msgs.abc_X1.2.43.8.1700000000000000000.0.tok", msgKey{"abc_X1", "43"}, true},
		{"not.an.ack", msgKey{consumer: "not.an.ack"}, false},
	} {
		key, re := ackKey(c.ack)
		if key != c.key || re != c.redelivered {
			t.Errorf("ackKey(%q) = %+v, %v; want %+v, %v", c.ack, key, re, c.key, c.redelivered)
		}
	}
	ack := "$JS.ACK.$MQTT_msgs.abc_X1.1.42.7.1700000000000000000.0"
	if n := testing.AllocsPerRun(100, func() { ackKey(ack) }); n != 0 {
		t.Errorf("%v allocations naming a delivery, want 0", n)
	}
}

package mqtt

import (
	"testing"
)

// Delivering a message to an MQTT subscriber (a plain subscription's
// handler, on the publisher's goroutine) encodes it into the client's
// outbound buffer without allocating.
func TestDeliverAlloc(t *testing.T) {
	c := &conn{}
	c.out.init(1 << 30)
	st := &subState{qos: 0}
	h := c.plainHandler(st)
	subject, data := []byte("sensors./.cold-1//a.temp"), []byte("4.5")
	h(subject, nil, nil, data) // grow the buffer once
	n := testing.AllocsPerRun(1000, func() {
		c.out.mu.Lock()
		c.out.buf = c.out.buf[:0]
		c.out.mu.Unlock()
		h(subject, nil, hdrQoS0, data)
	})
	if n != 0 {
		t.Fatalf("%v allocations per delivery", n)
	}
}

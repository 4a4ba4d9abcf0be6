package mqtt

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"
)

// PUBACKs leave in the order the PUBLISH packets came, whatever the order
// their stores complete in; a failed store gets none.
func TestPubackOrder(t *testing.T) {
	c := &conn{svc: &Service{log: slog.New(slog.DiscardHandler)}}
	c.out.init(1 << 20)
	c.pubacks.init(c)
	done1 := c.pubacks.add(1)
	done2 := c.pubacks.add(2)
	done3 := c.pubacks.add(3)
	done4 := c.pubacks.add(4)
	done3(nil)
	done2(errors.New("disk full"))
	if len(c.out.buf) != 0 {
		t.Fatalf("PUBACK sent before the first store completed: %v", c.out.buf)
	}
	done1(nil)
	want := append(appendAck(nil, pktPuback, 1), appendAck(nil, pktPuback, 3)...)
	if !bytes.Equal(c.out.buf, want) {
		t.Fatalf("got %v, want PUBACK 1 then 3", c.out.buf)
	}
	done4(nil)
	want = appendAck(want, pktPuback, 4)
	if !bytes.Equal(c.out.buf, want) || len(c.pubacks.entries) != 0 {
		t.Fatalf("got %v (%d pending), want PUBACK 1, 3, 4", c.out.buf, len(c.pubacks.entries))
	}
}

package mqtt

import (
	"net"
	"testing"
	"time"
)

// deadlineConn records the read deadlines set on it.
type deadlineConn struct {
	net.Conn
	set []time.Time
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.set = append(c.set, t)
	return nil
}

// The read deadline moves at most once per keepalive/8, and after every
// packet it lies at least 1.5 keepalives ahead and at most 1.625.
func TestReadDeadlineExtend(t *testing.T) {
	const ka = 8 * time.Second
	nc := &deadlineConn{}
	var d readDeadline
	start := time.Unix(1_700_000_000, 0)
	for ms := 0; ms <= 10_000; ms += 10 { // a packet every 10 ms for 10 s
		now := start.Add(time.Duration(ms) * time.Millisecond)
		d.extend(nc, ka, now)
		dl := nc.set[len(nc.set)-1]
		if ahead := dl.Sub(now); ahead < ka*3/2 || ahead > ka*3/2+ka/8 {
			t.Fatalf("at %v the deadline is %v ahead", now.Sub(start), ahead)
		}
	}
	// 10 s at one move per second (keepalive/8), plus the first.
	if n := len(nc.set); n != 11 {
		t.Fatalf("%d deadline moves for 1001 packets, want 11", n)
	}
}

package protocol_test

import (
	"fmt"

	"github.com/wisp-mq/wisp/protocol"
)

// echo answers what a connection sends, the way a server's read loop would:
// the replies go into one output buffer that is flushed once per read.
type echo struct{ out []byte }

func (e *echo) HandleOp(op *protocol.Op) error {
	switch op.Kind {
	case protocol.OpPing:
		e.out = protocol.AppendPong(e.out)
	case protocol.OpPub:
		// op.Subject and op.Data point into the read buffer: appending
		// them to out copies them, which is all a forwarder needs.
		e.out = protocol.AppendMsg(e.out, op.Subject, []byte("1"), op.Reply, op.Data)
	}
	return nil
}

func Example() {
	p := protocol.NewParser(protocol.ServerSide, protocol.Limits{})
	h := &echo{}
	// Two reads that split a PUB in the middle of its payload, then one
	// that breaks the protocol.
	for _, read := range []string{"PING\r\nPUB greet 5\r\nhel", "lo\r\n", "PUB greet 2\r\nhi\n"} {
		if err := p.Parse([]byte(read), h); err != nil {
			h.out = protocol.AppendErr(h.out, protocol.ErrText(err))
			break // and close the connection
		}
	}
	fmt.Printf("%q\n", h.out)
	// Output:
	// "PONG\r\nMSG greet 1 5\r\nhello\r\n-ERR 'Parse Error: PUB payload must be followed by CRLF after the 2 bytes announced'\r\n"
}

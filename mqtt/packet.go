package mqtt

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// Control packet types: the high nibble of a packet's first byte.
const (
	pktConnect     byte = 1
	pktConnack     byte = 2
	pktPublish     byte = 3
	pktPuback      byte = 4
	pktPubrec      byte = 5
	pktPubrel      byte = 6
	pktPubcomp     byte = 7
	pktSubscribe   byte = 8
	pktSuback      byte = 9
	pktUnsubscribe byte = 10
	pktUnsuback    byte = 11
	pktPingreq     byte = 12
	pktPingresp    byte = 13
	pktDisconnect  byte = 14
)

// Publish flags in the first byte's low nibble.
const (
	flagRetain byte = 0x01
	flagQoS1   byte = 0x02
	flagQoS2   byte = 0x04
	flagDup    byte = 0x08
)

// ErrMalformed is wrapped by every decoding error: the peer broke the
// protocol and the connection is closed without an answer.
var ErrMalformed = errors.New("mqtt: malformed packet")

// ErrTooLarge is returned by packetReader.next for a packet over the limit.
var ErrTooLarge = errors.New("mqtt: packet too large")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// packetReader reads whole control packets from a stream. A body small
// enough to sit in the bufio buffer is returned in place; a larger one is
// read into a spare buffer that is reused. Either way the body is valid
// only until the next call.
type packetReader struct {
	br    *bufio.Reader
	max   int    // largest remaining length accepted
	spare []byte // for bodies larger than the bufio buffer
	held  int    // bytes to discard from br before the next packet
}

func newPacketReader(r io.Reader, max int) *packetReader {
	return &packetReader{br: bufio.NewReaderSize(r, 16<<10), max: max}
}

// next returns the first byte and the body of the next packet.
func (p *packetReader) next() (first byte, body []byte, err error) {
	if p.held > 0 {
		_, _ = p.br.Discard(p.held)
		p.held = 0
	}
	if first, err = p.br.ReadByte(); err != nil {
		return 0, nil, err
	}
	n, err := readRemainingLength(p.br)
	if err != nil {
		return 0, nil, err
	}
	if n > p.max {
		return 0, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, n, p.max)
	}
	if n <= p.br.Size() {
		body, err = p.br.Peek(n)
		if err != nil {
			return 0, nil, unexpectedEOF(err)
		}
		p.held = n
		return first, body, nil
	}
	if cap(p.spare) < n {
		p.spare = make([]byte, n)
	}
	body = p.spare[:n]
	if _, err := io.ReadFull(p.br, body); err != nil {
		return 0, nil, unexpectedEOF(err)
	}
	return first, body, nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readRemainingLength decodes the variable-length remaining length: seven
// bits a byte, at most four bytes.
func readRemainingLength(br io.ByteReader) (int, error) {
	n, shift := 0, 0
	for i := 0; i < 4; i++ {
		b, err := br.ReadByte()
		if err != nil {
			return 0, unexpectedEOF(err)
		}
		n |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			return n, nil
		}
		shift += 7
	}
	return 0, malformed("remaining length longer than four bytes")
}

// appendRemainingLength encodes n (at most 268,435,455, four bytes' worth).
func appendRemainingLength(b []byte, n int) []byte {
	for {
		d := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

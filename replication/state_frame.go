package replication

import (
	"encoding/binary"
	"fmt"
)

// A group whose state is streamed (consensus.StateStreamer: a replicated
// stream) sends its state to a peer beside raft's snapshot message, as a
// run of state chunks on the raft channel, each answered by a state ack:
//
//	state chunk: version       1 byte (stateChunkVersion)
//	             group, id, offset  unsigned varints
//	             final         1 byte: 1 on the last chunk, else 0
//	             (final only)  index, total: unsigned varints; crc32c of
//	                           the whole state: 4 bytes, big-endian
//	             the chunk's bytes  the rest of the frame
//
//	state ack:   version       1 byte (stateAckVersion)
//	             group, id, received  unsigned varints
//	             status        1 byte (ackProgress, ackVerified, ackRefused)
//
// id numbers the sender's transfers; offset is where the chunk starts in
// the state; index is the applied index the state was written at. The
// receiver writes each chunk to a file as it comes and acknowledges the
// bytes it holds; the sender keeps at most stateWindow bytes
// unacknowledged, so neither side holds more than a window of the state,
// however large it is. The last chunk's checksum covers the whole state:
// the receiver installs nothing that does not verify.
const (
	stateChunkVersion = 3
	stateAckVersion   = 4

	ackProgress byte = 0 // the receiver holds `received` bytes
	ackVerified byte = 1 // all of it, and its checksum matched
	ackRefused  byte = 2 // the transfer ended on the receiver's side

	// maxState bounds the state one transfer may carry (on disk, not in
	// memory).
	maxState = 1 << 40
)

// stateChunk is a decoded state chunk frame.
type stateChunk struct {
	group, id, offset uint64
	final             bool
	index, total      uint64 // final only
	crc               uint32 // final only
	data              []byte // points into the frame
}

// stateChunkHead is room for a chunk's head (before its bytes).
const stateChunkHead = 2 + 5*binary.MaxVarintLen64 + 4

func appendStateChunk(dst []byte, c *stateChunk) []byte {
	dst = append(dst, stateChunkVersion)
	dst = binary.AppendUvarint(dst, c.group)
	dst = binary.AppendUvarint(dst, c.id)
	dst = binary.AppendUvarint(dst, c.offset)
	if !c.final {
		dst = append(dst, 0)
		return append(dst, c.data...)
	}
	dst = append(dst, 1)
	dst = binary.AppendUvarint(dst, c.index)
	dst = binary.AppendUvarint(dst, c.total)
	dst = binary.BigEndian.AppendUint32(dst, c.crc)
	return append(dst, c.data...)
}

func decodeStateChunk(b []byte) (stateChunk, error) {
	var c stateChunk
	if len(b) == 0 || b[0] != stateChunkVersion {
		return c, fmt.Errorf("%w: not a state chunk", errFrame)
	}
	r := &frameReader{b: b[1:]}
	c.group, c.id, c.offset = r.uvarint(), r.uvarint(), r.uvarint()
	final := r.byte()
	if final == 1 {
		c.final = true
		c.index, c.total = r.uvarint(), r.uvarint()
		c.crc = r.uint32()
	}
	switch {
	case r.err != nil:
		return c, r.err
	case final > 1:
		return c, fmt.Errorf("%w: state chunk flag %d", errFrame, final)
	case c.group == 0:
		return c, fmt.Errorf("%w: state chunk for group 0", errFrame)
	case c.offset > maxState || uint64(len(r.b)) > maxState-c.offset:
		return c, fmt.Errorf("%w: state past %d bytes", errFrame, uint64(maxState))
	case c.final && c.total != c.offset+uint64(len(r.b)):
		return c, fmt.Errorf("%w: last state chunk ends at %d, not at the total %d", errFrame, c.offset+uint64(len(r.b)), c.total)
	case !c.final && len(r.b) == 0:
		return c, fmt.Errorf("%w: empty state chunk", errFrame)
	}
	c.data = r.b
	return c, nil
}

// stateAck is a decoded state ack frame.
type stateAck struct {
	group, id, received uint64
	status              byte
}

func appendStateAck(dst []byte, a stateAck) []byte {
	dst = append(dst, stateAckVersion)
	dst = binary.AppendUvarint(dst, a.group)
	dst = binary.AppendUvarint(dst, a.id)
	dst = binary.AppendUvarint(dst, a.received)
	return append(dst, a.status)
}

func decodeStateAck(b []byte) (stateAck, error) {
	var a stateAck
	if len(b) == 0 || b[0] != stateAckVersion {
		return a, fmt.Errorf("%w: not a state ack", errFrame)
	}
	r := &frameReader{b: b[1:]}
	a.group, a.id, a.received = r.uvarint(), r.uvarint(), r.uvarint()
	a.status = r.byte()
	switch {
	case r.err != nil:
		return a, r.err
	case len(r.b) != 0:
		return a, fmt.Errorf("%w: %d bytes after a state ack", errFrame, len(r.b))
	case a.status > ackRefused:
		return a, fmt.Errorf("%w: state ack status %d", errFrame, a.status)
	case a.received > maxState:
		return a, fmt.Errorf("%w: state ack past %d bytes", errFrame, uint64(maxState))
	}
	return a, nil
}

package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Every value this package writes to Pebble is a record: a CRC32C
// (Castagnoli, little-endian) over the record's key and payload, then the
// payload. Binding the key into the checksum means a record copied or left
// under the wrong key (a torn rewrite, a misplaced block) fails verification
// just as a flipped bit does.
const crcSize = 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt says a record failed verification: short, a checksum mismatch,
// or a payload that does not decode or does not match its key.
var ErrCorrupt = errors.New("consensus: corrupt record")

// sealRecord returns crc(key||payload) followed by payload.
func sealRecord(key, payload []byte) []byte {
	out := make([]byte, crcSize+len(payload))
	crc := crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, payload)
	binary.LittleEndian.PutUint32(out, crc)
	copy(out[crcSize:], payload)
	return out
}

// openRecord verifies value against key and returns its payload (a
// sub-slice of value).
func openRecord(key, value []byte) ([]byte, error) {
	if len(value) < crcSize {
		return nil, fmt.Errorf("%w: %d bytes, shorter than its checksum", ErrCorrupt, len(value))
	}
	payload := value[crcSize:]
	want := binary.LittleEndian.Uint32(value)
	got := crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, payload)
	if want != got {
		return nil, fmt.Errorf("%w: checksum %08x, computed %08x", ErrCorrupt, want, got)
	}
	return payload, nil
}

// decodeEntry opens an entry record and checks that the entry it holds is
// the one its key names.
func decodeEntry(key, value []byte) (*pb.Entry, error) {
	payload, err := openRecord(key, value)
	if err != nil {
		return nil, err
	}
	var e pb.Entry
	if err := proto.Unmarshal(payload, &e); err != nil {
		return nil, fmt.Errorf("%w: entry: %v", ErrCorrupt, err)
	}
	idx, ok := keyIndex(key)
	if !ok || e.GetIndex() != idx {
		return nil, fmt.Errorf("%w: entry %d under key for %d", ErrCorrupt, e.GetIndex(), idx)
	}
	return &e, nil
}

func encodeEntry(key []byte, e *pb.Entry) []byte {
	payload, err := proto.Marshal(e)
	if err != nil {
		// Marshalling a well-formed Entry cannot fail; a failure is a bug.
		panic(fmt.Sprintf("consensus: marshal entry: %v", err))
	}
	return sealRecord(key, payload)
}

// stateRecord is the group's durable raft state, rewritten in the batch of
// every Ready that changes it: the HardState, and the index and term of the
// last log entry. The last index lets loading tell a log whose tail went
// missing from one that was never longer.
type stateRecord struct {
	term, vote, commit  uint64
	lastIndex, lastTerm uint64
}

const stateRecordSize = 5 * 8

func encodeState(key []byte, s stateRecord) []byte {
	var p [stateRecordSize]byte
	for i, v := range []uint64{s.term, s.vote, s.commit, s.lastIndex, s.lastTerm} {
		binary.BigEndian.PutUint64(p[i*8:], v)
	}
	return sealRecord(key, p[:])
}

func decodeState(key, value []byte) (stateRecord, error) {
	p, err := openRecord(key, value)
	if err != nil {
		return stateRecord{}, err
	}
	if len(p) != stateRecordSize {
		return stateRecord{}, fmt.Errorf("%w: state of %d bytes", ErrCorrupt, len(p))
	}
	u := func(i int) uint64 { return binary.BigEndian.Uint64(p[i*8:]) }
	s := stateRecord{term: u(0), vote: u(1), commit: u(2), lastIndex: u(3), lastTerm: u(4)}
	if s.lastTerm > s.term || (s.lastIndex == 0 && s.lastTerm != 0) {
		return stateRecord{}, fmt.Errorf("%w: state term %d below last entry term %d", ErrCorrupt, s.term, s.lastTerm)
	}
	return s, nil
}

// truncRecord names the last entry removed from the log by compaction: the
// log starts right after it, and raft still needs its term.
type truncRecord struct{ index, term uint64 }

func encodeTrunc(key []byte, t truncRecord) []byte {
	var p [16]byte
	binary.BigEndian.PutUint64(p[:], t.index)
	binary.BigEndian.PutUint64(p[8:], t.term)
	return sealRecord(key, p[:])
}

func decodeTrunc(key, value []byte) (truncRecord, error) {
	p, err := openRecord(key, value)
	if err != nil {
		return truncRecord{}, err
	}
	if len(p) != 16 {
		return truncRecord{}, fmt.Errorf("%w: truncation record of %d bytes", ErrCorrupt, len(p))
	}
	return truncRecord{binary.BigEndian.Uint64(p), binary.BigEndian.Uint64(p[8:])}, nil
}

// encodeProto seals any of the raft protobufs kept whole (snapshot,
// conf state).
func encodeProto(key []byte, m proto.Message) []byte {
	payload, err := proto.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("consensus: marshal %T: %v", m, err))
	}
	return sealRecord(key, payload)
}

func decodeProto(key, value []byte, m proto.Message) error {
	p, err := openRecord(key, value)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(p, m); err != nil {
		return fmt.Errorf("%w: %T: %v", ErrCorrupt, m, err)
	}
	return nil
}

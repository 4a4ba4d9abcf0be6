package store

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Every value Wisp writes besides message records (which carry their own
// crc32c, record.go) is sealed: a tag byte, the payload, and a crc32c of
// both. A reader checks the seal before it trusts a byte of the payload, so
// flipped bits in a stream definition, a consumer's state or a pending
// entry become an error with a location instead of a wrong value.
//
//	sealTag(1) | payload | crc32c(4) of tag and payload
//
// Values written before seals existed have no tag; each kind of value says
// what such a legacy value looks like (a JSON object, or a fixed size), so
// old stores still read. No legacy value of any kind starts with sealTag: a
// JSON object starts with '{', and each fixed-size one would need a
// sequence, count or id above 0xC5<<56 (0xC5<<24 for the stream id).
const sealTag byte = 0xC5

// sealOverhead is what seal adds to a payload.
const sealOverhead = 1 + 4

// seal appends the sealed form of payload to dst.
func seal(dst, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, sealTag)
	dst = append(dst, payload...)
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], crcTable))
}

// legacyRule says whether an untagged value is a well-formed value of its
// kind as written before seals.
type legacyRule func(v []byte) bool

func legacyJSON(v []byte) bool { return len(v) > 0 && v[0] == '{' }

func legacySize(n int) legacyRule { return func(v []byte) bool { return len(v) == n } }

// unseal returns the payload of v, which aliases v. A tagged value whose
// checksum fails, or an untagged one that is not a legacy value of its
// kind, is an error wrapping ErrCorrupt.
func unseal(v []byte, legacy legacyRule) ([]byte, error) {
	if len(v) > 0 && v[0] == sealTag {
		if len(v) < sealOverhead {
			return nil, fmt.Errorf("%w: sealed value of %d bytes", ErrCorrupt, len(v))
		}
		body := v[:len(v)-4]
		if got, want := crc32.Checksum(body, crcTable), binary.BigEndian.Uint32(v[len(v)-4:]); got != want {
			return nil, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorrupt, got, want)
		}
		return body[1:], nil
	}
	if legacy != nil && legacy(v) {
		return v, nil
	}
	return nil, fmt.Errorf("%w: unsealed value of %d bytes", ErrCorrupt, len(v))
}

// The legacy shapes of each kind of value.
var (
	legacyMeta         = legacyRule(legacyJSON)
	legacyConsumerMeta = legacyRule(legacyJSON)
	legacyState        = legacySize(16) // last seq, last time
	legacyPending      = legacySize(24) // dseq, count, time
	legacyNextID       = legacySize(4)
	// Consumer state is opaque here; its only legacy shape was 48 bytes.
	legacyConsumerState = legacySize(48)
)

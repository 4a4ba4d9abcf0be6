package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble"
)

// A stream that copies from other streams (sources) records, per source,
// the origin sequence of the last message it stored from it, in the same
// batch as that message:
//
//	source | id(4) | source key -> origin sequence (8, sealed)
//
// so that a restart resumes each source exactly, even when the copied
// messages themselves are gone (limits, purges, a work queue's acks).
// DropStream clears the stream's range.

func sourceKey(id uint32, key string) []byte {
	k := []byte{prefixSource, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(k[1:], id)
	return append(k, key...)
}

// sourceRange returns the bounds of stream id's source records.
func sourceRange(id uint32) (lo, hi []byte) {
	lo = []byte{prefixSource, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(lo[1:], id)
	hi = []byte{prefixSource, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(hi[1:], id+1)
	if id == ^uint32(0) {
		hi = []byte{prefixSource + 1}
	}
	return lo, hi
}

// PutSourceSeq records seq as the last origin sequence stream id stored
// from the source named key.
func (b *Batch) PutSourceSeq(id uint32, key string, seq uint64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], seq)
	return b.b.Set(sourceKey(id, key), seal(nil, v[:]), nil)
}

// SourceSeq returns the last origin sequence stream id stored from the
// source named key; ok is false when there is no record (or it is
// unreadable, which is logged and counted like any corrupt record).
func (r Reader) SourceSeq(id uint32, key string) (seq uint64, ok bool, err error) {
	src, h := r.src()
	defer h.release()
	v, closer, err := src.Get(sourceKey(id, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: read source progress: %w", err)
	}
	defer closer.Close()
	p, err := unseal(v, legacySize(8))
	if err != nil || len(p) != 8 {
		r.st.corrupt.Add(1)
		r.st.log.Error("skipping corrupt source progress record", "stream_id", id, "source", key)
		return 0, false, nil
	}
	return binary.BigEndian.Uint64(p), true, nil
}

// appliedKey is the source key under which a replicated stream records
// the index of the last raft log entry its state holds. No source is
// named with a leading 0x00 byte, so it never meets a real source's key,
// and DropStream clears it with the rest of the range.
const appliedKey = "\x00raft-applied"

// PutApplied records, in the batch that holds the entry's effects, that
// stream id's state includes raft log entry index: a restart resumes
// applying after it.
func (b *Batch) PutApplied(id uint32, index uint64) error {
	return b.PutSourceSeq(id, appliedKey, index)
}

// Applied returns the raft log index PutApplied last recorded for stream
// id (0 when none).
func (r Reader) Applied(id uint32) (uint64, error) {
	index, _, err := r.SourceSeq(id, appliedKey)
	return index, err
}

// installingKey is the source key under which a replicated stream marks a
// peer's snapshot being installed over its state (stream's
// replica_restore.go): written with the batch that clears the old state,
// removed with the one that completes the new, so a store found holding
// it lost power or crashed part way and holds part of a state.
const installingKey = "\x00raft-installing"

// PutInstalling marks stream id as having the state at raft log index
// index installed over it, in the batch that clears its old state.
func (b *Batch) PutInstalling(id uint32, index uint64) error {
	return b.PutSourceSeq(id, installingKey, index)
}

// ClearInstalling removes PutInstalling's mark, in the batch that
// completes the install (or drops what an interrupted one wrote).
func (b *Batch) ClearInstalling(id uint32) error {
	return b.b.Delete(sourceKey(id, installingKey), nil)
}

// Installing reports whether stream id carries an install's mark, and
// the index of the state that was being installed.
func (r Reader) Installing(id uint32) (index uint64, ok bool, err error) {
	return r.SourceSeq(id, installingKey)
}

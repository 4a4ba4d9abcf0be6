package consensus

import (
	"encoding/binary"
	"fmt"
)

// A streamed state (state_stream.go) may be installed at an index past
// its snapshot's: the log then ends at the snapshot while the state
// machine holds entries the log receives only later. A power loss in
// between leaves a state machine ahead of its log, which otherwise means
// the log lost synced entries to damage. The streamed record, written in
// the same synced batch as the snapshot and before the state is
// installed, tells the two apart on restart (group.reconcileAt).

// streamedRecord: the state installed at state over the snapshot at snap.
type streamedRecord struct{ snap, state uint64 }

func encodeStreamed(key []byte, r streamedRecord) []byte {
	p := binary.BigEndian.AppendUint64(nil, r.snap)
	return sealRecord(key, binary.BigEndian.AppendUint64(p, r.state))
}

func decodeStreamed(key, value []byte) (streamedRecord, error) {
	p, err := openRecord(key, value)
	if err != nil {
		return streamedRecord{}, err
	}
	if len(p) != 16 {
		return streamedRecord{}, fmt.Errorf("%w: streamed state record of %d bytes", ErrCorrupt, len(p))
	}
	return streamedRecord{binary.BigEndian.Uint64(p), binary.BigEndian.Uint64(p[8:])}, nil
}

// setStreamed records that the state at state is about to be installed
// over the snapshot at snap.
func (wb *WriteBatch) setStreamed(g *GroupStorage, r streamedRecord) error {
	wb.stage(g).streamed = r
	k := kindKey(g.group, kindStreamed)
	return wb.b.Set(k, encodeStreamed(k, r), nil)
}

// covers reports whether a state machine at applied, found ahead of a log
// ending at its snapshot st.snap, is the streamed state installed over
// that snapshot (or short of it), not one whose log lost entries.
func (r streamedRecord) covers(st *groupState, applied uint64) bool {
	return st.snap != nil && r.snap != 0 && r.snap == st.snap.GetMetadata().GetIndex() &&
		applied <= r.state && !st.recovering
}

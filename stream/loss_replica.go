package stream

import (
	"encoding/json"
	"fmt"

	"github.com/wisp-mq/wisp/stream/store"
)

// A replicated stream's store holds a state derived from its raft group's
// log: the messages, consumers and the index of the last entry applied
// (PutApplied), written together. When the store finds such a stream
// damaged (a lost tail, a missing definition or consumers, unreadable
// data), what it holds is no longer the state at any index, and the loss
// must not be "accepted" as it is for a stream that is not replicated:
// raising the last sequence over the gap and going on would give later
// entries sequences no other replica gives them, and the replica would
// never hold what its peers acknowledged. Instead the replica drops its
// local state, back to the empty stream at applied index 0, and the raft
// group rebuilds it: from the entries in this server's own raft log when
// it holds them from the first, or else (the log was compacted, and its
// snapshots hold no messages: replica.Snapshot) from a peer's snapshot
// (consensus.reconcileAt, consensus/recovery.go). Nothing
// is lost for the stream; the log says what this replica lost and that it
// recovers it.

// damagedReplica returns the definition and raft group of a damaged
// stream that is a replica of a replicated stream (group 0: it is not, or
// the definition cannot be read).
func damagedReplica(d *store.Damage) (meta []byte, group uint64) {
	if len(d.Meta) == 0 {
		return nil, 0
	}
	var m streamMeta
	if err := json.Unmarshal(d.Meta, &m); err != nil || m.ID != d.StreamID {
		return nil, 0
	}
	return d.Meta, m.Group
}

// resetDamagedReplica empties a damaged replica's state and sets its
// applied index to 0, keeping its definition, as installing the empty
// snapshot does (restoreReplica with no data), in one batch.
func resetDamagedReplica(st Store, d *store.Damage, meta []byte) error {
	if err := st.Do(func(b *store.Batch) error {
		if err := b.DropStreamID(d.StreamID); err != nil {
			return err
		}
		if err := b.PutMeta(d.Stream, d.StreamID, meta); err != nil {
			return err
		}
		if err := b.SetLastSeq(d.StreamID, 0, 0); err != nil {
			return err
		}
		return b.PutApplied(d.StreamID, 0)
	}); err != nil {
		return fmt.Errorf("reset the damaged replica of stream %q: %w", d.Stream, err)
	}
	return nil
}

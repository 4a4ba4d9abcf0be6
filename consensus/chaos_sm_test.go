package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/cockroachdb/pebble"
)

// logSM is the chaos suite's state machine: an append-only log of client
// write ids, deduplicated by id (as a stream deduplicates by message id),
// kept in the node's Pebble database next to the raft log. Its writes are
// not synced, so power loss takes it back and the host must replay.
// A running CRC32C over the ids is stored with the applied index and
// checked when the machine is opened.
type logSM struct {
	db    *pebble.DB
	group uint64
	check *checker

	mu      sync.Mutex
	applied uint64
	ids     []uint64
	seen    map[uint64]bool
	crc     uint32
}

func smKey(group uint64, suffix ...byte) []byte {
	k := binary.BigEndian.AppendUint64([]byte("sm/"), group)
	return append(k, suffix...)
}

func smWriteKey(group, pos uint64) []byte {
	return binary.BigEndian.AppendUint64(smKey(group, 'w'), pos)
}

func openLogSM(db *pebble.DB, group uint64, check *checker) (*logSM, error) {
	m := &logSM{db: db, group: group, check: check, seen: make(map[uint64]bool)}
	v, closer, err := db.Get(smKey(group, 'a'))
	if errors.Is(err, pebble.ErrNotFound) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	if len(v) != 20 {
		closer.Close()
		return nil, fmt.Errorf("sm state of %d bytes", len(v))
	}
	m.applied = binary.BigEndian.Uint64(v)
	n := binary.BigEndian.Uint64(v[8:])
	want := binary.BigEndian.Uint32(v[16:])
	closer.Close()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: smWriteKey(group, 0), UpperBound: smWriteKey(group, n)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		m.add(binary.BigEndian.Uint64(it.Value()))
	}
	if uint64(len(m.ids)) != n || m.crc != want {
		return nil, fmt.Errorf("sm group %d: %d ids crc %08x, state says %d crc %08x", group, len(m.ids), m.crc, n, want)
	}
	return m, nil
}

func (m *logSM) add(id uint64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], id)
	m.crc = crc32.Update(m.crc, castagnoli, b[:])
	m.ids = append(m.ids, id)
	m.seen[id] = true
}

func (m *logSM) Applied() uint64 { m.mu.Lock(); defer m.mu.Unlock(); return m.applied }

func (m *logSM) Apply(ents []Entry) ([]any, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.db.NewBatch()
	defer b.Close()
	for _, e := range ents {
		if e.Index != m.applied+1 {
			return nil, fmt.Errorf("apply %d after %d", e.Index, m.applied)
		}
		m.applied = e.Index
		if len(e.Data) != 8 {
			continue
		}
		m.check.proposedIn(m.group, e.Term, e.Proposer)
		id := binary.BigEndian.Uint64(e.Data)
		if m.seen[id] {
			continue
		}
		b.Set(smWriteKey(m.group, uint64(len(m.ids))), e.Data, nil)
		m.add(id)
	}
	b.Set(smKey(m.group, 'a'), m.stateBytes(), nil)
	return nil, b.Commit(pebble.NoSync)
}

func (m *logSM) stateBytes() []byte {
	v := binary.BigEndian.AppendUint64(nil, m.applied)
	v = binary.BigEndian.AppendUint64(v, uint64(len(m.ids)))
	return binary.BigEndian.AppendUint32(v, m.crc)
}

func (m *logSM) Snapshot() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]byte, 0, 8*len(m.ids))
	for _, id := range m.ids {
		out = binary.BigEndian.AppendUint64(out, id)
	}
	return out, nil
}

func (m *logSM) Restore(data []byte, index uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(data)%8 != 0 {
		return fmt.Errorf("snapshot of %d bytes", len(data))
	}
	m.applied, m.ids, m.seen, m.crc = index, nil, make(map[uint64]bool), 0
	b := m.db.NewBatch()
	defer b.Close()
	b.DeleteRange(smWriteKey(m.group, 0), smWriteKey(m.group, ^uint64(0)), nil)
	for i := 0; i < len(data); i += 8 {
		b.Set(smWriteKey(m.group, uint64(len(m.ids))), data[i:i+8], nil)
		m.add(binary.BigEndian.Uint64(data[i:]))
	}
	b.Set(smKey(m.group, 'a'), m.stateBytes(), nil)
	// A restore replaces state the log no longer holds: make it durable.
	return b.Commit(pebble.Sync)
}

func (m *logSM) state() (applied uint64, ids []uint64, crc uint32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.applied, append([]uint64(nil), m.ids...), m.crc
}

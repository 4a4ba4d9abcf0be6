package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// The witness: Pebble's own damage is invisible to record checksums.
//
// Pebble replays its newest write-ahead log permissively: a record that
// fails its checksum is taken for the torn end of a crash, and everything
// after it is dropped without an error. A bit flip or a truncation in that
// file therefore loses synced batches, and because a raft batch carries
// its entries and its hard state together, what remains is a consistent,
// older state that verifies: the node has forgotten votes and
// acknowledgements and does not know it.
//
// So every synced raft batch also carries a store-wide sequence number,
// and after Pebble's fsync the same number is written and synced to a
// small file outside Pebble, the witness. On open, a database whose
// sequence is behind the witness has lost synced writes: every group in it
// is marked recovering (recovery.go). The price is a second, tiny fsync
// per batch. The witness keeps two slots, written alternately, each with
// its own checksum, so a torn write of one leaves the other; a witness
// that is missing (while the database is not empty) or unreadable is taken
// as a loss too, which is always safe.
type witness struct {
	f vfs.File
}

const witnessSlot = 16 // sequence (8), CRC32C of it (4), padding

// seqKey holds the store's sequence in Pebble: group 0 is never a group.
var seqKey = kindKey(0, 'q')

// openWitness opens or creates the witness file; seq is the highest valid
// slot, existed says whether the file was there, valid whether a slot
// verified.
func openWitness(fs vfs.FS, path string) (w *witness, seq uint64, existed, valid bool, err error) {
	_, err = fs.Stat(path)
	var f vfs.File
	if err == nil {
		f, err = fs.OpenReadWrite(path)
	}
	if err == nil {
		existed = true
		var buf [2 * witnessSlot]byte
		n, rerr := f.ReadAt(buf[:], 0)
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			f.Close()
			return nil, 0, true, false, fmt.Errorf("consensus: read witness: %w", rerr)
		}
		for i := 0; i+witnessSlot <= n; i += witnessSlot {
			s := buf[i : i+witnessSlot]
			if v := binary.BigEndian.Uint64(s); crc32.Checksum(s[:8], castagnoli) == binary.BigEndian.Uint32(s[8:]) {
				seq, valid = max(seq, v), true
			}
		}
		return &witness{f: f}, seq, existed, valid, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, 0, false, false, fmt.Errorf("consensus: open witness: %w", err)
	}
	if f, err = fs.Create(path); err != nil {
		return nil, 0, false, false, fmt.Errorf("consensus: create witness: %w", err)
	}
	w = &witness{f: f}
	if err = w.writeSlot(0, 0); err == nil {
		err = w.writeSlot(1, 0)
	}
	if err == nil {
		err = syncDir(fs, fs.PathDir(path))
	}
	if err != nil {
		f.Close()
		return nil, 0, false, false, err
	}
	return w, 0, false, false, nil
}

func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("consensus: sync witness directory: %w", err)
	}
	defer d.Close()
	return d.Sync()
}

// write records seq in its slot (alternating) and syncs.
//
// The sync is fdatasync, not fsync: the slot is overwritten in place, so
// nothing but its bytes (and, for a file torn at creation, its size, which
// fdatasync also flushes) is needed to read it back, and skipping the
// inode's times spares ext4 a journal commit. On a shared virtual disk that
// took the witness's sync from about 0.25-0.3 ms at the median and 3-4 ms
// at the 90th percentile to 0.16 and 0.25 ms (docs/benchmarks.md); it is
// the second sync in sequence before every acknowledgement.
func (w *witness) write(seq uint64) error { return w.writeSlot(int(seq%2), seq) }

func (w *witness) writeSlot(slot int, seq uint64) error {
	var s [witnessSlot]byte
	binary.BigEndian.PutUint64(s[:], seq)
	binary.BigEndian.PutUint32(s[8:], crc32.Checksum(s[:8], castagnoli))
	if _, err := w.f.WriteAt(s[:], int64(slot)*witnessSlot); err != nil {
		return fmt.Errorf("consensus: write witness: %w", err)
	}
	if err := w.f.SyncData(); err != nil {
		return fmt.Errorf("consensus: sync witness: %w", err)
	}
	return nil
}

// UseWitness makes the store keep a witness file at path on fs (outside
// Pebble's directory) and checks the database against it; call it before
// opening any group. If the database lost synced writes, every group it
// holds is marked recovering and the loss is logged.
func (s *Store) UseWitness(fs vfs.FS, path string) error {
	w, wseq, existed, valid, err := openWitness(fs, path)
	if err != nil {
		return err
	}
	s.witFS, s.witPath = fs, path // for Reopen
	var pseq uint64
	if v, ok, err := s.get(seqKey); err != nil {
		w.f.Close()
		return err
	} else if ok {
		if p, err := openRecord(seqKey, v); err == nil && len(p) == 8 {
			pseq = binary.BigEndian.Uint64(p)
		} else {
			pseq, valid = 0, false // an unreadable sequence: assume the worst
		}
	}
	var lost string
	switch {
	case !existed && pseq > 0:
		lost = "the witness file is missing"
	case existed && !valid:
		lost = "the witness or the database's sequence does not verify"
	case pseq < wseq:
		lost = fmt.Sprintf("the database ends at batch %d, the witness saw %d synced", pseq, wseq)
	}
	s.commitMu.Lock()
	s.seq, s.witness = max(pseq, wseq), w
	s.commitMu.Unlock()
	if lost == "" {
		return nil
	}
	groups, err := s.markAllRecovering()
	if err != nil {
		return err
	}
	s.log.Warn("raft store lost synced writes: every group recovers from its peers before voting",
		"reason", lost, "groups", groups)
	return nil
}

// markAllRecovering marks every group present in the database as
// recovering, in one synced batch (which also advances the witness).
func (s *Store) markAllRecovering() ([]uint64, error) {
	it, err := s.DB().NewIter(&pebble.IterOptions{LowerBound: groupPrefix(1), UpperBound: groupEnd(^uint64(0) - 1)})
	if err != nil {
		return nil, err
	}
	var groups []uint64
	for ok := it.First(); ok; {
		k := it.Key()
		if len(k) < groupKeyLen {
			ok = it.Next()
			continue
		}
		g := binary.BigEndian.Uint64(k[len(keyPrefix):])
		groups = append(groups, g)
		ok = it.SeekGE(groupEnd(g))
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	wb := s.NewBatch()
	for _, g := range groups {
		k := kindKey(g, kindRecovering)
		if err := wb.b.Set(k, sealRecord(k, nil), nil); err != nil {
			wb.Close()
			return nil, err
		}
	}
	return groups, wb.Commit(true)
}

package store

import "fmt"

// Snapshot returns a Reader that sees the committed data of this moment
// and nothing written after it, and the function that releases it. It is
// how a stream backup reads one consistent state while publishing goes
// on. Taken on the writer goroutine (in an Op's Done), the moment is
// exactly between two batches.
//
// The snapshot must be released before the store is closed (Pebble
// counts a snapshot left open as leaked). A stream layer reads it only
// while one of its API calls is in flight, which Close waits for.
func (s *Store) Snapshot() (Reader, func(), error) {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.Failed() != nil {
		return Reader{}, nil, fmt.Errorf("store: snapshot: %w", ErrFailed)
	}
	snap := s.db.NewSnapshot()
	return Reader{r: snap, st: s}, func() { _ = snap.Close() }, nil
}

// DropStreamID removes everything stored under stream id except its
// definition, which lives under the stream's name: messages, index, state
// record and consumers. A restore that fails uses it to take back what it
// wrote before the definition that would have made the stream visible,
// without touching a stream of the same name created meanwhile.
func (b *Batch) DropStreamID(id uint32) error {
	b.st.man.noteDrop(id)
	if err := b.DeleteAllMsgs(id); err != nil {
		return err
	}
	if err := b.b.Delete(stateKey(id), nil); err != nil {
		return err
	}
	lo, hi := consumerRange(id)
	return b.b.DeleteRange(lo, hi, nil)
}

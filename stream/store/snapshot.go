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
	if s.db == nil {
		return Reader{}, nil, fmt.Errorf("store: snapshot: %w", ErrClosed)
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

// PutRestoredMsg stores m in stream id as PutMsg does, without telling
// the manifest. A restore writes its messages under an id that no
// definition names until its last batch; were the manifest told of them,
// a crash before that batch would leave it claiming a stream that never
// existed, reported at the next start as a stream whose definition was
// lost. The last batch's SetLastSeq and PutMeta tell the manifest.
func (b *Batch) PutRestoredMsg(id uint32, m *Msg) error {
	b.rec = AppendRecord(b.rec[:0], m)
	b.key = msgKey(b.key[:0], id, m.Seq)
	if err := b.b.Set(b.key, b.rec, nil); err != nil {
		return err
	}
	b.key = subjKey(b.key[:0], id, string(m.Subject), m.Seq)
	return b.b.Set(b.key, nil, nil)
}

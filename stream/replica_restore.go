package stream

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/wisp-mq/wisp/stream/store"
)

// restoreBatch bounds the messages one store batch of a snapshot's
// installation holds.
const restoreBatch = 1024

// restoreReplica replaces the replica's state with a snapshot taken at
// index (an archive, replica.WriteState; nil for the empty state): the
// stream's messages, state and consumers are dropped and the archive's
// written in their place, and the stream and its consumers are rebuilt
// from the store. Runs on the consensus host's loop; the archive is read
// a batch of messages at a time (from the file the transport received it
// into).
//
// The install spans many store batches, each fsynced. The first clears
// the old state, sets the applied index to 0 and marks the install
// (store.PutInstalling); the last sets the applied index to index and
// removes the mark. A crash or power loss in between leaves part of a
// state under the mark: the stream layer drops it when it opens the
// store, before the stream is served (dropCutInstall), and the consensus
// host, finding the state behind its log's snapshot, starts the replica
// as one that lost state: it neither votes nor campaigns until it has
// recovered the stream from its peers. An install that fails on a live
// server drops what it wrote the same way.
func (s *stream) restoreReplica(data io.Reader, index uint64) error {
	r := s.repl
	if err := r.barrier(); err != nil {
		return fmt.Errorf("stream %s: install snapshot: %w", s.name, err)
	}
	st := r.Store
	s.stopConsumers()
	if err := st.DoFreeing(func(b *store.Batch) error {
		if err := b.DropStreamID(s.id); err != nil {
			return err
		}
		if err := b.PutInstalling(s.id, index); err != nil {
			return err
		}
		return b.PutApplied(s.id, 0)
	}); err != nil {
		return fmt.Errorf("stream %s: install snapshot: clear: %w", s.name, err)
	}
	if err := s.installReplica(data, index); err != nil {
		s.abandonInstall(index)
		return err
	}
	return nil
}

// installReplica writes the archive over the cleared state and rebuilds
// the stream from it (restoreReplica).
func (s *stream) installReplica(data io.Reader, index uint64) error {
	st := s.repl.Store
	meta := streamMeta{ID: s.id, Created: s.created, Config: s.cfg, Group: s.group}
	var lastSeq uint64
	var lastTime int64
	type restored struct {
		name        string
		meta, state []byte
	}
	var consumers []restored
	if data != nil {
		ar := newArchiveReader(data)
		h, err := ar.header()
		if err != nil {
			return fmt.Errorf("stream %s: install snapshot: %w", s.name, err)
		}
		meta.Config, meta.Created = h.Config, h.Created
		meta.Config.Storage = s.cfg.Storage
		lastSeq, lastTime = h.LastSeq, h.LastTime
		var msgs []*store.Msg
		flush := func() error {
			if len(msgs) == 0 {
				return nil
			}
			batch := msgs
			msgs = nil
			return st.Do(func(b *store.Batch) error {
				for _, m := range batch {
					if err := b.PutRestoredMsg(s.id, m); err != nil {
						return err
					}
				}
				return nil
			})
		}
	read:
		for {
			it, err := ar.next()
			if err != nil {
				return fmt.Errorf("stream %s: install snapshot: %w", s.name, err)
			}
			switch {
			case it.msg != nil:
				if msgs = append(msgs, it.msg); len(msgs) >= restoreBatch {
					if err := flush(); err != nil {
						return fmt.Errorf("stream %s: install snapshot: %w", s.name, err)
					}
				}
			case it.consumer != nil:
				consumers = append(consumers, restored{it.consumer.Name, it.consumer.Meta, it.consumer.State})
			case it.pending != nil:
				name := consumers[len(consumers)-1].name
				pending := it.pending
				if err := st.Do(func(b *store.Batch) error {
					for _, p := range pending {
						if err := b.PutPending(s.id, name, p); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					return fmt.Errorf("stream %s: install snapshot: %w", s.name, err)
				}
			case it.end != nil:
				if err := flush(); err != nil {
					return fmt.Errorf("stream %s: install snapshot: %w", s.name, err)
				}
				break read
			}
		}
	}
	v, err := json.Marshal(&meta)
	if err != nil {
		return err
	}
	if err := st.Do(func(b *store.Batch) error {
		if err := b.PutMeta(s.name, s.id, v); err != nil {
			return err
		}
		if err := b.SetLastSeq(s.id, lastSeq, lastTime); err != nil {
			return err
		}
		for _, c := range consumers {
			if err := b.PutConsumerMeta(s.id, c.name, c.meta); err != nil {
				return err
			}
			if c.state != nil {
				if err := b.PutConsumerState(s.id, c.name, c.state); err != nil {
					return err
				}
			}
		}
		if err := b.ClearInstalling(s.id); err != nil {
			return err
		}
		return b.PutApplied(s.id, index)
	}); err != nil {
		return fmt.Errorf("stream %s: install snapshot: %w", s.name, err)
	}
	s.mu.Lock()
	s.consumers = 0
	// A loss noted at startup (noteDedupeGap) belonged to the state just
	// dropped: refusing message ids for it would make this replica skip
	// entries its peers apply.
	s.dedupeGapUntil = 0
	err = s.rebuildLocked()
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("stream %s: install snapshot: rebuild: %w", s.name, err)
	}
	s.svc.loadConsumers(s)
	s.svc.log.Info("installed a snapshot of replicated stream", "stream", s.name, "index", index, "last_seq", lastSeq)
	return nil
}

// abandonInstall drops what an install that failed part way wrote, so
// that the replica holds nothing rather than part of a state: the host
// then restarts it as one that lost state. If that fails too, the mark
// the install left makes the next start drop it (dropCutInstall).
func (s *stream) abandonInstall(index uint64) {
	if err := s.dropInstalled(); err != nil {
		s.svc.log.Error("dropping a replicated stream's failed snapshot install", "stream", s.name, "index", index, "err", err)
	}
	s.mu.Lock()
	s.consumers = 0 // stopped with the state the install cleared
	s.dedupeGapUntil = 0
	err := s.rebuildLocked()
	s.mu.Unlock()
	if err != nil {
		s.svc.log.Error("rebuilding a replicated stream after a failed snapshot install", "stream", s.name, "err", err)
	}
}

// dropInstalled empties the stream's state at applied index 0 and
// removes the install's mark, in one fsynced batch.
func (s *stream) dropInstalled() error {
	return s.repl.Store.DoFreeing(func(b *store.Batch) error {
		if err := b.DropStreamID(s.id); err != nil {
			return err
		}
		if err := b.PutApplied(s.id, 0); err != nil {
			return err
		}
		return b.ClearInstalling(s.id)
	})
}

// dropCutInstall runs when the stream layer opens a replicated stream,
// before it is loaded or served: a store still marked as installing a
// snapshot lost power or crashed part way through it and holds part of a
// state, which it drops (restoreReplica says what follows).
func (s *stream) dropCutInstall() error {
	index, ok, err := s.repl.Store.Reader().Installing(s.id)
	if err != nil || !ok {
		return err
	}
	s.svc.log.Warn("replicated stream's snapshot install was cut short (crash or power loss): dropping the part installed; "+
		"the replica starts empty and, without voting, recovers the stream from its peers",
		"stream", s.name, "snapshot_index", index)
	if err := s.dropInstalled(); err != nil {
		return fmt.Errorf("drop an interrupted snapshot install: %w", err)
	}
	return nil
}

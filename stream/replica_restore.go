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
// from the store. The first batch also sets the applied index to 0, so a
// crash half way leaves a replica that asks for the snapshot again (the
// host restores it when the state is behind the log's start) rather than
// one that believes it holds it. Runs on the consensus host's loop; the
// archive is read a batch of messages at a time (from the file the
// transport received it into).
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
		return b.PutApplied(s.id, 0)
	}); err != nil {
		return fmt.Errorf("stream %s: install snapshot: clear: %w", s.name, err)
	}
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

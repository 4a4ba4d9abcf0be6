package stream

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wisp-mq/wisp/stream/store"
)

// recover loads every stream defined in st. A stream whose definition does
// not decode is reported and left out; so is one kept offline after damage
// (svc.offline) or whose data cannot be read (it joins svc.offline); the
// others still come back.
func (svc *Service) recover(st Store, storage Storage) error {
	var metas []*streamMeta
	err := st.Reader().Metas(func(name string, value []byte, err error) error {
		if svc.offline[name] != "" {
			return nil
		}
		var meta *streamMeta
		if err == nil {
			meta, err = decodeMeta(value)
		}
		if err != nil {
			svc.log.Error("skipping stream with an unreadable definition", "stream", name, "err", err)
			return nil
		}
		meta.Config.Storage = storage
		metas = append(metas, meta)
		return nil
	})
	if err != nil {
		return fmt.Errorf("stream: read stream definitions: %w", err)
	}
	for _, meta := range metas {
		s := newStream(svc, st, meta)
		if s.repl != nil {
			if err := s.dropCutInstall(); err != nil {
				svc.log.Error("replicated stream unreadable; kept offline", "stream", s.name, "err", err.Error())
				svc.damagedStreams.Add(1)
				svc.offline[s.name] = fmt.Sprintf("its interrupted snapshot install cannot be dropped: %v", err)
				continue
			}
		}
		s.noteDedupeGap(st.Lost(s.id))
		if err := s.load(svc.clock.Now()); err != nil {
			// A read error here is damage Pebble detected (a bad block
			// checksum, a missing file): keep the stream offline with the
			// reason rather than refuse to start every other stream.
			svc.log.Error("stream unreadable; kept offline", "stream", s.name, "err", err.Error())
			svc.damagedStreams.Add(1)
			svc.offline[s.name] = fmt.Sprintf("its data cannot be read: %v", err)
			continue
		}
		svc.streams[s.name] = s
		svc.loadConsumers(s)
		_, st, _, _ := s.snapshot() // the expiry timer may already be running
		svc.log.Info("recovered stream", "stream", s.name, "messages", st.msgs,
			"first_seq", st.first, "last_seq", st.last)
	}
	return nil
}

// decodeMeta parses a stored stream definition, refusing one that decodes
// but could not have been written by Wisp.
func decodeMeta(value []byte) (*streamMeta, error) {
	meta := &streamMeta{}
	if err := json.Unmarshal(value, meta); err != nil {
		return nil, fmt.Errorf("%w: %v", store.ErrCorrupt, err)
	}
	if meta.ID == 0 || !validName(meta.Config.Name) {
		return nil, fmt.Errorf("%w: bad stream id or name", store.ErrCorrupt)
	}
	return meta, nil
}

// load rebuilds the stream's state from committed data: counts, first and
// last sequence, the subject table, and the de-duplication window. Corrupt
// records are skipped by the reader (and counted) as if deleted.
func (s *stream) load(now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loadLocked(now)
}

// loadLocked is load with mu held.
func (s *stream) loadLocked(now time.Time) error {
	r := s.st.Reader()
	mark, markTime, err := r.LastSeqMark(s.id)
	if errors.Is(err, store.ErrCorrupt) {
		// Only sequences after an emptied tail depend on it; carry on
		// with what the messages say.
		s.svc.log.Error("stream state record unreadable", "stream", s.name, "err", err)
	} else if err != nil {
		return err
	}
	s.countBytes(-int64(s.state.bytes))
	s.state = state{}
	clear(s.subjects)
	s.dedupe, s.dedupeQ, s.lastMsgID = nil, nil, ""
	s.resetTTLs()
	s.resetSchedules()
	ttls, scheds := s.cfg.AllowMsgTTL, s.cfg.AllowSchedules
	err = r.Scan(s.id, 0, func(m *store.Msg) bool {
		s.noteAdded(m.Subject, m.Seq, m.Time, m.Size())
		if ttls {
			s.loadTTL(m, now.UnixNano()) // ttl.go
		}
		if scheds && len(m.Header) > 0 {
			s.noteScheduleStored(m.Subject, m.Seq, m.Header, m.Time, now.UnixNano()) // schedule.go
		}
		return true
	})
	if err != nil {
		return err
	}
	if mark > s.state.last {
		s.state.last, s.state.lastTime = mark, markTime
	}
	if s.state.msgs == 0 {
		s.state.first = s.state.last + 1
	}
	s.loadDedupe(r, now)
	if s.cfg.MaxAge > 0 && s.state.msgs > 0 {
		s.armExpiry(time.Duration(s.state.firstTime + int64(s.cfg.MaxAge) - now.UnixNano()))
	}
	return nil
}

// loadDedupe re-reads the message ids published within the duplicate
// window, newest first, so a publisher retrying across a restart is still
// recognised.
func (s *stream) loadDedupe(r store.Reader, now time.Time) {
	if s.state.msgs == 0 {
		return
	}
	cutoff := now.UnixNano() - int64(s.cfg.Duplicates)
	var recent []dedupeRec
	seqs := map[string]uint64{}
	first := true
	_ = r.ScanBack(s.id, s.state.last, func(m *store.Msg) bool {
		id := headerValue(m.Header, hdrMsgID)
		if first && m.Seq == s.state.last {
			s.lastMsgID = string(id)
		}
		first = false
		if m.Time < cutoff {
			return false
		}
		if len(id) > 0 {
			if _, seen := seqs[string(id)]; !seen {
				seqs[string(id)] = m.Seq
				recent = append(recent, dedupeRec{id: string(id), ts: m.Time})
			}
		}
		return true
	})
	for i := len(recent) - 1; i >= 0; i-- {
		s.rememberMsgID(recent[i].id, seqs[recent[i].id], recent[i].ts)
	}
}

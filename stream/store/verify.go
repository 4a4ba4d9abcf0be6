package store

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// ErrInUse means a running server holds the store open.
var ErrInUse = errors.New("store: in use by a running server (its LOCK file is held); stop the server first")

// SeqRange is an inclusive range of sequences.
type SeqRange struct{ First, Last uint64 }

// VerifyStream is what Verify found of one stream.
type VerifyStream struct {
	ID        uint32
	Name      string
	Messages  uint64     // readable messages
	Ranges    []SeqRange // runs of readable messages, in order
	Corrupt   []uint64   // sequences whose record fails its checksum
	FoundLast uint64     // highest sequence the store holds
	// ManifestLast is the highest sequence the manifest recorded; Lost is
	// the acknowledged range missing from the store, if any.
	ManifestLast uint64
	Lost         *SeqRange
	Accepted     []LostRange // losses accepted earlier
	Consumers    []string    // consumers with a readable definition
	// MissingConsumers are known to the manifest but not in the store.
	MissingConsumers []string
	Problems         []string // unreadable records of this stream, by location
}

// VerifyReport is the result of Verify for one store directory.
type VerifyReport struct {
	Dir        string
	Generation uint64   // manifest generation in use; 0 when none
	Problems   []string // store-wide problems
	Streams    []VerifyStream
}

// Damaged says whether anything is missing or unreadable.
func (r *VerifyReport) Damaged() bool {
	if len(r.Problems) > 0 {
		return true
	}
	for i := range r.Streams {
		s := &r.Streams[i]
		if len(s.Corrupt) > 0 || s.Lost != nil || len(s.MissingConsumers) > 0 || len(s.Problems) > 0 {
			return true
		}
	}
	return false
}

// Verify checks the store in dir offline: every record's checksum, every
// stream and consumer against the manifest. It opens Pebble read-only and
// changes nothing; it refuses (ErrInUse) while a server holds the store.
func Verify(fs vfs.FS, dir string) (*VerifyReport, error) {
	if fs == nil {
		fs = vfs.Default
	}
	if _, err := fs.Stat(fs.PathJoin(dir, "CURRENT")); err != nil {
		return nil, fmt.Errorf("store: %s is not a store: %w", dir, err)
	}
	lock, err := fs.Lock(fs.PathJoin(dir, "LOCK"))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInUse, dir, err)
	}
	lock.Close()
	// openPebble turns a Fatalf raised while opening into an error.
	db, err := openPebble(dir, &pebble.Options{FS: fs, ReadOnly: true, Logger: quietLogger{l: slog.New(slog.DiscardHandler)}})
	if err != nil {
		return nil, fmt.Errorf("store: open %s read-only: %w", dir, err)
	}
	defer db.Close()
	st := &Store{db: db, rd: db, log: slog.New(slog.DiscardHandler)}
	rep := &VerifyReport{Dir: dir}
	ms := readManifest(fs, dir)
	rep.Problems = append(rep.Problems, ms.Problems...)
	if ms.Manifest == nil {
		rep.Problems = append(rep.Problems, "no valid manifest: losses cannot be detected")
	} else {
		rep.Generation = ms.Manifest.Generation
	}
	obs, problems := observe(st.Reader(), ms.Manifest)
	rep.Problems = append(rep.Problems, problems...)
	t := newManifestTracker(fs, dir, st.log)
	damage := map[uint32]Damage{}
	for _, d := range reconcile(t, ms.Manifest, obs) {
		damage[d.StreamID] = d
	}
	known := map[uint32]ManifestStream{}
	if ms.Manifest != nil {
		for _, s := range ms.Manifest.Streams {
			known[s.ID] = s
		}
	}
	for id, o := range obs {
		vs := VerifyStream{ID: id, Name: o.name, FoundLast: o.last}
		if mf, ok := known[id]; ok {
			vs.ManifestLast, vs.Accepted = mf.LastSeq, mf.Lost
			if vs.Name == "" {
				vs.Name = mf.Name
			}
		}
		if d, ok := damage[id]; ok {
			if first, last, lost := d.Lost(); lost {
				vs.Lost = &SeqRange{first, last}
			}
			if d.MetaMissing {
				vs.Problems = append(vs.Problems, "definition missing or unreadable (the manifest has a copy)")
			}
			for _, c := range d.MissingConsumers {
				vs.MissingConsumers = append(vs.MissingConsumers, c.Name)
			}
		}
		for n, v := range o.consumers {
			if v != nil {
				vs.Consumers = append(vs.Consumers, n)
			}
		}
		sort.Strings(vs.Consumers)
		if _, _, err := st.Reader().LastSeqMark(id); err != nil {
			vs.Problems = append(vs.Problems, fmt.Sprintf("last-sequence record: %v", err))
		}
		if err := verifyMsgs(st, id, &vs); err != nil {
			vs.Problems = append(vs.Problems, fmt.Sprintf("reading messages: %v", err))
		}
		if err := verifyConsumers(st, id, &vs); err != nil {
			vs.Problems = append(vs.Problems, fmt.Sprintf("reading consumers: %v", err))
		}
		rep.Streams = append(rep.Streams, vs)
	}
	sort.Slice(rep.Streams, func(i, j int) bool { return rep.Streams[i].Name < rep.Streams[j].Name })
	if err := verifyNextID(db); err != nil {
		rep.Problems = append(rep.Problems, err.Error())
	}
	if err := db.CheckLevels(nil); err != nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("consistency check of the database levels: %v", err))
	}
	return rep, nil
}

// verifyMsgs decodes every message record of stream id.
func verifyMsgs(st *Store, id uint32, vs *VerifyStream) error {
	lo, hi := msgRange(id)
	it, err := st.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	var m Msg
	for ok := it.First(); ok; ok = it.Next() {
		seq, valid := seqOfMsgKey(it.Key())
		if !valid {
			continue
		}
		if err := DecodeRecord(it.Value(), &m); err != nil {
			vs.Corrupt = append(vs.Corrupt, seq)
			continue
		}
		vs.Messages++
		if n := len(vs.Ranges); n > 0 && vs.Ranges[n-1].Last+1 == seq {
			vs.Ranges[n-1].Last = seq
		} else {
			vs.Ranges = append(vs.Ranges, SeqRange{seq, seq})
		}
	}
	return firstErr(it.Error(), it.Close())
}

// firstErr is the first non-nil error: an iterator repeats its error from
// Close.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// verifyConsumers checks every consumer record of stream id.
func verifyConsumers(st *Store, id uint32, vs *VerifyStream) error {
	lo, hi := consumerRange(id)
	it, err := st.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()[5:]
		z := indexZero(k)
		if z < 0 || z+1 >= len(k) {
			vs.Problems = append(vs.Problems, fmt.Sprintf("malformed consumer key %q", k))
			continue
		}
		name, kind := string(k[:z]), k[z+1]
		var rule legacyRule
		switch kind {
		case consumerMetaKind:
			rule = legacyConsumerMeta
		case consumerStateKind:
			rule = legacyConsumerState
		case consumerPendingKind:
			rule = legacyPending
		default:
			vs.Problems = append(vs.Problems, fmt.Sprintf("consumer %q: unknown record kind %q", name, kind))
			continue
		}
		if _, err := unseal(it.Value(), rule); err != nil {
			where := map[byte]string{consumerMetaKind: "definition", consumerStateKind: "state", consumerPendingKind: "pending entry"}[kind]
			if kind == consumerPendingKind && len(k) == z+2+8 {
				where = fmt.Sprintf("pending entry for seq %d", beUint64(k[z+2:]))
			}
			vs.Problems = append(vs.Problems, fmt.Sprintf("consumer %q %s: %v", name, where, err))
		}
	}
	return firstErr(it.Error(), it.Close())
}

// verifyNextID checks the stream-id counter, which a create needs.
func verifyNextID(db *pebble.DB) error {
	v, closer, err := db.Get([]byte{prefixNextID})
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("next stream id record: %w", err)
	}
	defer closer.Close()
	if p, err := unseal(v, legacyNextID); err != nil || len(p) != 4 {
		return fmt.Errorf("next stream id record: %w", errors.Join(err, ErrCorrupt))
	}
	return nil
}

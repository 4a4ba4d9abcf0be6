package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/cockroachdb/pebble"
)

// Damage is one stream whose store holds less than its manifest says was
// committed: the tail of its sequences, its definition, or consumers. The
// stream layer decides what to do with it (serve what is left and record
// the loss, or keep the stream offline); the store only finds it.
type Damage struct {
	StreamID uint32
	Stream   string // name, from the store or else the manifest
	// Meta is the manifest's copy of the stream's definition; MetaMissing
	// says the store has no readable definition of its own.
	Meta        []byte
	MetaMissing bool
	// FoundLast is the highest sequence the store holds (a message or the
	// recorded last sequence); LastSeq the highest the manifest recorded as
	// committed, at LastTime. FoundLast < LastSeq means FoundLast+1 ..
	// LastSeq were acknowledged and are gone.
	FoundLast uint64
	LastSeq   uint64
	LastTime  int64
	// MissingConsumers are consumers the manifest knows that the store
	// does not, with their definitions.
	MissingConsumers []ManifestConsumer
	// ReadError is set when Pebble failed to read the stream's data (a
	// block failing its checksum, a missing file): what is "missing" may
	// only be unreadable, so nothing above is certain and the stream must
	// not be rewritten to match.
	ReadError string
}

// Lost returns the range of acknowledged sequences missing at the tail.
// With a ReadError nothing is known to be missing (see Unverified): a
// stream whose last block cannot be read would otherwise be reported as
// having lost every message, the readable ones included.
func (d *Damage) Lost() (first, last uint64, ok bool) {
	if d.ReadError == "" && d.LastSeq > d.FoundLast {
		return d.FoundLast + 1, d.LastSeq, true
	}
	return 0, 0, false
}

// Unverified returns, for a stream with a ReadError, the acknowledged
// sequences the store could not vouch for: past the last it could read of
// the stream's sequence records. They may still be on disk behind the
// unreadable block, or gone.
func (d *Damage) Unverified() (first, last uint64, ok bool) {
	if d.ReadError != "" && d.LastSeq > d.FoundLast {
		return d.FoundLast + 1, d.LastSeq, true
	}
	return 0, 0, false
}

// OpenReport is what Open found when it compared the store with its
// manifest. Problems are store-wide (a damaged manifest generation, a
// record or file that could not be read); Damage is per stream.
type OpenReport struct {
	Dir      string
	Manifest bool // a valid manifest was found
	Problems []string
	Damage   []Damage
	// WALFiles are the write-ahead log files in Dir before Pebble opened
	// it, as "name (size bytes)". Pebble takes a damaged log's first bad
	// chunk as its end without naming the file; a tail lost that way was
	// cut from one of these (the newest, in practice). Pebble deletes or
	// reuses them once replayed, so this is the only record of them.
	WALFiles []string
}

// observed is what the store itself holds of one stream id.
type observed struct {
	readErr   error // Pebble could not read this stream's keys
	name      string
	meta      []byte // readable definition, or nil
	last      uint64
	lastTime  int64
	consumers map[string][]byte // name -> readable definition (may be nil)
}

// metaID reads the stream id out of a stored definition: a JSON object
// with a top-level "id".
func metaID(meta []byte) (uint32, error) {
	var v struct {
		ID uint32 `json:"id"`
	}
	if err := json.Unmarshal(meta, &v); err != nil || v.ID == 0 {
		return 0, fmt.Errorf("%w: stream definition without an id", ErrCorrupt)
	}
	return v.ID, nil
}

// observe reads what the store holds for every stream it or the manifest
// knows. Read errors become problems, not failures: Open must still come
// up to report them.
func observe(r Reader, man *Manifest) (map[uint32]*observed, []string) {
	obs := map[uint32]*observed{}
	var problems []string
	get := func(id uint32) *observed {
		o := obs[id]
		if o == nil {
			o = &observed{consumers: map[string][]byte{}}
			obs[id] = o
		}
		return o
	}
	err := r.Metas(func(name string, v []byte, err error) error {
		if err == nil {
			var id uint32
			if id, err = metaID(v); err == nil {
				o := get(id)
				o.name, o.meta = name, append([]byte(nil), v...)
				return nil
			}
		}
		problems = append(problems, fmt.Sprintf("stream %q: unreadable definition: %v", name, err))
		return nil
	})
	var metasErr error
	if err != nil {
		metasErr = err
		problems = append(problems, fmt.Sprintf("reading stream definitions: %v", err))
	}
	if man != nil {
		for _, ms := range man.Streams {
			get(ms.ID)
		}
	}
	for id, o := range obs {
		o.readErr = metasErr
		if err := observeStream(r, id, o); err != nil {
			o.readErr = err
			problems = append(problems, fmt.Sprintf("stream id %d: %v", id, err))
		}
	}
	return obs, problems
}

// observeStream fills in the last sequence and consumers of stream id.
func observeStream(r Reader, id uint32, o *observed) error {
	lo, hi := msgRange(id)
	src, h := r.src()
	defer h.release()
	it, err := src.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	if it.Last() {
		if seq, ok := seqOfMsgKey(it.Key()); ok {
			o.last = seq
			var m Msg
			if DecodeRecord(it.Value(), &m) == nil {
				o.lastTime = m.Time
			}
		}
	}
	err = firstErr(it.Error(), it.Close())
	// A state record that fails its seal is reported by the stream layer
	// when it loads; here it only means the tail mark is unknown, so a
	// deleted tail may be reported as lost (too much, never too little).
	if mark, ts, merr := r.LastSeqMark(id); merr == nil && mark > o.last {
		o.last, o.lastTime = mark, ts
	} else if merr != nil && !errors.Is(merr, ErrCorrupt) {
		err = errors.Join(err, merr)
	}
	lo, hi = consumerRange(id)
	it, ierr := src.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if ierr != nil {
		return errors.Join(err, ierr)
	}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()[5:]
		z := indexZero(k)
		if z < 0 || z+1 >= len(k) || k[z+1] != consumerMetaKind {
			continue
		}
		p, _ := unseal(it.Value(), legacyConsumerMeta)
		o.consumers[string(k[:z])] = append([]byte(nil), p...)
	}
	return errors.Join(err, firstErr(it.Error(), it.Close()))
}

// reconcile compares the manifest with what the store holds, fills the
// tracker with the union of both (so that nothing the manifest knows is
// forgotten by the next manifest write), and returns the damage found.
func reconcile(t *manifestTracker, man *Manifest, obs map[uint32]*observed) []Damage {
	known := map[uint32]*ManifestStream{}
	if man != nil {
		for i := range man.Streams {
			known[man.Streams[i].ID] = &man.Streams[i]
		}
	}
	var out []Damage
	for id, o := range obs {
		ms := t.stream(id)
		ms.Name, ms.Meta, ms.LastSeq, ms.LastTime = o.name, o.meta, o.last, o.lastTime
		for n, v := range o.consumers {
			t.cons[id][n] = v
		}
		mf := known[id]
		if mf == nil {
			if o.meta == nil && len(o.consumers) == 0 && o.last == 0 {
				delete(t.streams, id) // nothing of it anywhere
				delete(t.cons, id)
			}
			continue
		}
		ms.Lost = mf.Lost
		d := Damage{StreamID: id, Stream: o.name, Meta: mf.Meta, FoundLast: o.last, LastSeq: mf.LastSeq, LastTime: mf.LastTime}
		if o.readErr != nil {
			d.ReadError = o.readErr.Error()
		}
		if o.meta == nil {
			d.MetaMissing = true
			d.Stream = mf.Name
			ms.Name, ms.Meta = mf.Name, mf.Meta
		}
		if mf.LastSeq > ms.LastSeq {
			ms.LastSeq, ms.LastTime = mf.LastSeq, mf.LastTime
		}
		for _, c := range mf.Consumers {
			if v, ok := o.consumers[c.Name]; !ok || v == nil {
				d.MissingConsumers = append(d.MissingConsumers, c)
				t.cons[id][c.Name] = c.Meta
			}
		}
		if d.LastSeq > d.FoundLast || d.MetaMissing || len(d.MissingConsumers) > 0 {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StreamID < out[j].StreamID })
	return out
}

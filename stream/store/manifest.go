package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync"

	"github.com/cockroachdb/pebble/vfs"
)

// The manifest is a small file, written apart from Pebble's own files, that
// remembers what the store has promised: for each stream its name, its
// definition, the highest sequence ever committed (and its time), its
// consumers' definitions, and the losses an operator has accepted. Pebble
// recovers a damaged write-ahead log by treating the first bad chunk as
// the end of the log, without a word; comparing what Pebble gives back
// with the manifest turns that silent truncation into a reported loss, and
// keeps sequences from going back (Open's Damage list, damage.go).
//
// It is written by the writer goroutine only after the data it describes
// is durable: after a commit in SyncAlways mode, after the interval fsync
// in SyncInterval mode, and at Close. It may therefore lag the store (by
// at most one tick, ManifestInterval) but never claims more than the store
// holds. A stream or consumer create or delete writes it before the
// request is answered, so the existence of streams and consumers never
// lags.
//
// Two generations are kept, in two files, each replaced atomically (write a
// temporary file, fsync, rename, fsync the directory) and each checksummed:
// a torn or damaged manifest write leaves the other, one generation older,
// to fall back on.
//
//	magic(8) | generation(8) | len(4) | JSON body (len bytes) | crc32c(4) of all before
const (
	manifestMagic = "WSPMANI1"
	manifestTmp   = "wisp-manifest.tmp"
	// manifestMax bounds the body a reader accepts, so a damaged length
	// cannot ask for gigabytes.
	manifestMax = 64 << 20
)

// manifestFiles are the two generations' file names; generation g lives
// in manifestFiles[g%2].
var manifestFiles = [2]string{"wisp-manifest.0", "wisp-manifest.1"}

// Manifest is the decoded body of a manifest file.
type Manifest struct {
	Generation uint64           `json:"-"`
	Streams    []ManifestStream `json:"streams"`
}

// ManifestStream is what the manifest keeps of one stream.
type ManifestStream struct {
	ID        uint32             `json:"id"`
	Name      string             `json:"name"`
	Meta      []byte             `json:"meta,omitempty"` // the stored definition, as written
	LastSeq   uint64             `json:"last_seq"`       // highest sequence ever committed
	LastTime  int64              `json:"last_time"`      // its time, unix nanoseconds
	Consumers []ManifestConsumer `json:"consumers,omitempty"`
	Lost      []LostRange        `json:"lost,omitempty"` // losses accepted so far
}

// ManifestConsumer is one consumer's definition, as stored.
type ManifestConsumer struct {
	Name string `json:"name"`
	Meta []byte `json:"meta"`
}

// LostRange is a range of acknowledged sequences found missing and
// accepted as lost, kept so that the gap stays explained.
type LostRange struct {
	First    uint64 `json:"first"`
	Last     uint64 `json:"last"`
	LastTime int64  `json:"last_time"` // time of the newest lost message
	Noted    int64  `json:"noted"`     // when the loss was accepted
}

// EncodeManifest returns the file form of m.
func EncodeManifest(m *Manifest) ([]byte, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 8+8+4+len(body)+4)
	out = append(out, manifestMagic...)
	out = binary.BigEndian.AppendUint64(out, m.Generation)
	out = binary.BigEndian.AppendUint32(out, uint32(len(body)))
	out = append(out, body...)
	return binary.BigEndian.AppendUint32(out, crc32.Checksum(out, crcTable)), nil
}

// DecodeManifest parses a manifest file; anything torn, truncated or
// altered is an error wrapping ErrCorrupt.
func DecodeManifest(b []byte) (*Manifest, error) {
	const head = 8 + 8 + 4
	if len(b) < head+4 {
		return nil, fmt.Errorf("%w: manifest of %d bytes", ErrCorrupt, len(b))
	}
	if string(b[:8]) != manifestMagic {
		return nil, fmt.Errorf("%w: not a manifest (magic %q)", ErrCorrupt, b[:8])
	}
	n := binary.BigEndian.Uint32(b[16:20])
	if n > manifestMax || int(n) != len(b)-head-4 {
		return nil, fmt.Errorf("%w: manifest body of %d bytes in a file of %d", ErrCorrupt, n, len(b))
	}
	if got, want := crc32.Checksum(b[:len(b)-4], crcTable), binary.BigEndian.Uint32(b[len(b)-4:]); got != want {
		return nil, fmt.Errorf("%w: manifest checksum %08x, want %08x", ErrCorrupt, got, want)
	}
	m := &Manifest{}
	if err := json.Unmarshal(b[head:len(b)-4], m); err != nil {
		return nil, fmt.Errorf("%w: manifest body: %v", ErrCorrupt, err)
	}
	m.Generation = binary.BigEndian.Uint64(b[8:16])
	return m, nil
}

// ManifestState is what was found of the manifest files at open.
type ManifestState struct {
	Manifest *Manifest // the newest valid generation; nil if none
	// Problems describes files that exist but failed their checks (a torn
	// or damaged generation), one line each.
	Problems []string
}

// readManifest loads the newest valid generation from dir.
func readManifest(fs vfs.FS, dir string) ManifestState {
	var st ManifestState
	for _, name := range manifestFiles {
		path := fs.PathJoin(dir, name)
		b, err := readFile(fs, path)
		if errors.Is(err, errNoFile) {
			continue
		}
		var m *Manifest
		if err == nil {
			m, err = DecodeManifest(b)
		}
		if err != nil {
			st.Problems = append(st.Problems, fmt.Sprintf("%s: %v", path, err))
			continue
		}
		if st.Manifest == nil || m.Generation > st.Manifest.Generation {
			st.Manifest = m
		}
	}
	return st
}

var errNoFile = errors.New("no such file")

func readFile(fs vfs.FS, path string) ([]byte, error) {
	if _, err := fs.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errNoFile
		}
		return nil, err
	}
	f, err := fs.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, manifestMax+64))
}

// writeManifest replaces generation m.Generation's file atomically.
func writeManifest(fs vfs.FS, dir string, m *Manifest) error {
	b, err := EncodeManifest(m)
	if err != nil {
		return err
	}
	tmp := fs.PathJoin(dir, manifestTmp)
	f, err := fs.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	err = errors.Join(err, f.Sync(), f.Close())
	if err != nil {
		return err
	}
	if err := fs.Rename(tmp, fs.PathJoin(dir, manifestFiles[m.Generation%2])); err != nil {
		return err
	}
	d, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// manifestTracker follows every change that matters to the manifest as the
// writer commits it, and writes the manifest. A nil tracker (volatile
// stores) ignores everything.
//
// The note* methods run on the writer goroutine while a batch is being
// gathered; committed folds them in once the batch is durable, or drops
// them if it failed. Only the fold and the readers take mu.
type manifestTracker struct {
	fs  vfs.FS
	dir string
	log *slog.Logger

	// Writer goroutine only: the batch being gathered.
	seqs       map[uint32]seqMark
	changes    []func() // applied once the batch is durable
	drops      []func() // applied, and written, before the batch commits
	structural bool

	mu      sync.Mutex // guards what follows
	streams map[uint32]*ManifestStream
	cons    map[uint32]map[string][]byte // consumer definitions by stream id
	gen     uint64
	dirty   bool
}

type seqMark struct {
	seq uint64
	ts  int64
}

func newManifestTracker(fs vfs.FS, dir string, log *slog.Logger) *manifestTracker {
	return &manifestTracker{
		fs: fs, dir: dir, log: log,
		seqs:    map[uint32]seqMark{},
		streams: map[uint32]*ManifestStream{},
		cons:    map[uint32]map[string][]byte{},
	}
}

// noteSeq records that stream id's batch holds sequence seq.
func (t *manifestTracker) noteSeq(id uint32, seq uint64, ts int64) {
	if t == nil {
		return
	}
	if mk, ok := t.seqs[id]; !ok || seq > mk.seq {
		t.seqs[id] = seqMark{seq, ts}
	}
}

func (t *manifestTracker) change(fn func()) {
	if t == nil {
		return
	}
	t.changes = append(t.changes, fn)
	t.structural = true
}

func (t *manifestTracker) noteMeta(id uint32, name string, value []byte) {
	value = bytes.Clone(value)
	t.change(func() {
		ms := t.stream(id)
		ms.Name, ms.Meta = name, value
	})
}

// Deletions reach the manifest before the batch that makes them commits:
// a crash in between then leaves a stream the manifest no longer claims
// (harmless, found and re-added at the next open) rather than a manifest
// claiming a deleted stream, which would bring it back as "lost".
func (t *manifestTracker) noteDrop(id uint32) {
	t.drop(func() { delete(t.streams, id); delete(t.cons, id) })
}

func (t *manifestTracker) drop(fn func()) {
	if t == nil {
		return
	}
	t.drops = append(t.drops, fn)
	t.structural = true
}

func (t *manifestTracker) noteConsumer(id uint32, name string, value []byte) {
	value = bytes.Clone(value)
	t.change(func() {
		t.stream(id)
		t.cons[id][name] = value
	})
}

func (t *manifestTracker) noteConsumerDrop(id uint32, name string) {
	t.drop(func() {
		if c := t.cons[id]; c != nil {
			delete(c, name)
		}
	})
}

func (t *manifestTracker) noteLoss(id uint32, r LostRange) {
	t.change(func() {
		ms := t.stream(id)
		ms.Lost = append(ms.Lost, r)
	})
}

// streamName returns the name of stream id as last committed, or "" (a
// volatile store keeps no manifest), for log lines that name a stream.
func (t *manifestTracker) streamName(id uint32) string {
	if t == nil {
		return ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if ms := t.streams[id]; ms != nil {
		return ms.Name
	}
	return ""
}

// stream returns the entry of stream id, creating it; mu held.
func (t *manifestTracker) stream(id uint32) *ManifestStream {
	ms := t.streams[id]
	if ms == nil {
		ms = &ManifestStream{ID: id}
		t.streams[id] = ms
		t.cons[id] = map[string][]byte{}
	}
	return ms
}

// committed folds the gathered batch in (ok) or forgets it, and says
// whether it changed a stream's or consumer's existence, in which case
// the manifest must be written before the batch's Ops are answered.
func (t *manifestTracker) committed(ok bool) (structural bool) {
	if t == nil {
		return false
	}
	structural = t.structural && ok
	if ok && (len(t.seqs) > 0 || len(t.changes) > 0) {
		t.mu.Lock()
		// Changes first: a batch that creates a stream also holds its
		// first sequence mark.
		for _, fn := range t.changes {
			fn()
		}
		for id, mk := range t.seqs {
			ms := t.stream(id)
			if mk.seq > ms.LastSeq || (mk.seq == ms.LastSeq && ms.LastTime == 0) {
				ms.LastSeq, ms.LastTime = mk.seq, mk.ts
			}
		}
		t.dirty = true
		t.mu.Unlock()
	}
	clear(t.seqs)
	clear(t.changes)
	t.changes, t.structural = t.changes[:0], false
	return structural
}

// applyDrops applies the gathered deletions and reports whether there were
// any.
func (t *manifestTracker) applyDrops() bool {
	if t == nil || len(t.drops) == 0 {
		return false
	}
	t.mu.Lock()
	for _, fn := range t.drops {
		fn()
	}
	t.dirty = true
	t.mu.Unlock()
	clear(t.drops)
	t.drops = t.drops[:0]
	return true
}

// The writer's three calls into the manifest (writer.go).

// manifestBeforeCommit writes deletions to the manifest before the batch
// making them commits. Everything the manifest claims besides was
// committed by earlier batches; the interval fsync is paid first so that
// it is durable too.
func (s *Store) manifestBeforeCommit() {
	if s.man.applyDrops() {
		s.writeManifestDurably()
	}
}

// manifestAfterCommit folds a batch in once committed (ok) and, when it
// created streams or consumers, writes the manifest before any of its Ops
// is answered.
func (s *Store) manifestAfterCommit(ok bool) {
	if s.man.committed(ok) {
		s.writeManifestDurably()
	}
}

// manifestTick writes the manifest if anything changed since the last one.
func (s *Store) manifestTick() {
	if s.man != nil && s.man.isDirty() {
		s.writeManifestDurably()
	}
}

func (s *Store) writeManifestDurably() {
	if s.wal != nil {
		s.syncWAL()
	}
	if err := s.man.write(false); err != nil {
		s.log.Error("manifest not written; the previous one still stands", "err", err)
	}
}

func (t *manifestTracker) isDirty() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dirty
}

// snapshot returns the manifest as it stands; mu held.
func (t *manifestTracker) snapshotLocked() *Manifest {
	m := &Manifest{Generation: t.gen}
	ids := make([]uint32, 0, len(t.streams))
	for id := range t.streams {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		ms := *t.streams[id]
		ms.Consumers = nil
		names := make([]string, 0, len(t.cons[id]))
		for n := range t.cons[id] {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			ms.Consumers = append(ms.Consumers, ManifestConsumer{Name: n, Meta: t.cons[id][n]})
		}
		m.Streams = append(m.Streams, ms)
	}
	return m
}

// Snapshot returns the manifest the store would write now.
func (t *manifestTracker) Snapshot() *Manifest {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.snapshotLocked()
}

// write writes the next generation if anything changed (or always, with
// force). Called on the writer goroutine, or at Close once it has stopped.
func (t *manifestTracker) write(force bool) error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.dirty && !force {
		return nil
	}
	t.gen++
	m := t.snapshotLocked()
	if err := writeManifest(t.fs, t.dir, m); err != nil {
		t.gen-- // the same generation's file is tried again next time
		return fmt.Errorf("store: write manifest in %s: %w", t.dir, err)
	}
	t.dirty = false
	return nil
}

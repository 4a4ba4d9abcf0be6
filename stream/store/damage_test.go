package store

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
)

// The damage tests write a real store, stop it cleanly, damage one of its
// files the way a disk or an operator might, and reopen it. Whatever the
// damage: Open does not panic; every message read back is intact; and
// either every acknowledged message is still there, or the loss is
// reported (OpenReport, the corrupt-record counter, or a read error), and
// the manifest still knows the highest acknowledged sequence so that
// sequences cannot go back.

const (
	damageStream = uint32(1)
	damageMsgs   = 400
)

// writeDamageStore writes one stream of damageMsgs messages and one
// consumer into dir and closes it; keepWAL leaves the writes in the log.
func writeDamageStore(t *testing.T, dir string, keepWAL bool) {
	t.Helper()
	s, err := Open(Options{Dir: dir, KeepWALOnClose: keepWAL})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Do(func(b *Batch) error {
		if _, err := b.NextStreamID(); err != nil {
			return err
		}
		if err := b.PutMeta("S", damageStream, []byte(`{"id":1,"config":{"name":"S"}}`)); err != nil {
			return err
		}
		return b.PutConsumerMeta(damageStream, "DUR", []byte(`{"config":{"durable_name":"DUR"}}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	// Many small batches, as many publishers would make.
	for seq := uint64(1); seq <= damageMsgs; seq++ {
		m := &Msg{Seq: seq, Time: int64(seq), Subject: []byte("s"), Data: []byte(fmt.Sprintf("message %04d", seq))}
		if err := s.Do(func(b *Batch) error { return b.PutMsg(damageStream, m) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// newestFile returns the path of the newest file in dir with suffix.
func newestFile(t *testing.T, dir, suffix string) string {
	t.Helper()
	var names []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), suffix) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		t.Fatalf("no %s file in %s", suffix, dir)
	}
	sort.Strings(names) // Pebble numbers files in order, zero-padded
	return filepath.Join(dir, names[len(names)-1])
}

// largestFile returns the largest file in dir with suffix (the one holding
// the data, when a clean stop left an empty log after it).
func largestFile(t *testing.T, dir, suffix string) string {
	t.Helper()
	best, size := "", int64(-1)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), suffix) && fi.Size() > size {
			best, size = filepath.Join(dir, e.Name()), fi.Size()
		}
	}
	if best == "" {
		t.Fatalf("no %s file in %s", suffix, dir)
	}
	return best
}

// The kinds of damage, each applied to one file.
type damageFn func(t *testing.T, path string, rng *rand.Rand)

func truncateAt(frac float64, minus int64) damageFn {
	return func(t *testing.T, path string, _ *rand.Rand) {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		n := max(0, int64(float64(fi.Size())*frac)-minus)
		if err := os.Truncate(path, n); err != nil {
			t.Fatal(err)
		}
	}
}

func flipBits(n int) damageFn {
	return func(t *testing.T, path string, rng *rand.Rand) {
		b := readAll(t, path)
		for i := 0; i < n; i++ {
			b[rng.Intn(len(b))] ^= 1 << rng.Intn(8)
		}
		writeAll(t, path, b)
	}
}

func randomMiddle(n int) damageFn {
	return func(t *testing.T, path string, rng *rand.Rand) {
		b := readAll(t, path)
		at := len(b)/2 - n/2
		for i := max(0, at); i < min(len(b), at+n); i++ {
			b[i] = byte(rng.Intn(256))
		}
		writeAll(t, path, b)
	}
}

func remove(t *testing.T, path string, _ *rand.Rand) {
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		t.Fatalf("read %s: %d bytes, %v", path, len(b), err)
	}
	return b
}

func writeAll(t *testing.T, path string, b []byte) {
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDamagedFilesNeverLoseSilently(t *testing.T) {
	cases := []struct {
		name    string
		keepWAL bool // the data is in the log (as after a crash) or in sstables
		file    func(t *testing.T, dir string) string
		damage  damageFn
	}{
		{"wal truncated to 0", true, walFile, truncateAt(0, 0)},
		{"wal truncated to half", true, walFile, truncateAt(0.5, 0)},
		{"wal truncated just before the end", true, walFile, truncateAt(1, 7)},
		{"wal bits flipped", true, walFile, flipBits(8)},
		{"wal 256 random bytes in the middle", true, walFile, randomMiddle(256)},
		{"wal deleted", true, walFile, remove},
		{"sstable truncated to half", false, sstFile, truncateAt(0.5, 0)},
		{"sstable truncated just before the end", false, sstFile, truncateAt(1, 7)},
		{"sstable bits flipped", false, sstFile, flipBits(8)},
		{"sstable 256 random bytes in the middle", false, sstFile, randomMiddle(256)},
		{"sstable deleted", false, sstFile, remove},
		{"newest wal after a clean stop truncated to half", false, newestWAL, truncateAt(0.5, 0)},
		{"newest manifest generation damaged", false, newestManifest, randomMiddle(16)},
		{"pebble CURRENT deleted", false, named("CURRENT"), remove},
		{"pebble MANIFEST damaged", false, pebbleManifest, randomMiddle(16)},
		{"pebble MANIFEST deleted", false, pebbleManifest, remove},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeDamageStore(t, dir, tc.keepWAL)
			rng := rand.New(rand.NewSource(int64(i) + 1)) // seeded: a failure replays
			tc.damage(t, tc.file(t, dir), rng)
			checkNoSilentLoss(t, dir)
		})
	}
}

func named(name string) func(*testing.T, string) string {
	return func(_ *testing.T, dir string) string { return filepath.Join(dir, name) }
}

// pebbleManifest is Pebble's own current MANIFEST file.
func pebbleManifest(t *testing.T, dir string) string {
	ms, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*"))
	if len(ms) == 0 {
		t.Fatal("no Pebble MANIFEST")
	}
	sort.Strings(ms)
	return ms[len(ms)-1]
}

func walFile(t *testing.T, dir string) string        { return largestFile(t, dir, ".log") }
func newestWAL(t *testing.T, dir string) string      { return newestFile(t, dir, ".log") }
func sstFile(t *testing.T, dir string) string        { return largestFile(t, dir, ".sst") }
func newestManifest(t *testing.T, dir string) string { return newestGeneration(t, dir) }

// checkNoSilentLoss reopens dir and checks the guarantees above.
func checkNoSilentLoss(t *testing.T, dir string) {
	t.Helper()
	s, err := openNoPanic(dir)
	if err != nil {
		t.Logf("open refused, as it may: %v", err)
		return
	}
	defer s.Close()
	rep := s.OpenReport()
	present := map[uint64]bool{}
	scanErr := s.Reader().Scan(damageStream, 0, func(m *Msg) bool {
		if want := fmt.Sprintf("message %04d", m.Seq); string(m.Data) != want {
			t.Errorf("seq %d reads back %q, want %q", m.Seq, m.Data, want)
		}
		present[m.Seq] = true
		return true
	})
	var lostFirst, lostLast uint64
	for _, d := range rep.Damage {
		if d.StreamID == damageStream {
			if d.LastSeq != damageMsgs {
				t.Errorf("damage report says last acknowledged seq %d, want %d", d.LastSeq, damageMsgs)
			}
			lostFirst, lostLast, _ = d.Lost()
		}
	}
	reported := scanErr != nil || lostLast > 0 || len(rep.Problems) > 0 || s.CorruptRecords() > 0
	// The durable is in the store, or reported missing, never silently gone.
	cs, cerr := s.Reader().Consumers(damageStream)
	durable := cerr == nil && len(cs) == 1 && cs[0].Name == "DUR" && cs[0].Meta != nil
	for _, d := range rep.Damage {
		for _, c := range d.MissingConsumers {
			durable = durable || c.Name == "DUR"
		}
	}
	if !durable && cerr == nil && len(rep.Problems) == 0 {
		t.Errorf("durable DUR gone without a report")
	}
	for seq := uint64(1); seq <= damageMsgs; seq++ {
		if !present[seq] && !reported {
			t.Fatalf("seq %d is gone and nothing reported it (report %+v)", seq, rep)
		}
	}
	if lostLast > 0 && lostFirst <= lostLast {
		for seq := lostFirst; seq <= lostLast; seq++ {
			if present[seq] {
				t.Errorf("seq %d reported lost but present", seq)
			}
		}
	}
	// Whatever was lost, the highest acknowledged sequence is still known.
	if m := s.man.Snapshot(); len(m.Streams) == 0 && scanErr == nil && len(rep.Problems) == 0 {
		t.Error("the manifest forgot the stream")
	} else if len(m.Streams) > 0 && m.Streams[0].LastSeq < damageMsgs {
		t.Errorf("manifest last seq %d went back below %d", m.Streams[0].LastSeq, damageMsgs)
	}
	t.Logf("present %d, lost %d..%d, problems %q, scan err %v, corrupt %d",
		len(present), lostFirst, lostLast, rep.Problems, scanErr, s.CorruptRecords())
}

// openNoPanic opens dir, turning a panic into a test failure.
func openNoPanic(dir string) (s *Store, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("PANIC")
			panic(fmt.Sprintf("store.Open panicked: %v", r))
		}
	}()
	return Open(Options{Dir: dir})
}

// newestGeneration returns the manifest file of the highest generation.
func newestGeneration(t *testing.T, dir string) string {
	t.Helper()
	best, gen := "", uint64(0)
	for _, n := range manifestFiles {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			continue
		}
		if m, err := DecodeManifest(b); err == nil && m.Generation >= gen {
			best, gen = filepath.Join(dir, n), m.Generation
		}
	}
	if best == "" {
		t.Fatal("no manifest")
	}
	return best
}

func TestBothManifestGenerationsDamagedIsReported(t *testing.T) {
	dir := t.TempDir()
	writeDamageStore(t, dir, false)
	for _, n := range manifestFiles {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err == nil {
			randomMiddle(8)(t, p, rand.New(rand.NewSource(7)))
		}
	}
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep := s.OpenReport()
	if rep.Manifest || len(rep.Problems) < 2 {
		t.Fatalf("damaged manifests not reported: %+v", rep)
	}
}

func TestDeletedStreamAndConsumerAreNotReportedLost(t *testing.T) {
	dir := t.TempDir()
	writeDamageStore(t, dir, false)
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if d := s.OpenReport().Damage; len(d) != 0 {
		t.Fatalf("clean store reported damaged: %+v", d)
	}
	if err := s.Do(func(b *Batch) error { return b.DropConsumer(damageStream, "DUR") }); err != nil {
		t.Fatal(err)
	}
	if m := s.man.Snapshot(); len(m.Streams) != 1 || len(m.Streams[0].Consumers) != 0 {
		t.Fatalf("manifest after the consumer delete: %+v", m)
	}
	if err := s.Do(func(b *Batch) error { return b.DropStream("S", damageStream) }); err != nil {
		t.Fatal(err)
	}
	// The manifest on disk already says so: a crash now would not bring
	// the stream back as "lost".
	if ms := readManifest(s.opts.FS, dir); ms.Manifest == nil || len(ms.Manifest.Streams) != 0 {
		t.Fatalf("manifest on disk after the delete: %+v", ms.Manifest)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rep := s.OpenReport(); len(rep.Damage) != 0 || len(rep.Problems) != 0 {
		t.Fatalf("deletes reported as damage: %+v", rep)
	}
}

// TestReadOnlyStoreDirRefusesToOpen: a store on a read-only filesystem
// (simulated, since root ignores directory permissions) is refused with an
// error, not a panic.
func TestReadOnlyStoreDirRefusesToOpen(t *testing.T) {
	dir := t.TempDir()
	writeDamageStore(t, dir, false)
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("Open panicked on a read-only filesystem: %v", r)
			}
		}()
		var s *Store
		s, err = Open(Options{Dir: dir, FS: readOnlyFS{vfs.Default}})
		if err == nil {
			s.Close()
		}
	}()
	if err == nil {
		t.Fatal("opened a store on a read-only filesystem")
	}
	t.Log(err)
}

// readOnlyFS fails every write the way a read-only mount does.
type readOnlyFS struct{ vfs.FS }

func (readOnlyFS) Create(name string) (vfs.File, error) { return nil, roErr("create", name) }
func (readOnlyFS) OpenReadWrite(name string, _ ...vfs.OpenOption) (vfs.File, error) {
	return nil, roErr("open", name)
}
func (readOnlyFS) Link(o, n string) error                      { return roErr("link", n) }
func (readOnlyFS) Remove(name string) error                    { return roErr("remove", name) }
func (readOnlyFS) RemoveAll(name string) error                 { return roErr("remove", name) }
func (readOnlyFS) Rename(o, n string) error                    { return roErr("rename", n) }
func (readOnlyFS) ReuseForWrite(o, n string) (vfs.File, error) { return nil, roErr("reuse", n) }
func (readOnlyFS) MkdirAll(dir string, _ os.FileMode) error    { return nil }

func roErr(op, name string) error {
	return &os.PathError{Op: op, Path: name, Err: syscall.EROFS}
}

// TestLostDatabaseIsRefusedNotRecreated: when Pebble's files are gone but
// the manifest is there, Open refuses rather than start an empty database
// in which every stream would be gone.
func TestLostDatabaseIsRefusedNotRecreated(t *testing.T) {
	dir := t.TempDir()
	writeDamageStore(t, dir, false)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "wisp-manifest") {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	s, err := openNoPanic(dir)
	if err == nil {
		s.Close()
		t.Fatal("opened an empty database in place of a lost one")
	}
	if !strings.Contains(err.Error(), "CURRENT") {
		t.Fatalf("error does not say what is missing: %v", err)
	}
}

package store

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/cockroachdb/pebble/sstable"
)

// The offset tests cut a file where its format changes meaning: at, just
// inside and just before the end of chunks of the write-ahead log, and at
// the blocks, the index, the properties and the footer of an sstable. A
// cut at a chunk boundary is the worst case for the log: Pebble sees a
// clean end of file and nothing in the log says data is missing. Each cut
// is made to a fresh copy of one store, reopened with checkNoSilentLoss.

// copyStore copies the store in src to a new directory, leaving out the
// space reserve (Open writes it again).
func copyStore(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() || e.Name() == reserveName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// walBlockSize and walChunkHeader are the log format's block size and the
// header of the chunks Pebble's log writer emits (checksum, length, type,
// log number).
const (
	walBlockSize   = 32 << 10
	walChunkHeader = 11
)

// walChunk is one chunk of a log file: its offset and payload length.
type walChunk struct{ off, n int }

// walChunks walks the chunks of log file b, stopping at the first header
// that is zero (the unwritten end).
func walChunks(t *testing.T, b []byte) []walChunk {
	t.Helper()
	var out []walChunk
	for off := 0; off+walChunkHeader <= len(b); {
		if rest := walBlockSize - off%walBlockSize; rest < walChunkHeader {
			off += rest // the writer pads a block's tail too short for a header
			continue
		}
		typ := b[off+6]
		if typ == 0 {
			break
		}
		if typ < 5 || typ > 8 {
			t.Fatalf("chunk at %d has type %d: not the recyclable chunks this test knows", off, typ)
		}
		n := int(binary.LittleEndian.Uint16(b[off+4 : off+6]))
		out = append(out, walChunk{off, n})
		off += walChunkHeader + n
	}
	return out
}

// cutAt truncates path to n bytes.
func cutAt(n int64) damageFn {
	return func(t *testing.T, path string, _ *rand.Rand) {
		if err := os.Truncate(path, n); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWALCutAtChunkBoundaries(t *testing.T) {
	src := t.TempDir()
	writeDamageStore(t, src, true)
	wal := walFile(t, src)
	b, err := os.ReadFile(wal)
	if err != nil {
		t.Fatal(err)
	}
	chunks := walChunks(t, b)
	// The definitions' batch, then one per message.
	if len(chunks) < damageMsgs+1 {
		t.Fatalf("%d chunks in %s, want at least %d", len(chunks), filepath.Base(wal), damageMsgs+1)
	}
	// The last chunks are the last messages' and what the close wrote.
	n := len(chunks)
	picked := []int{0, 1, 2, n / 2, n - 4, n - 3, n - 2, n - 1}
	offsets := map[int]string{len(b) - 1: "the last byte"}
	for _, i := range picked {
		c := chunks[i]
		offsets[c.off] = fmt.Sprintf("chunk %d's start", i)
		offsets[c.off+1] = fmt.Sprintf("inside chunk %d's header", i)
		offsets[c.off+walChunkHeader] = fmt.Sprintf("chunk %d's header alone", i)
		offsets[c.off+walChunkHeader+c.n-1] = fmt.Sprintf("chunk %d less its last byte", i)
	}
	runDamage(t, src, filepath.Base(wal), offsets, cutAt)
}

func TestSSTableCutAtBlockBoundaries(t *testing.T) {
	src := t.TempDir()
	writeDamageStore(t, src, false)
	sst := sstFile(t, src)
	l := sstLayout(t, sst)
	if len(l.Data) < 2 {
		t.Fatalf("%s has %d data blocks; the test wants several", filepath.Base(sst), len(l.Data))
	}
	offsets := map[int]string{}
	for i, d := range l.Data {
		if i > 2 && i < len(l.Data)-2 {
			continue
		}
		offsets[int(d.Offset)] = fmt.Sprintf("data block %d's start", i)
		offsets[int(d.Offset+d.Length/2)] = fmt.Sprintf("data block %d's middle", i)
		offsets[int(d.Offset+d.Length)] = fmt.Sprintf("data block %d's trailer", i)
	}
	for _, bh := range []struct {
		name string
		h    sstable.BlockHandle
	}{
		{"the filter", l.Filter}, {"the properties", l.Properties},
		{"the meta index", l.MetaIndex}, {"the footer", l.Footer},
	} {
		if bh.h.Length > 0 {
			offsets[int(bh.h.Offset)] = bh.name + "'s start"
			offsets[int(bh.h.Offset+1)] = bh.name + "'s second byte"
		}
	}
	for i, h := range l.Index {
		offsets[int(h.Offset)] = fmt.Sprintf("index block %d's start", i)
	}
	offsets[int(l.Footer.Offset+l.Footer.Length-1)] = "the last byte"
	// Pebble checks each table's size against its own MANIFEST at open, so
	// every cut is refused there; a flipped byte keeps the size and is
	// found later, by a block's checksum.
	t.Run("cut", func(t *testing.T) { runDamage(t, src, filepath.Base(sst), offsets, cutAt) })
	t.Run("flip", func(t *testing.T) { runDamage(t, src, filepath.Base(sst), offsets, flipAt) })
}

// flipAt inverts the byte at offset off of path.
func flipAt(off int64) damageFn {
	return func(t *testing.T, path string, _ *rand.Rand) {
		b := readAll(t, path)
		b[off] ^= 0xff
		writeAll(t, path, b)
	}
}

// sstLayout reads the block layout of an sstable.
func sstLayout(t *testing.T, path string) *sstable.Layout {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	readable, err := sstable.NewSimpleReadable(f)
	if err != nil {
		f.Close()
		t.Fatal(err)
	}
	r, err := sstable.NewReader(readable, sstable.ReaderOptions{})
	if err != nil {
		readable.Close()
		t.Fatal(err)
	}
	defer r.Close()
	l, err := r.Layout()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// runDamage applies damage at each offset to file (a name in the store
// src), in a copy of the store each, and checks no loss goes unreported.
func runDamage(t *testing.T, src, file string, offsets map[int]string, damage func(off int64) damageFn) {
	t.Helper()
	at := make([]int, 0, len(offsets))
	for off := range offsets {
		at = append(at, off)
	}
	sort.Ints(at)
	for _, off := range at {
		t.Run(fmt.Sprintf("%d %s", off, offsets[off]), func(t *testing.T) {
			dir := copyStore(t, src)
			damage(int64(off))(t, filepath.Join(dir, file), nil)
			checkNoSilentLoss(t, dir)
		})
	}
}

// A tail cut from the log is reported with the log files Pebble found,
// the cut one among them with its size after the cut: Pebble itself names
// no file, and removes the log once it has replayed it.
func TestOpenReportNamesWALFiles(t *testing.T) {
	dir := t.TempDir()
	writeDamageStore(t, dir, true)
	wal := walFile(t, dir)
	fi, err := os.Stat(wal)
	if err != nil {
		t.Fatal(err)
	}
	half := fi.Size() / 2
	cutAt(half)(t, wal, nil)
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep := s.OpenReport()
	if len(rep.Damage) != 1 {
		t.Fatalf("damage %+v, want the stream's tail reported lost", rep.Damage)
	}
	want := fmt.Sprintf("%s (%d bytes)", filepath.Base(wal), half)
	found := false
	for _, f := range rep.WALFiles {
		found = found || f == want
	}
	if !found {
		t.Fatalf("report names WAL files %q, want %q among them", rep.WALFiles, want)
	}
}

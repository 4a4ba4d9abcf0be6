package store

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
)

func openMem(t testing.TB, fs vfs.FS) *Store {
	t.Helper()
	s, err := Open(Options{Dir: "db", FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRecordRoundTrip(t *testing.T) {
	cases := []Msg{
		{Time: 1, Subject: []byte("a")},
		{Time: -5, Subject: []byte("a.b.c"), Header: []byte("NATS/1.0\r\nA: b\r\n\r\n"), Data: []byte("payload")},
		{Time: 1 << 60, Subject: bytes.Repeat([]byte("x"), 300), Data: bytes.Repeat([]byte{0}, 70000)},
	}
	for i, m := range cases {
		rec := AppendRecord(nil, &m)
		if len(rec) != RecordLen(&m) {
			t.Fatalf("%d: RecordLen %d, encoded %d", i, RecordLen(&m), len(rec))
		}
		var got Msg
		if err := DecodeRecord(rec, &got); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if got.Time != m.Time || !bytes.Equal(got.Subject, m.Subject) || !bytes.Equal(got.Header, m.Header) || !bytes.Equal(got.Data, m.Data) {
			t.Fatalf("%d: got %+v", i, got)
		}
	}
}

func TestRecordCorruption(t *testing.T) {
	rec := AppendRecord(nil, &Msg{Time: 7, Subject: []byte("s"), Data: []byte("data")})
	for i := range rec {
		bad := bytes.Clone(rec)
		bad[i] ^= 0x40
		var m Msg
		if err := DecodeRecord(bad, &m); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flipped byte %d: err %v", i, err)
		}
	}
	for n := 0; n < len(rec); n++ {
		var m Msg
		if err := DecodeRecord(rec[:n], &m); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("torn at %d: err %v", n, err)
		}
	}
}

func TestKeysOrder(t *testing.T) {
	// Big-endian sequences sort numerically; streams never interleave.
	a, b := msgKey(nil, 1, 255), msgKey(nil, 1, 256)
	if bytes.Compare(a, b) >= 0 {
		t.Fatal("sequence order")
	}
	_, hi := msgRange(1)
	if bytes.Compare(msgKey(nil, 1, ^uint64(0)), hi) >= 0 || bytes.Compare(msgKey(nil, 2, 0), hi) < 0 {
		t.Fatal("stream range bounds")
	}
	// Subject "a" and "a.b" stay apart in the index.
	lo, hi := subjRange(1, "a")
	k := subjKey(nil, 1, "a.b", 1)
	if bytes.Compare(k, lo) >= 0 && bytes.Compare(k, hi) < 0 {
		t.Fatal("a.b inside a's range")
	}
	if seq, ok := seqOfSubjKey(subjKey(nil, 3, "x.y", 42)); !ok || seq != 42 {
		t.Fatal("seqOfSubjKey")
	}
}

func put(t testing.TB, s *Store, id uint32, seq uint64, subj string) {
	t.Helper()
	err := s.Do(func(b *Batch) error {
		return b.PutMsg(id, &Msg{Seq: seq, Time: int64(seq), Subject: []byte(subj), Data: []byte(fmt.Sprint(seq))})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReadsAndIndex(t *testing.T) {
	s := openMem(t, vfs.NewMem())
	defer s.Close()
	for seq := uint64(1); seq <= 10; seq++ {
		put(t, s, 1, seq, fmt.Sprintf("s.%d", seq%3))
		put(t, s, 2, seq, "other") // a neighbouring stream must not leak in
	}
	r := s.Reader()
	m, err := r.Msg(1, 4)
	if err != nil || string(m.Subject) != "s.1" || string(m.Data) != "4" {
		t.Fatalf("Msg: %v %+v", err, m)
	}
	if _, err := r.Msg(1, 11); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	var seqs []uint64
	r.SubjectSeqs(1, "s.1", 0, func(seq uint64) bool { seqs = append(seqs, seq); return true })
	if fmt.Sprint(seqs) != "[1 4 7 10]" {
		t.Fatalf("subject seqs %v", seqs)
	}
	if last, err := r.LastSubjectSeq(1, "s.2"); err != nil || last != 8 {
		t.Fatalf("last %d %v", last, err)
	}
	var back []uint64
	r.ScanBack(1, 5, func(m *Msg) bool { back = append(back, m.Seq); return len(back) < 3 })
	if fmt.Sprint(back) != "[5 4 3]" {
		t.Fatalf("scan back %v", back)
	}
	err = s.Do(func(b *Batch) error {
		if err := b.DeleteMsg(1, 1, []byte("s.1")); err != nil {
			return err
		}
		// Reads through the batch see the delete before it commits.
		if m, err := b.Reader().Next(1, 1); err != nil || m.Seq != 2 {
			t.Errorf("next through batch: %v %+v", err, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := r.Next(1, 0); m.Seq != 2 {
		t.Fatalf("next after delete: %d", m.Seq)
	}
	if err := s.Do(func(b *Batch) error { return b.DropStream("x", 1) }); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(1, 0); !errors.Is(err, ErrNotFound) {
		t.Fatal("stream 1 survived its drop")
	}
	if m, err := r.Next(2, 0); err != nil || m.Seq != 1 {
		t.Fatal("dropping stream 1 touched stream 2")
	}
}

func TestCorruptRecordSkipped(t *testing.T) {
	s := openMem(t, vfs.NewMem())
	defer s.Close()
	for seq := uint64(1); seq <= 3; seq++ {
		put(t, s, 1, seq, "a")
	}
	if err := s.db.Set(msgKey(nil, 1, 2), []byte("garbage!garbage!"), nil); err != nil {
		t.Fatal(err)
	}
	var got []uint64
	if err := s.Reader().Scan(1, 0, func(m *Msg) bool { got = append(got, m.Seq); return true }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[1 3]" || s.CorruptRecords() != 1 {
		t.Fatalf("scan %v corrupt %d", got, s.CorruptRecords())
	}
	if _, err := s.Reader().Msg(1, 2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("corrupt read: %v", err)
	}
}

func TestGroupCommitSharesBatches(t *testing.T) {
	s := openMem(t, vfs.NewMem())
	defer s.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := uint64(0)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Do(func(b *Batch) error {
				mu.Lock()
				next++
				seq := next
				mu.Unlock()
				return b.PutMsg(1, &Msg{Seq: seq, Subject: []byte("x")})
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	n := 0
	s.Reader().Scan(1, 0, func(*Msg) bool { n++; return true })
	if n != 64 {
		t.Fatalf("stored %d", n)
	}
}

func TestClosedStoreRefusesOps(t *testing.T) {
	s := openMem(t, vfs.NewMem())
	s.Close()
	if err := s.Do(func(*Batch) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("err %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal("second close", err)
	}
}

// TestClosedStoreRefusesReads: a read after Close returns ErrClosed.
// Pebble panics when used after its Close; a goroutine that outlives its
// owner's shutdown must not end the process with it.
func TestClosedStoreRefusesReads(t *testing.T) {
	s := openMem(t, vfs.NewMem())
	put(t, s, 1, 1, "a")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := s.Reader()
	if _, err := r.Msg(1, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Msg after Close: %v", err)
	}
	if err := r.Scan(1, 1, func(*Msg) bool { return true }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Scan after Close: %v", err)
	}
	if _, err := r.Consumers(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Consumers after Close: %v", err)
	}
	if err := r.Metas(func(string, []byte, error) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Metas after Close: %v", err)
	}
	if _, err := r.Applied(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Applied after Close: %v", err)
	}
	if _, _, err := s.Snapshot(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Snapshot after Close: %v", err)
	}
	_ = s.Health()
}

func TestApplyErrorWritesNothingAndOthersCommit(t *testing.T) {
	s := openMem(t, vfs.NewMem())
	defer s.Close()
	boom := errors.New("boom")
	if err := s.Do(func(*Batch) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	put(t, s, 1, 1, "a")
	if _, err := s.Reader().Msg(1, 1); err != nil {
		t.Fatal(err)
	}
}

// A record failing its checksum is logged at error level with where it
// is: the stream's name and id, the sequence and the store directory.
func TestCorruptRecordLoggedWithLocation(t *testing.T) {
	var logs lockedLog
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Do(func(b *Batch) error { return b.PutMeta("ORDERS", 1, []byte(`{"id":1}`)) }); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		put(t, s, 1, seq, "a")
	}
	if err := s.db.Set(msgKey(nil, 1, 2), []byte("garbage!garbage!"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reader().Msg(1, 2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("corrupt read: %v", err)
	}
	out := logs.String()
	for _, want := range []string{"level=ERROR", `msg="skipping corrupt stored message"`, "stream=ORDERS", "stream_id=1", "seq=2", "dir=" + dir, "corrupt record"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// lockedLog is a log sink safe for the store's goroutines.
type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

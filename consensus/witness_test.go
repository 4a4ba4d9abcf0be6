package consensus

import (
	"bytes"
	"log/slog"
	"sort"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// witnessStore opens the database on fs with a witness, and group 1.
func witnessStore(t *testing.T, fs vfs.FS) (*pebble.DB, *Store, *GroupStorage) {
	t.Helper()
	db := openTestDB(t, fs)
	s := NewStore(db, nil)
	if err := s.UseWitness(fs, "raft.witness"); err != nil {
		t.Fatal(err)
	}
	g, _, err := s.OpenGroup(1)
	if err != nil {
		t.Fatal(err)
	}
	return db, s, g
}

// newestWAL returns the path of Pebble's newest write-ahead log.
func newestWAL(t *testing.T, fs vfs.FS) string {
	names, _ := fs.List("db")
	var logs []string
	for _, n := range names {
		if strings.HasSuffix(n, ".log") {
			logs = append(logs, n)
		}
	}
	if len(logs) == 0 {
		t.Fatal("no WAL")
	}
	sort.Strings(logs)
	return "db/" + logs[len(logs)-1]
}

func TestWitnessDetectsSyncedWritesPebbleDropped(t *testing.T) {
	fs := vfs.NewMem()
	fs.MkdirAll("db", 0o755)
	db, s, g := witnessStore(t, fs)
	for i := uint64(1); i <= 20; i++ {
		appendEnts(t, s, g, hard(1, 1, i), ent(i, 1, "payload"))
	}
	db.Close()

	// Cut the WAL's tail: Pebble takes it for a torn write and opens
	// without the last batches, with no error. Record checksums see
	// nothing wrong; the witness does.
	wal := newestWAL(t, fs)
	st, _ := fs.Stat(wal)
	f, _ := fs.OpenReadWrite(wal)
	buf := make([]byte, st.Size()-40)
	f.ReadAt(buf, 0)
	f.Close()
	fs.Remove(wal)
	f, _ = fs.Create(wal)
	f.Write(buf)
	f.Sync()
	f.Close()

	db = openTestDB(t, fs)
	defer db.Close()
	plain, _, err := NewStore(db, nil).OpenGroup(1)
	if err != nil {
		t.Fatal(err)
	}
	if li, _ := plain.LastIndex(); li >= 20 || plain.Recovering() {
		t.Fatalf("test setup: Pebble kept %d entries, recovering=%v; want a silent loss", li, plain.Recovering())
	}
	s2 := NewStore(db, nil)
	if err := s2.UseWitness(fs, "raft.witness"); err != nil {
		t.Fatal(err)
	}
	g, _, err = s2.OpenGroup(1)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Recovering() {
		t.Fatal("synced batches lost without the group knowing")
	}
}

func TestWitnessMissingMeansLoss(t *testing.T) {
	fs := vfs.NewMem()
	fs.MkdirAll("db", 0o755)
	// A new store lost nothing, however often it is opened.
	for range 2 {
		var logged bytes.Buffer
		db := openTestDB(t, fs)
		if err := NewStore(db, slog.New(slog.NewTextHandler(&logged, nil))).UseWitness(fs, "raft.witness"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if logged.Len() > 0 {
			t.Fatalf("an empty store taken for a loss: %s", logged.String())
		}
	}
	db, s, g := witnessStore(t, fs)
	appendEnts(t, s, g, hard(1, 1, 1), ent(1, 1, "x"))
	db.Close()
	// A clean reopen is no loss.
	db, _, g = witnessStore(t, fs)
	if g.Recovering() {
		t.Fatal("clean reopen taken for a loss")
	}
	db.Close()
	fs.Remove("raft.witness")
	db, _, g = witnessStore(t, fs)
	defer db.Close()
	if !g.Recovering() {
		t.Fatal("a store whose witness vanished is trusted")
	}
}

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/wisp-mq/wisp/stream/store"
)

// writeTestStore writes stream S (n messages, consumer DUR) into
// dir/<sub>/streams; keepWAL leaves the writes in the log.
func writeTestStore(t *testing.T, dir string, n int, keepWAL bool) string {
	t.Helper()
	sd := filepath.Join(dir, "streams")
	s, err := store.Open(store.Options{Dir: sd, KeepWALOnClose: keepWAL})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Do(func(b *store.Batch) error {
		id, err := b.NextStreamID()
		if err != nil {
			return err
		}
		if err := b.PutMeta("S", id, []byte(fmt.Sprintf(`{"id":%d,"config":{"name":"S"}}`, id))); err != nil {
			return err
		}
		return b.PutConsumerMeta(id, "DUR", []byte(`{"config":{"durable_name":"DUR"}}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= uint64(n); seq++ {
		m := &store.Msg{Seq: seq, Time: int64(seq), Subject: []byte("s"), Data: []byte("payload")}
		if err := s.Do(func(b *store.Batch) error { return b.PutMsg(1, m) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return sd
}

func runVerify(t *testing.T, dir string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runStore([]string{"verify", "-sd", dir}, &out, &errb)
	return code, out.String() + errb.String()
}

func TestStoreVerifyIntact(t *testing.T) {
	dir := t.TempDir()
	writeTestStore(t, dir, 50, false)
	writeTestStore(t, filepath.Join(dir, "accounts", "A"), 5, false)
	code, out := runVerify(t, dir)
	if code != exitOK {
		t.Fatalf("exit %d on an intact store:\n%s", code, out)
	}
	for _, want := range []string{"global account", "account A", "stream S: intact, 50 messages in seqs 1-50", "consumers: DUR", "result: intact (2 stores)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestStoreVerifyNamesTheDamage(t *testing.T) {
	dir := t.TempDir()
	sd := writeTestStore(t, dir, 200, true)
	logs, _ := filepath.Glob(filepath.Join(sd, "*.log"))
	sort.Strings(logs)
	wal := logs[len(logs)-1]
	fi, err := os.Stat(wal)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(wal, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	code, out := runVerify(t, dir)
	if code != exitDamaged {
		t.Fatalf("exit %d on a damaged store, want %d:\n%s", code, exitDamaged, out)
	}
	for _, want := range []string{"stream S: DAMAGED", "LOST: acknowledged seqs", "-200 are missing", "result: DAMAGED"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestStoreVerifyRefusesAStoreInUse(t *testing.T) {
	dir := t.TempDir()
	sd := writeTestStore(t, dir, 1, false)
	s, err := store.Open(store.Options{Dir: sd})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	code, out := runVerify(t, dir)
	if code != exitFailed || !strings.Contains(out, "in use by a running server") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

func TestStoreUsage(t *testing.T) {
	if code, out := runVerify(t, t.TempDir()); code != exitFailed || !strings.Contains(out, "no stream store") {
		t.Fatalf("empty dir: exit %d:\n%s", code, out)
	}
	var out, errb bytes.Buffer
	if code := runStore([]string{"repair"}, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "Usage: wisp store verify") {
		t.Fatalf("unknown command: exit %d, %q", code, errb.String())
	}
}

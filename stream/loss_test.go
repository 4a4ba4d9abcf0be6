package stream

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wisp-mq/wisp/stream/store"
)

// lockedBuffer is a log sink safe for the service's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// damageTail publishes 20 messages with ids to stream L (with durable DUR),
// stops the service, then removes messages 16-20 and DUR from the store
// behind the manifest's back, as a damaged write-ahead log does (the store
// tests do it with real file damage; here the stream layer's answer is
// under test).
func damageTail(t *testing.T, h *harness) {
	t.Helper()
	h.create(Config{Name: "L", Subjects: []string{"l"}, Duplicates: time.Hour})
	for i := 1; i <= 20; i++ {
		if a := h.pub("l", "x", "Nats-Msg-Id", fmt.Sprintf("id-%d", i)); a.Error != nil || a.Seq != uint64(i) {
			t.Fatalf("publish %d: %+v", i, a)
		}
	}
	if e := h.b.api(t, "CONSUMER.CREATE.L.DUR", map[string]any{"config": map[string]any{"durable_name": "DUR", "ack_policy": "explicit"}}, nil); e != nil {
		t.Fatal(e)
	}
	id := h.svc.lookup("L").id
	h.close()
	st, err := store.Open(store.Options{Dir: filepath.Join(h.dir, "streams")})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Do(func(b *store.Batch) error {
		for seq := uint64(16); seq <= 20; seq++ {
			if err := b.DeleteMsg(id, seq, []byte("l")); err != nil {
				return err
			}
		}
		return b.DropRawConsumer(id, "DUR")
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLossIsReportedAndSequencesNeverGoBack(t *testing.T) {
	logs := &lockedBuffer{}
	h := newHarnessWith(t, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	damageTail(t, h)
	h.b = newMemBroker()
	h.open()

	st := h.svc.Stats()
	if st.LostMessages != 5 || st.DamagedStreams != 1 {
		t.Fatalf("lost %d messages in %d streams, want 5 in 1", st.LostMessages, st.DamagedStreams)
	}
	out := logs.String()
	for _, want := range []string{"level=ERROR", "acknowledged data missing", "stream=L", "lost_first_seq=16", "lost_last_seq=20", "missing_consumers=[DUR]", "store_dir=", `wal_files="[0`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	si := h.info("L")
	if si.State.Msgs != 15 || si.State.FirstSeq != 1 || si.State.LastSeq != 20 || si.State.NumDeleted != 5 {
		t.Fatalf("state after the loss %+v: want 15 messages, 1..20, 5 deleted", si.State)
	}
	// De-duplication cannot vouch for the lost ids: it refuses them rather
	// than store a duplicate as new.
	if a := h.pub("l", "again", "Nats-Msg-Id", "id-18"); a.Error == nil || !strings.Contains(a.Error.Description, "duplicates") {
		t.Fatalf("lost id accepted: %+v", a)
	}
	// The ids of the messages that survived are still known.
	if a := h.pub("l", "again", "Nats-Msg-Id", "id-5"); a.Error != nil || !a.Duplicate || a.Seq != 5 {
		t.Fatalf("surviving id: %+v, want a duplicate of seq 5", a)
	}
	// A new message continues after the highest acknowledged sequence.
	if a := h.pub("l", "new"); a.Error != nil || a.Seq != 21 {
		t.Fatalf("new publish %+v, want seq 21", a)
	}
	// The durable is back (from its manifest definition), not silently gone.
	var ci consumerInfoResponse
	if e := h.b.api(t, "CONSUMER.INFO.L.DUR", nil, &ci); e != nil {
		t.Fatalf("durable lost: %v", e)
	}
	// The loss was accepted once; the next start is quiet and still right.
	h.restart()
	if st := h.svc.Stats(); st.LostMessages != 0 {
		t.Fatalf("accepted loss reported again: %d", st.LostMessages)
	}
	if si := h.info("L"); si.State.LastSeq != 21 || si.State.Msgs != 16 {
		t.Fatalf("state after restart %+v", si.State)
	}
	if a := h.pub("l", "again", "Nats-Msg-Id", "id-18"); a.Error == nil {
		t.Fatalf("lost id accepted after restart within the window: %+v", a)
	}
}

func TestRefuseKeepsADamagedStreamOffline(t *testing.T) {
	h := newHarnessWith(t, Options{OnDamage: RefuseDamaged})
	damageTail(t, h)
	h.b = newMemBroker()
	h.open()
	for _, subj := range []string{"STREAM.INFO.L", "STREAM.CREATE.L", "CONSUMER.INFO.L.DUR", "CONSUMER.DURABLE.CREATE.L.X"} {
		e := h.b.api(t, subj, Config{Name: "L", Subjects: []string{"l"}}, nil)
		if e == nil || e.ErrCode != 10118 || !strings.Contains(e.Description, "16 to 20") {
			t.Fatalf("%s: %v, want stream offline naming the lost range", subj, e)
		}
	}
	if st := h.svc.Stats(); st.OfflineStreams["L"] == "" || st.LostMessages != 5 {
		t.Fatalf("stats %+v", st)
	}
	// Nothing was changed: starting with "serve" accepts the loss then.
	h.close()
	h.opts.OnDamage = ServeDamaged
	h.b = newMemBroker()
	h.open()
	if si := h.info("L"); si.State.LastSeq != 20 || si.State.Msgs != 15 {
		t.Fatalf("state once served %+v", si.State)
	}
}

// TestUnreadableStoreIsNotAccepted: when Pebble cannot read a stream's
// data (here a flipped byte in every 512 of the sstable holding it, so
// that every block fails its checksum), what is missing is unknown: even
// under "serve" nothing is rewritten and no loss is recorded as accepted.
func TestUnreadableStoreIsNotAccepted(t *testing.T) {
	h := newHarness(t)
	h.create(Config{Name: "U", Subjects: []string{"u"}})
	for i := 0; i < 300; i++ {
		h.pub("u", strings.Repeat("x", 100))
	}
	h.close()
	sd := filepath.Join(h.dir, "streams")
	ssts, _ := filepath.Glob(filepath.Join(sd, "*.sst"))
	if len(ssts) == 0 {
		t.Fatal("no sstable after a clean stop")
	}
	for _, p := range ssts {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewSource(42))
		for i := 0; i < len(b)-64; i += 512 {
			b[i+rng.Intn(64)] ^= 0xff
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Every block is bad, so not even the stream definitions can be
	// listed: the service refuses to start, naming the error.
	svc, err := New(newMemBroker(), withPebble(Options{StoreDir: h.dir}))
	if err == nil {
		svc.Close()
		t.Fatal("started on a store whose definitions cannot be read")
	}
	if !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("error does not say why: %v", err)
	}
	for _, f := range []string{"wisp-manifest.0", "wisp-manifest.1"} {
		b, err := os.ReadFile(filepath.Join(sd, f))
		if err != nil {
			continue
		}
		m, err := store.DecodeManifest(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range m.Streams {
			if len(s.Lost) > 0 {
				t.Fatalf("an unreadable stream's loss was recorded as accepted: %s %+v", s.Name, s.Lost)
			}
		}
	}
}

// reportingStore is a Store whose open report a test writes.
type reportingStore struct {
	Store
	rep store.OpenReport
}

func (r reportingStore) OpenReport() store.OpenReport { return r.rep }

// TestUnreadableIsNotReportedLost: when Pebble cannot read part of a
// stream's data (its report carries a read error), the sequences past what
// it could read are not known to be lost: they are reported as unverified,
// not counted as lost messages nor called missing, and the stream stays
// offline even under "serve", with nothing accepted into the manifest.
func TestUnreadableIsNotReportedLost(t *testing.T) {
	h := newHarness(t)
	h.create(Config{Name: "L", Subjects: []string{"l"}})
	for i := 0; i < 20; i++ {
		h.pub("l", "x")
	}
	id := h.svc.lookup("L").id
	h.close()

	logs := &lockedBuffer{}
	h.opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	h.opts.OpenStore = func(kind Storage, onReopen func()) (Store, error) {
		opts := h.opts
		opts.StoreDir = h.dir
		st, err := PebbleStores(opts)(kind, onReopen)
		if err != nil || kind != FileStorage {
			return st, err
		}
		rep := st.OpenReport()
		rep.Damage = append(rep.Damage, store.Damage{StreamID: id, Stream: "L", FoundLast: 0, LastSeq: 20,
			ReadError: "pebble/table: invalid table 000005 (checksum mismatch at 8595/2092)"})
		return reportingStore{st, rep}, nil
	}
	h.b = newMemBroker()
	h.open()

	st := h.svc.Stats()
	if st.LostMessages != 0 || st.DamagedStreams != 1 {
		t.Fatalf("lost %d messages in %d damaged streams, want 0 lost in 1", st.LostMessages, st.DamagedStreams)
	}
	reason := st.OfflineStreams["L"]
	if !strings.Contains(reason, "cannot be read") || !strings.Contains(reason, "1 to 20 cannot be verified") || strings.Contains(reason, "missing") {
		t.Fatalf("offline reason %q", reason)
	}
	out := logs.String()
	for _, want := range []string{"level=ERROR", `msg="stream data cannot be read from the store"`, "stream=L",
		"unverified_first_seq=1", "unverified_last_seq=20", "checksum mismatch"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "acknowledged data missing") || strings.Contains(out, "lost_messages") {
		t.Errorf("unreadable data logged as lost:\n%s", out)
	}
	if e := h.b.api(t, "STREAM.INFO.L", nil, nil); e == nil || e.ErrCode != 10118 {
		t.Fatalf("STREAM.INFO.L: %v, want the stream offline", e)
	}
	if lost := h.svc.file.Lost(id); len(lost) > 0 {
		t.Fatalf("the unreadable range was accepted as lost: %+v", lost)
	}
}

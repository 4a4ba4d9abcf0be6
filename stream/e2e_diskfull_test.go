package stream_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/cockroachdb/pebble/vfs/errorfs"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/stream"
)

// fakeDisk is a store.SpaceSource whose free space the test sets.
type fakeDisk struct{ free atomic.Uint64 }

func (d *fakeDisk) DiskSpace(string) (uint64, uint64, error) { return d.free.Load(), 1 << 30, nil }

// walFault fails writes to Pebble's write-ahead logs with ENOSPC while on.
type walFault struct{ on atomic.Bool }

func (f *walFault) MaybeError(op errorfs.Op, path string) error {
	if f.on.Load() && op == errorfs.OpFileWrite && strings.HasSuffix(path, ".log") {
		return syscall.ENOSPC
	}
	return nil
}

// coreStillWorks checks plain pub/sub and a stream read on n.
func coreStillWorks(t *testing.T, n *node, streamName string) {
	t.Helper()
	sub, err := n.nc.SubscribeSync("core.check")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := n.nc.Publish("core.check", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("core messaging while the store refuses writes: %v", err)
	}
	s, err := n.js.Stream(ctx(t), streamName)
	if err != nil {
		t.Fatalf("stream info while the store refuses writes: %v", err)
	}
	if _, err := s.GetMsg(ctx(t), 1); err != nil {
		t.Fatalf("reading a stored message while the store refuses writes: %v", err)
	}
}

// publishUntilOK retries a publish until it is acknowledged.
func publishUntilOK(t *testing.T, js jetstream.JetStream, subj string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := js.Publish(ctx(t), subj, []byte("back"))
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publishing did not resume: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDiskFullRefusesWith10023AndResumes(t *testing.T) {
	disk := &fakeDisk{}
	disk.free.Store(1 << 30)
	n := startNodeWith(t, stream.Options{StoreDir: t.TempDir(), Space: disk, Headroom: 8 << 20})
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "FULL", Subjects: []string{"full.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "SPARE", Subjects: []string{"spare"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.js.Publish(ctx(t), "full.a", []byte("one")); err != nil {
		t.Fatal(err)
	}
	disk.free.Store(9 << 20) // below headroom + reserve
	time.Sleep(300 * time.Millisecond)
	_, err := n.js.Publish(ctx(t), "full.a", []byte("two"))
	if code := apiErrCode(err); code != 10023 {
		t.Fatalf("publish on a full disk: %v (code %d), want 10023", err, code)
	}
	_, err = n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "MORE", Subjects: []string{"more"}})
	if code := apiErrCode(err); code != 10023 {
		t.Fatalf("stream create on a full disk: %v (code %d), want 10023", err, code)
	}
	_, err = n.js.CreateOrUpdateConsumer(ctx(t), "FULL", jetstream.ConsumerConfig{Durable: "C"})
	if code := apiErrCode(err); code != 10023 {
		t.Fatalf("consumer create on a full disk: %v (code %d), want 10023", err, code)
	}
	// Memory streams do not use the disk; deleting a stream frees space,
	// so both pass.
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "MEM", Subjects: []string{"mem"}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatalf("memory stream create on a full disk: %v", err)
	}
	if err := n.js.DeleteStream(ctx(t), "SPARE"); err != nil {
		t.Fatalf("stream delete on a full disk: %v", err)
	}
	coreStillWorks(t, n, "FULL")
	disk.free.Store(1 << 30)
	publishUntilOK(t, n.js, "full.a")
	info, err := n.js.Stream(ctx(t), "FULL")
	if err != nil {
		t.Fatal(err)
	}
	if st := info.CachedInfo().State; st.Msgs != 2 || st.LastSeq != 2 {
		t.Fatalf("state after resuming: %+v; want the refused message not counted", st)
	}
}

func TestWALWriteFaultRefusesWith10023AndRecovers(t *testing.T) {
	fault := &walFault{}
	n := startNodeWith(t, stream.Options{StoreDir: "/data", FS: errorfs.Wrap(vfs.NewMem(), fault)})
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "W", Subjects: []string{"w"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.js.Publish(ctx(t), "w", []byte("one")); err != nil {
		t.Fatal(err)
	}
	fault.on.Store(true)
	for i := 0; i < 3; i++ {
		_, err := n.js.Publish(ctx(t), "w", []byte("lost"))
		if code := apiErrCode(err); code != 10023 {
			t.Fatalf("publish %d with the log failing: %v (code %d), want 10023", i, err, code)
		}
	}
	coreStillWorks(t, n, "W")
	fault.on.Store(false)
	publishUntilOK(t, n.js, "w")
	info, err := n.js.Stream(ctx(t), "W")
	if err != nil {
		t.Fatal(err)
	}
	if st := info.CachedInfo().State; st.Msgs != 2 {
		t.Fatalf("state after recovery: %+v", st)
	}
}

func TestQuotaLimitsStreamsAndPublishes(t *testing.T) {
	q := stream.NewQuota(64<<10, 16<<10)
	n := startNodeWith(t, stream.Options{StoreDir: t.TempDir(), Quotas: []*stream.Quota{q}})
	_, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "BIG", Subjects: []string{"big"}, MaxBytes: 1 << 20})
	if code := apiErrCode(err); code != 10047 {
		t.Fatalf("stream with max_bytes over max_file_store: %v (code %d), want 10047", err, code)
	}
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "Q", Subjects: []string{"q"}}); err != nil {
		t.Fatal(err)
	}
	info, err := n.js.AccountInfo(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "M", Subjects: []string{"m"}, Storage: jetstream.MemoryStorage, MaxBytes: 32 << 10})
	if code := apiErrCode(err); code != 10028 {
		t.Fatalf("memory stream with max_bytes over max_memory_store: %v (code %d), want 10028", err, code)
	}
	if info.Limits.MaxStore != 64<<10 || info.Limits.MaxMemory != 16<<10 {
		t.Fatalf("account limits %+v", info.Limits)
	}
	payload := make([]byte, 1000)
	var refused error
	for i := 0; i < 200 && refused == nil; i++ {
		_, refused = n.js.Publish(ctx(t), "q", payload)
	}
	// A publish over the server's limit gets what nats-server answers
	// then: 503 insufficient resources, not the stream create's 10047.
	if code := apiErrCode(refused); code != 10023 {
		t.Fatalf("publish over max_file_store: %v (code %d), want 10023", refused, code)
	}
	info, err = n.js.AccountInfo(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.Store > 64<<10 || info.Store < 60<<10 {
		t.Fatalf("usage %d after filling a %d byte quota", info.Store, 64<<10)
	}
	coreStillWorks(t, n, "Q")
	// Deleting the stream gives the bytes back.
	if err := n.js.DeleteStream(ctx(t), "Q"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "Q2", Subjects: []string{"q"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.js.Publish(ctx(t), "q", payload); err != nil {
		t.Fatalf("publish after freeing the quota: %v", err)
	}
	// Memory streams count against max_memory_store alike.
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "MQ", Subjects: []string{"mq"}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	refused = nil
	for i := 0; i < 100 && refused == nil; i++ {
		_, refused = n.js.Publish(ctx(t), "mq", payload)
	}
	if code := apiErrCode(refused); code != 10023 {
		t.Fatalf("publish over max_memory_store: %v (code %d), want 10023", refused, code)
	}
}

// An account's own limit refuses a publish as nats-server does: 400 /
// 10002 "resource limits exceeded for account", for file and memory
// streams, and is named even when the server's limit is full too.
func TestAccountQuotaRefusesPublishWith10002(t *testing.T) {
	serverQuota := stream.NewQuota(0, 0)
	accountQuota := stream.NewAccountQuota(32<<10, 16<<10)
	n := startNodeWith(t, stream.Options{StoreDir: t.TempDir(), Quotas: []*stream.Quota{serverQuota, accountQuota}})
	payload := make([]byte, 1000)
	for _, sc := range []jetstream.StreamConfig{
		{Name: "F", Subjects: []string{"f"}},
		{Name: "M", Subjects: []string{"m"}, Storage: jetstream.MemoryStorage},
	} {
		if _, err := n.js.CreateStream(ctx(t), sc); err != nil {
			t.Fatal(err)
		}
		var refused error
		sent := 0
		for ; sent < 100 && refused == nil; sent++ {
			_, refused = n.js.Publish(ctx(t), sc.Subjects[0], payload)
		}
		var apiErr *jetstream.APIError
		if !errors.As(refused, &apiErr) || apiErr.ErrorCode != 10002 || apiErr.Code != 400 ||
			apiErr.Description != "resource limits exceeded for account" {
			t.Fatalf("%s: publish %d over the account's limit: %v, want 400 / 10002", sc.Name, sent, refused)
		}
	}
	serverQuota.SetLimits(1, 1) // now the server's limit is full as well
	if _, err := n.js.Publish(ctx(t), "f", payload); apiErrCode(err) != 10002 {
		t.Fatalf("both limits full: %v, want the account's 10002", err)
	}
	accountQuota.SetLimits(0, 0)
	if _, err := n.js.Publish(ctx(t), "f", payload); apiErrCode(err) != 10023 {
		t.Fatalf("the server's limit alone full: %v, want 10023", err)
	}
}

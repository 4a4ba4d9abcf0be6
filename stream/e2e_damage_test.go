package stream_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/wisp-mq/wisp/stream/store"
)

// syncBuffer collects a child process's stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// manifestLastSeq is the highest last_seq any manifest generation in dir
// records for stream name.
func manifestLastSeq(dir, name string) uint64 {
	var last uint64
	for _, f := range []string{"wisp-manifest.0", "wisp-manifest.1"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			continue
		}
		if m, err := store.DecodeManifest(b); err == nil {
			for _, s := range m.Streams {
				if s.Name == name && s.LastSeq > last {
					last = s.LastSeq
				}
			}
		}
	}
	return last
}

// TestProcessDamagedLogIsReported is the operator's report, replayed on the
// real binary: acknowledged publishes with ids and a durable consumer, the
// process killed, the newest write-ahead log cut in half. The restarted
// server must log the loss, keep the stream's last sequence, keep the
// durable, and refuse the lost ids instead of taking them as new.
func TestProcessDamagedLogIsReported(t *testing.T) {
	bin, err := buildWisp()
	if err != nil {
		t.Fatal(err)
	}
	dir, port := t.TempDir(), freePort(t)
	const n = 300
	cmd, js, nc := runWisp(t, bin, dir, port)
	if _, err := js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx(t), "ORDERS", jetstream.ConsumerConfig{Durable: "DUR", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if _, err := js.Publish(ctx(t), "orders.x", []byte("m"), jetstream.WithMsgID(fmt.Sprintf("id-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	sd := filepath.Join(dir, "streams")
	for deadline := time.Now().Add(20 * time.Second); manifestLastSeq(sd, "ORDERS") < n; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the manifest never recorded the acknowledged messages")
		}
	}
	nc.Close()
	cmd.Process.Kill()
	cmd.Wait()

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

	stderr := &syncBuffer{}
	port = freePort(t)
	cmd = exec.Command(bin, "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", dir)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var info *jetstream.StreamInfo
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if nc, err = nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", port)); err == nil {
			js, _ = jetstream.New(nc)
			var s jetstream.Stream
			if s, err = js.Stream(ctx(t), "ORDERS"); err == nil {
				info = s.CachedInfo()
				break
			}
			nc.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted server: %v\n%s", err, stderr.String())
		}
	}
	defer nc.Close()
	if !strings.Contains(stderr.String(), `level=ERROR msg="acknowledged data missing from the store" component=stream account="" stream=ORDERS`) {
		t.Fatalf("no loss reported:\n%s", stderr.String())
	}
	if cut := fmt.Sprintf("%s (%d bytes)", filepath.Base(wal), fi.Size()/2); !strings.Contains(stderr.String(), cut) {
		t.Fatalf("the loss report does not name the cut log %q:\n%s", cut, stderr.String())
	}
	st := info.State
	if st.LastSeq != n || st.Msgs >= n || st.NumDeleted != int(n-st.Msgs) {
		t.Fatalf("state after the damage %+v: want last seq %d, a gap, honest num_deleted", st, n)
	}
	ack, err := js.Publish(ctx(t), "orders.x", []byte("new"))
	if err != nil || ack.Sequence != n+1 {
		t.Fatalf("new publish: %+v, %v; want seq %d", ack, err, n+1)
	}
	if _, err := js.Publish(ctx(t), "orders.x", []byte("m"), jetstream.WithMsgID(fmt.Sprintf("id-%d", n))); err == nil {
		t.Fatal("the id of a lost message was accepted as new")
	}
	if _, err := js.Consumer(ctx(t), "ORDERS", "DUR"); err != nil {
		t.Fatalf("durable gone: %v", err)
	}
}

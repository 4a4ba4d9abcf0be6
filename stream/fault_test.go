package stream

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeSpace is a store.SpaceSource whose free space the test sets. The
// store's reserve file takes its size from it, as on a real disk: else
// the store, writing its reserve back while space is low, would find as
// much free as before and count the reserve as free space too.
type fakeSpace struct{ free atomic.Uint64 }

func (d *fakeSpace) DiskSpace(dir string) (uint64, uint64, error) {
	free := d.free.Load()
	if fi, err := os.Stat(filepath.Join(dir, "wisp-space-reserve")); err == nil {
		free -= min(free, uint64(fi.Size()))
	}
	return free, 1 << 40, nil
}

// TestFailedCommitFaultsTheStream: an operation applied to the state in
// memory whose batch then does not commit (here: it does not fit in the
// space left) is not undone operation by operation; the stream is
// faulted and rebuilt from its store, so a consumer whose creation did
// not commit goes again, and a refused message leaves no trace: the next
// message takes its sequence.
func TestFailedCommitFaultsTheStream(t *testing.T) {
	const headroom = 1 << 20
	disk := &fakeSpace{}
	disk.free.Store(1 << 30)
	h := newHarnessWith(t, Options{Space: disk, Headroom: headroom})
	h.create(Config{Name: "F", Subjects: []string{"f.>"}})
	for i := 0; i < 3; i++ {
		if a := h.pub("f.a", "x"); a.Error != nil {
			t.Fatal(a.Error)
		}
	}
	route := func(api, body string) string {
		b, _ := json.Marshal(h.svc.route(api, []byte(body)))
		return string(b)
	}
	if r := route("CONSUMER.CREATE.F.C", `{"stream_name":"F","config":{"durable_name":"C","ack_policy":"explicit"}}`); strings.Contains(r, `"error"`) {
		t.Fatal(r)
	}
	// Room for small writes, not for a 4 KiB consumer definition (a
	// batch needs twice its size), beyond the headroom and the reserve
	// file the store counts as used (store/space.go). The disk watch
	// looks again within 250ms of real time.
	lowDisk := func() {
		disk.free.Store(headroom + headroom/2 + 3000)
		time.Sleep(300 * time.Millisecond)
	}
	waitPublish := func(want uint64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			a := h.pub("f.a", "back")
			if a.Error == nil {
				if a.Seq != want {
					t.Fatalf("published at sequence %d, want %d", a.Seq, want)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("publishing did not resume: %v", a.Error)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	lowDisk()
	body := `{"stream_name":"F","config":{"durable_name":"D","ack_policy":"explicit","description":"` + strings.Repeat("d", 4000) + `"}}`
	if r := route("CONSUMER.CREATE.F.D", body); !strings.Contains(r, `"err_code":10023`) {
		t.Fatalf("consumer create that does not fit: %s", r)
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.svc.lookup("F").cons.get("D") != nil {
		if time.Now().After(deadline) {
			t.Fatal("the consumer whose creation did not commit is still there")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if h.svc.lookup("F").cons.get("C") == nil {
		t.Fatal("the consumer created before is gone")
	}
	if h.svc.file.Health().Refused != 0 {
		t.Fatal("the consumer create was refused before it was applied: the test tests nothing")
	}
	disk.free.Store(1 << 30)
	waitPublish(4)
	lowDisk()
	refused := h.svc.file.Health().Refused
	if a := h.pub("f.a", strings.Repeat("y", 8000)); a.Error == nil {
		t.Fatalf("a message that does not fit was stored at %d", a.Seq)
	}
	if h.svc.file.Health().Refused != refused {
		t.Fatal("the publish was refused before it was applied: the test tests nothing")
	}
	disk.free.Store(1 << 30)
	waitPublish(5)
	wantState(t, h.info("F"), 5, 1, 5)
}

package stream_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/stream"
)

// snapResp is the snapshot reply with nats-server's field names.
type snapResp struct {
	Type   string           `json:"type"`
	Error  *stream.APIError `json:"error"`
	Config json.RawMessage  `json:"config"`
	State  struct {
		Msgs    uint64 `json:"messages"`
		LastSeq uint64 `json:"last_seq"`
	} `json:"state"`
}

// takeSnapshot drives STREAM.SNAPSHOT as jsm.go does: it acknowledges
// every chunk that has a reply subject and stops at the empty message,
// returning the reply, the archive and the final Status header.
func takeSnapshot(t *testing.T, nc *nats.Conn, name string, req map[string]any) (snapResp, []byte, string) {
	t.Helper()
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if req == nil {
		req = map[string]any{}
	}
	if _, ok := req["deliver_subject"]; !ok {
		req["deliver_subject"] = inbox
	}
	body, _ := json.Marshal(req)
	m, err := nc.Request("$JS.API.STREAM.SNAPSHOT."+name, body, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var r snapResp
	if err := json.Unmarshal(m.Data, &r); err != nil {
		t.Fatalf("snapshot reply %q: %v", m.Data, err)
	}
	if r.Error != nil {
		return r, nil, ""
	}
	var archive []byte
	for {
		c, err := sub.NextMsg(20 * time.Second)
		if err != nil {
			t.Fatalf("snapshot chunk: %v", err)
		}
		if len(c.Data) == 0 {
			return r, archive, c.Header.Get("Status")
		}
		archive = append(archive, c.Data...)
		if c.Reply != "" {
			if err := c.Respond(nil); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// restoreArchive drives STREAM.RESTORE as jsm.go does, in chunks of
// chunk bytes, and returns the JSON that ended it: the closing message's
// reply, or a chunk's error reply.
func restoreArchive(t *testing.T, nc *nats.Conn, name string, cfg json.RawMessage, archive []byte, chunk int) []byte {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"config": cfg, "state": map[string]any{}})
	m, err := nc.Request("$JS.API.STREAM.RESTORE."+name, body, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Error   *stream.APIError `json:"error"`
		Deliver string           `json:"deliver_subject"`
	}
	if err := json.Unmarshal(m.Data, &r); err != nil {
		t.Fatal(err)
	}
	if r.Error != nil {
		return m.Data
	}
	for len(archive) > 0 {
		part := archive[:min(chunk, len(archive))]
		archive = archive[len(part):]
		a, err := nc.Request(r.Deliver, part, 20*time.Second)
		if err != nil {
			t.Fatalf("restore chunk: %v", err)
		}
		if len(a.Data) > 0 {
			return a.Data
		}
	}
	final, err := nc.Request(r.Deliver, nil, 30*time.Second)
	if err != nil {
		t.Fatalf("restore end: %v", err)
	}
	return final.Data
}

// createResp is the final restore reply.
type createResp struct {
	Type   string             `json:"type"`
	Error  *stream.APIError   `json:"error"`
	State  stream.StreamState `json:"state"`
	Config json.RawMessage    `json:"config"`
}

func decodeCreate(t *testing.T, b []byte) createResp {
	t.Helper()
	var r createResp
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("restore reply %q: %v", b, err)
	}
	return r
}

// fillStream makes stream S (subjects s.>) with count messages (at least
// 6), some with headers, deletes message 3, and adds a durable pull
// consumer C that received 5 messages and acknowledged 2 of them.
func fillStream(t *testing.T, n *node, count int) {
	t.Helper()
	s, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= count; i++ {
		m := nats.NewMsg(fmt.Sprintf("s.%d", i%7))
		m.Data = []byte(fmt.Sprintf("payload %d", i))
		if i%3 == 0 {
			m.Header.Set("X-Seq", fmt.Sprint(i))
		}
		if _, err := n.js.PublishMsg(ctx(t), m); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteMsg(ctx(t), 3); err != nil {
		t.Fatal(err)
	}
	c, err := s.CreateOrUpdateConsumer(ctx(t), jetstream.ConsumerConfig{Durable: "C", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(5, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for m := range batch.Messages() {
		if i < 2 {
			if err := m.DoubleAck(ctx(t)); err != nil {
				t.Fatal(err)
			}
		}
		i++
	}
	if i != 5 {
		t.Fatalf("fetched %d messages, want 5", i)
	}
}

// streamMsgs reads every message of a stream by sequence.
func streamMsgs(t *testing.T, js jetstream.JetStream, name string) []*jetstream.RawStreamMsg {
	t.Helper()
	s, err := js.Stream(ctx(t), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx(t), seq)
		if err != nil {
			continue
		}
		out = append(out, m)
	}
	return out
}

func sameMsgs(t *testing.T, a, b []*jetstream.RawStreamMsg) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d messages, want %d", len(b), len(a))
	}
	for i := range a {
		if a[i].Sequence != b[i].Sequence || a[i].Subject != b[i].Subject || !bytes.Equal(a[i].Data, b[i].Data) ||
			a[i].Header.Get("X-Seq") != b[i].Header.Get("X-Seq") || !a[i].Time.Equal(b[i].Time) {
			t.Fatalf("message %d differs: %+v, want %+v", i, b[i], a[i])
		}
	}
}

// TestSnapshotRestoreRoundTrip: a stream with a deleted message, headers
// and a consumer with acknowledged and pending messages comes back the
// same after a snapshot, a delete and a restore.
func TestSnapshotRestoreRoundTrip(t *testing.T) {
	n := startNode(t, t.TempDir())
	fillStream(t, n, 40)
	want := streamMsgs(t, n.js, "S")
	cinfo, err := n.js.Consumer(ctx(t), "S", "C")
	if err != nil {
		t.Fatal(err)
	}
	ci, _ := cinfo.Info(ctx(t))

	r, archive, status := takeSnapshot(t, n.nc, "S", nil)
	if r.Error != nil || r.Type != "io.nats.jetstream.api.v1.stream_snapshot_response" || status != "204" {
		t.Fatalf("snapshot: %+v status %q", r, status)
	}
	if r.State.Msgs != 39 || r.State.LastSeq != 40 {
		t.Fatalf("snapshot state %+v, want 39 messages up to 40", r.State)
	}
	if err := n.js.DeleteStream(ctx(t), "S"); err != nil {
		t.Fatal(err)
	}
	fin := decodeCreate(t, restoreArchive(t, n.nc, "S", r.Config, archive, 1024))
	if fin.Error != nil || fin.Type != "io.nats.jetstream.api.v1.stream_create_response" {
		t.Fatalf("restore: %+v", fin)
	}
	if fin.State.Msgs != 39 || fin.State.LastSeq != 40 || fin.State.FirstSeq != 1 {
		t.Fatalf("restored state %+v", fin.State)
	}
	sameMsgs(t, want, streamMsgs(t, n.js, "S"))
	c, err := n.js.Consumer(ctx(t), "S", "C")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := c.Info(ctx(t))
	if got.Delivered.Stream != ci.Delivered.Stream || got.Delivered.Consumer != ci.Delivered.Consumer ||
		got.AckFloor.Stream != ci.AckFloor.Stream || got.AckFloor.Consumer != ci.AckFloor.Consumer || got.NumAckPending != 3 || got.NumPending != ci.NumPending {
		t.Fatalf("restored consumer %+v %+v %d %d, want %+v %+v %d %d", got.Delivered, got.AckFloor, got.NumAckPending,
			got.NumPending, ci.Delivered, ci.AckFloor, ci.NumAckPending, ci.NumPending)
	}
	// The restored stream takes publishes after its last sequence.
	ack, err := n.js.Publish(ctx(t), "s.new", []byte("after"))
	if err != nil || ack.Sequence != 41 {
		t.Fatalf("publish after restore: %+v %v", ack, err)
	}
}

// TestSnapshotWithoutConsumers: no_consumers leaves them out.
func TestSnapshotWithoutConsumers(t *testing.T) {
	n := startNode(t, t.TempDir())
	fillStream(t, n, 10)
	r, archive, status := takeSnapshot(t, n.nc, "S", map[string]any{"no_consumers": true, "chunk_size": 1024, "window_size": 2048})
	if status != "204" {
		t.Fatalf("status %q", status)
	}
	if err := n.js.DeleteStream(ctx(t), "S"); err != nil {
		t.Fatal(err)
	}
	if fin := decodeCreate(t, restoreArchive(t, n.nc, "S", r.Config, archive, 64*1024)); fin.Error != nil || fin.State.Consumers != 0 {
		t.Fatalf("restore: %+v", fin)
	}
}

// TestSnapshotConsistentUnderPublishing: a snapshot taken while
// publishers keep going holds exactly the messages up to the sequence its
// reply reports, with no gap.
func TestSnapshotConsistentUnderPublishing(t *testing.T) {
	n := startNode(t, t.TempDir())
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if _, err := n.js.Publish(ctx(t), "s.x", fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load() && i < 100000; i++ {
			if _, err := n.js.Publish(ctx(t), "s.y", []byte("more")); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	r, archive, status := takeSnapshot(t, n.nc, "S", nil)
	stop.Store(true)
	wg.Wait()
	if status != "204" || r.State.Msgs != r.State.LastSeq {
		t.Fatalf("status %q state %+v", status, r.State)
	}
	cfg := json.RawMessage(`{"name":"R","subjects":["r.>"]}`)
	fin := decodeCreate(t, restoreArchive(t, n.nc, "R", cfg, archive, 64*1024))
	if fin.Error != nil || fin.State.Msgs != r.State.Msgs || fin.State.LastSeq != r.State.LastSeq || fin.State.FirstSeq != 1 {
		t.Fatalf("restored %+v, snapshot said %+v", fin, r.State)
	}
}

// TestRestoreRefusesDamagedArchive: a changed byte, a cut, garbage or
// trailing data make the restore fail with 10062, and nothing of it
// remains: the stream does not exist and a good restore afterwards holds
// exactly the archive's messages.
func TestRestoreRefusesDamagedArchive(t *testing.T) {
	n := startNode(t, t.TempDir())
	fillStream(t, n, 300)
	r, archive, _ := takeSnapshot(t, n.nc, "S", nil)
	if err := n.js.DeleteStream(ctx(t), "S"); err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(archive)
	flipped[len(flipped)/2] ^= 0x40
	cases := map[string][]byte{
		"flipped byte":  flipped,
		"cut in half":   archive[:len(archive)/2],
		"cut at end":    archive[:len(archive)-3],
		"garbage":       bytes.Repeat([]byte("not an archive "), 100),
		"trailing data": append(bytes.Clone(archive), archive...),
		"empty":         nil,
	}
	for name, data := range cases {
		fin := decodeCreate(t, restoreArchive(t, n.nc, "S", r.Config, data, 512))
		if fin.Error == nil || fin.Error.ErrCode != 10062 {
			t.Fatalf("%s: restore answered %+v, want error 10062", name, fin)
		}
		t.Logf("%s: %s", name, fin.Error.Description)
		if _, err := n.js.Stream(ctx(t), "S"); err == nil {
			t.Fatalf("%s: a stream exists after a failed restore", name)
		}
	}
	fin := decodeCreate(t, restoreArchive(t, n.nc, "S", r.Config, archive, 4096))
	if fin.Error != nil || fin.State.Msgs != 299 || fin.State.Consumers != 1 {
		t.Fatalf("good restore after failures: %+v", fin)
	}
	st := n.svc.Stats()
	if st.Storage != fin.State.Bytes {
		t.Fatalf("file streams hold %d bytes, the restored stream %d: a failed restore left bytes counted", st.Storage, fin.State.Bytes)
	}
}

// TestSnapshotRestoreAPIErrors: the requests' errors, with nats-server's
// codes.
func TestSnapshotRestoreAPIErrors(t *testing.T) {
	n := startNode(t, t.TempDir())
	fillStream(t, n, 6)
	req := func(subject, body string) *stream.APIError {
		t.Helper()
		m, err := n.nc.Request(subject, []byte(body), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Error *stream.APIError `json:"error"`
		}
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		return r.Error
	}
	for _, c := range []struct {
		subject, body string
		code          uint16
	}{
		{"$JS.API.STREAM.SNAPSHOT.S", "", 10003},
		{"$JS.API.STREAM.SNAPSHOT.NOPE", `{"deliver_subject":"x"}`, 10059},
		{"$JS.API.STREAM.SNAPSHOT.S", `{"deliver_subject":"x.*"}`, 10015},
		{"$JS.API.STREAM.SNAPSHOT.S", `{"deliver_subject":""}`, 10015},
		{"$JS.API.STREAM.SNAPSHOT.S", `{"deliver_subject":`, 10025},
		{"$JS.API.STREAM.RESTORE.S", "", 10003},
		{"$JS.API.STREAM.RESTORE.S", `{"config":{"name":"S","subjects":["q.>"]}}`, 10130},
		{"$JS.API.STREAM.RESTORE.T", `{"config":{"name":"U"}}`, 10056},
		{"$JS.API.STREAM.RESTORE.T", `{"config":{"name":"T","subjects":["s.1"]}}`, 10065},
	} {
		e := req(c.subject, c.body)
		if e == nil || e.ErrCode != c.code {
			t.Errorf("%s %s: %+v, want %d", c.subject, c.body, e, c.code)
		}
	}
}

// TestRestoreRespectsQuota: a restore that would take file streams past
// the account's limit fails with 10047 and leaves nothing counted.
func TestRestoreRespectsQuota(t *testing.T) {
	q := stream.NewQuota(0, 0)
	n := startNodeWith(t, stream.Options{StoreDir: t.TempDir(), Quotas: []*stream.Quota{q}})
	fillStream(t, n, 2000)
	_, archive, _ := takeSnapshot(t, n.nc, "S", nil)
	used := q.Used(stream.FileStorage)
	q.SetLimits(used+used/2, 0) // room for half of another copy
	fin := decodeCreate(t, restoreArchive(t, n.nc, "R", json.RawMessage(`{"name":"R","subjects":["r.>"]}`), archive, 64*1024))
	if fin.Error == nil || fin.Error.ErrCode != 10047 {
		t.Fatalf("restore past the quota answered %+v, want 10047", fin)
	}
	if _, err := n.js.Stream(ctx(t), "R"); err == nil {
		t.Fatal("stream R exists after a refused restore")
	}
	if got := q.Used(stream.FileStorage); got != used {
		t.Fatalf("quota counts %d bytes after a refused restore, want %d", got, used)
	}
}

// TestSnapshotRestoreAdvisories: the four advisories, with the requester
// in their client block.
func TestSnapshotRestoreAdvisories(t *testing.T) {
	n := startNode(t, t.TempDir())
	fillStream(t, n, 6)
	nc2, err := nats.Connect(n.srv.ClientURL(), nats.Name("backup-tool"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	sub, err := n.nc.SubscribeSync("$JS.EVENT.ADVISORY.STREAM.*.S")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	r, archive, _ := takeSnapshot(t, nc2, "S", nil)
	if err := n.js.DeleteStream(ctx(t), "S"); err != nil {
		t.Fatal(err)
	}
	if fin := decodeCreate(t, restoreArchive(t, nc2, "S", r.Config, archive, 1024)); fin.Error != nil {
		t.Fatal(fin.Error)
	}
	seen := map[string]bool{}
	want := map[string]string{
		"$JS.EVENT.ADVISORY.STREAM.SNAPSHOT_CREATE.S":   "io.nats.jetstream.advisory.v1.snapshot_create",
		"$JS.EVENT.ADVISORY.STREAM.SNAPSHOT_COMPLETE.S": "io.nats.jetstream.advisory.v1.snapshot_complete",
		"$JS.EVENT.ADVISORY.STREAM.RESTORE_CREATE.S":    "io.nats.jetstream.advisory.v1.restore_create",
		"$JS.EVENT.ADVISORY.STREAM.RESTORE_COMPLETE.S":  "io.nats.jetstream.advisory.v1.restore_complete",
	}
	for len(seen) < len(want) {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("advisories seen %v: %v", seen, err)
		}
		typ, ok := want[m.Subject]
		if !ok {
			continue
		}
		var a struct {
			Type   string    `json:"type"`
			Stream string    `json:"stream"`
			Bytes  int64     `json:"bytes"`
			Start  time.Time `json:"start"`
			Client struct {
				Name string `json:"name"`
				Acc  string `json:"acc"`
				Lang string `json:"lang"`
			} `json:"client"`
		}
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatal(err)
		}
		if a.Type != typ || a.Stream != "S" || a.Client.Name != "backup-tool" || a.Client.Acc != "$G" || a.Client.Lang != "go" {
			t.Fatalf("%s: %s", m.Subject, m.Data)
		}
		if m.Subject == "$JS.EVENT.ADVISORY.STREAM.RESTORE_COMPLETE.S" && a.Bytes != int64(len(archive)) {
			t.Fatalf("restore complete counts %d bytes, sent %d", a.Bytes, len(archive))
		}
		seen[m.Subject] = true
	}
}

// TestSnapshotMemoryStreamWithCheck: memory streams snapshot and restore
// through the API like file streams (the CLI refuses them on its side),
// and the health check (jsck) passes on a sound stream.
func TestSnapshotMemoryStreamWithCheck(t *testing.T) {
	n := startNode(t, t.TempDir())
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "MEM", Subjects: []string{"mem.>"},
		Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := n.js.Publish(ctx(t), "mem.x", fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	want := streamMsgs(t, n.js, "MEM")
	r, archive, status := takeSnapshot(t, n.nc, "MEM", map[string]any{"jsck": true})
	if r.Error != nil || status != "204" {
		t.Fatalf("snapshot: %+v %q", r.Error, status)
	}
	if err := n.js.DeleteStream(ctx(t), "MEM"); err != nil {
		t.Fatal(err)
	}
	if fin := decodeCreate(t, restoreArchive(t, n.nc, "MEM", r.Config, archive, 4096)); fin.Error != nil {
		t.Fatal(fin.Error)
	}
	s, _ := n.js.Stream(ctx(t), "MEM")
	if info, _ := s.Info(ctx(t)); info.Config.Storage != jetstream.MemoryStorage {
		t.Fatalf("restored with storage %v", info.Config.Storage)
	}
	sameMsgs(t, want, streamMsgs(t, n.js, "MEM"))
}

package replication

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/wisp-mq/wisp/consensus"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// routeNet is an in-process cluster network with what the server's routes
// impose: a frame limit, in-order delivery on a goroutine per server, and
// a bounded queue per route that refuses a frame while full.
type routeNet struct {
	maxFrame, budget int
	mu               sync.Mutex
	ends             map[string]*routeEnd
	chunks           atomic.Int64 // snapshot chunk frames delivered
	frames, bytes    atomic.Int64 // every frame queued, and its payload bytes
}

type routeEnd struct {
	net      *routeNet
	name     string
	handlers sync.Map // channel → func(string, []byte)
	q        chan routeFrame
	queued   atomic.Int64
}

type routeFrame struct {
	from, channel string
	payload       []byte
}

var errRouteBusy = errors.New("route busy")

func newRouteNet(maxFrame, budget int) *routeNet {
	return &routeNet{maxFrame: maxFrame, budget: budget, ends: map[string]*routeEnd{}}
}

func (n *routeNet) end(t testing.TB, name string) *routeEnd {
	e := &routeEnd{net: n, name: name, q: make(chan routeFrame, 4096)}
	n.mu.Lock()
	n.ends[name] = e
	n.mu.Unlock()
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			select {
			case f := <-e.q:
				e.queued.Add(-int64(len(f.payload)))
				if h, ok := e.handlers.Load(f.channel); ok && h.(func(string, []byte)) != nil {
					h.(func(string, []byte))(f.from, f.payload)
				}
			case <-done:
				return
			}
		}
	}()
	return e
}

// Send queues a frame for the server peer, as the route from e would.
func (e *routeEnd) Send(peer, channel string, payload []byte) error {
	if len(payload) > e.net.maxFrame {
		return fmt.Errorf("frame of %d bytes over %d", len(payload), e.net.maxFrame)
	}
	e.net.mu.Lock()
	dst := e.net.ends[peer]
	e.net.mu.Unlock()
	if dst == nil {
		return errors.New("no route")
	}
	if dst.queued.Load()+int64(len(payload)) > int64(e.net.budget) {
		return errRouteBusy
	}
	if len(payload) > 0 && payload[0] == chunkVersion {
		e.net.chunks.Add(1)
	}
	e.net.frames.Add(1)
	e.net.bytes.Add(int64(len(payload)))
	dst.queued.Add(int64(len(payload)))
	select {
	case dst.q <- routeFrame{e.name, channel, bytes.Clone(payload)}:
		return nil
	default:
		dst.queued.Add(-int64(len(payload)))
		return errRouteBusy
	}
}
func (e *routeEnd) Handle(channel string, h func(string, []byte)) { e.handlers.Store(channel, h) }
func (e *routeEnd) Peers() []Peer                                 { return nil }
func (e *routeEnd) Seeds() []string                               { return nil }

// blobSM keeps every applied entry's data; its snapshot is all of it.
type blobSM struct {
	mu      sync.Mutex
	applied uint64
	blobs   [][]byte
}

func (m *blobSM) Applied() uint64 { m.mu.Lock(); defer m.mu.Unlock(); return m.applied }
func (m *blobSM) Apply(ents []consensus.Entry) ([]any, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range ents {
		m.applied = e.Index
		if e.Data != nil {
			m.blobs = append(m.blobs, bytes.Clone(e.Data))
		}
	}
	return nil, nil
}
func (m *blobSM) Snapshot() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []byte
	for _, b := range m.blobs {
		out = binary.AppendUvarint(out, uint64(len(b)))
		out = append(out, b...)
	}
	return out, nil
}
func (m *blobSM) Restore(data []byte, index uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applied, m.blobs = index, nil
	for len(data) > 0 {
		n, k := binary.Uvarint(data)
		if k <= 0 || uint64(len(data)-k) < n {
			return errors.New("bad snapshot")
		}
		m.blobs = append(m.blobs, bytes.Clone(data[k:k+int(n)]))
		data = data[k+int(n):]
	}
	return nil
}
func (m *blobSM) count() int { m.mu.Lock(); defer m.mu.Unlock(); return len(m.blobs) }

// TestSnapshotLargerThanAFrameCatchesUpAFollower: a follower cut off while
// the group writes well over a frame's worth of state and compacts its log
// catches up, once the cut heals, through a snapshot of several frames
// sent in chunks over routes with the server's frame limit and a bounded
// queue.
func TestSnapshotLargerThanAFrameCatchesUpAFollower(t *testing.T) {
	const maxFrame = 4 << 20
	net := newRouteNet(maxFrame, 6<<20)
	names := []string{"a", "b", "c"}
	var peers []uint64
	for _, n := range names {
		peers = append(peers, NodeID(n))
	}
	var hosts []*consensus.Host
	var trs []*Transport
	var sms []*blobSM
	var reports atomic.Int64
	for _, name := range names {
		db, err := pebble.Open("db", &pebble.Options{FS: vfs.NewMem(), Logger: consensus.NewFatalGuard(nil)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		tr := NewTransport(net.end(t, name), name, maxFrame, nil)
		tr.Learn(names...)
		tr.onSnapshot = func(group, to uint64, ok bool) {
			if ok && to == NodeID("c") {
				reports.Add(1)
			}
		}
		cfg := consensus.DefaultConfig()
		cfg.ID, cfg.Store, cfg.Transport = NodeID(name), consensus.NewStore(db, nil), tr
		cfg.TickInterval = 20 * time.Millisecond
		cfg.SnapshotEntries, cfg.KeepEntries = 8, 2
		cfg.MaxSizePerMsg = maxFrame / 4
		h, err := consensus.NewHost(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(h.Stop)
		tr.Attach(h)
		sm := &blobSM{}
		if err := h.AddGroup(context.Background(), consensus.GroupConfig{ID: 7, Peers: peers, Bootstrap: true, StateMachine: sm}); err != nil {
			t.Fatal(err)
		}
		hosts, trs, sms = append(hosts, h), append(trs, tr), append(sms, sm)
	}
	cut := func(on bool) {
		trs[0].SetBlocked("c", on)
		trs[1].SetBlocked("c", on)
		trs[2].SetBlocked("a", on)
		trs[2].SetBlocked("b", on)
	}
	cut(true)
	// 12 MiB of state: a snapshot three frames long.
	const blobs = 48
	for i := range blobs {
		blob := bytes.Repeat([]byte{byte(i)}, 256<<10)
		proposeOn(t, hosts[:2], 7, blob)
	}
	cut(false)
	// (A proposal retried after a timeout may have committed twice: the
	// follower must hold what the others hold.)
	deadline := time.Now().Add(2 * time.Minute)
	for n := sms[2].count(); n < blobs || n != sms[0].count(); n = sms[2].count() {
		if time.Now().After(deadline) {
			t.Fatalf("the follower holds %d of %d blobs; %d chunks sent", sms[2].count(), blobs, net.chunks.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if net.chunks.Load() < 3 || reports.Load() == 0 {
		t.Fatalf("caught up with %d chunk frames and %d snapshots reported sent: want a snapshot of several frames", net.chunks.Load(), reports.Load())
	}
	for i := range sms[0].count() {
		if !slices.Equal(sms[2].blobs[i], sms[0].blobs[i]) {
			t.Fatalf("blob %d differs", i)
		}
	}
}

// proposeOn retries a proposal on whichever of hosts leads until it
// commits.
func proposeOn(t *testing.T, hosts []*consensus.Host, group uint64, data []byte) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for _, h := range hosts {
			if st, ok := h.Status(group); ok && st.IsLeader {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := h.Propose(group, data).Wait(ctx)
				cancel()
				if err == nil {
					return
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("proposal never committed")
}

// TestSnapshotSendFailureIsReported: a snapshot whose chunks the route
// refuses is reported failed (so raft sends it again), one that goes out
// is reported sent, and the receiver reassembles it.
func TestSnapshotSendFailureIsReported(t *testing.T) {
	net := newFakeNet()
	tr := NewTransport(net, "a", 64<<10, nil)
	tr.Learn("b")
	tr.snapWait = 100 * time.Millisecond
	type report struct {
		group, to uint64
		ok        bool
	}
	got := make(chan report, 4)
	tr.onSnapshot = func(group, to uint64, ok bool) { got <- report{group, to, ok} }
	a, b := NodeID("a"), NodeID("b")
	snap := &pb.Message{Type: pb.MsgSnap.Enum(), From: proto.Uint64(a), To: proto.Uint64(b), Term: proto.Uint64(2),
		Snapshot: &pb.Snapshot{Data: bytes.Repeat([]byte("s"), 300<<10), Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(9), Term: proto.Uint64(2)}}}
	batch := consensus.Batch{From: a, To: b, Messages: []consensus.Message{{Group: 3, Raft: snap}}}

	tr.Send(batch)
	if r := <-got; r != (report{3, b, true}) {
		t.Fatalf("report %+v", r)
	}
	net.mu.Lock()
	var frames [][]byte
	for _, f := range net.frames["b"] {
		if f[0] == chunkVersion {
			frames = append(frames, f)
		}
	}
	net.mu.Unlock()
	if len(frames) < 5 {
		t.Fatalf("%d frames for a 300 KiB snapshot with 64 KiB frames", len(frames))
	}
	rx := NewTransport(newFakeNet(), "b", 64<<10, nil)
	var whole consensus.Batch
	for i, f := range frames {
		if len(f) > 64<<10 {
			t.Fatalf("chunk of %d bytes", len(f))
		}
		bt, done, err := rx.receiveChunk(a, f)
		if err != nil || done != (i == len(frames)-1) {
			t.Fatalf("chunk %d: done %v err %v", i, done, err)
		}
		whole = bt
	}
	if len(whole.Messages) != 1 || whole.Messages[0].Group != 3 || !proto.Equal(whole.Messages[0].Raft, snap) {
		t.Fatal("the reassembled snapshot differs")
	}
	// A lost chunk ends the assembly.
	if _, _, err := rx.receiveChunk(a, frames[0]); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rx.receiveChunk(a, frames[2]); !errors.Is(err, errFrame) {
		t.Fatalf("a chunk after a gap: %v", err)
	}

	net.mu.Lock()
	net.refuse = errors.New("no route")
	net.mu.Unlock()
	tr.Send(batch)
	select {
	case r := <-got:
		if r != (report{3, b, false}) {
			t.Fatalf("report %+v", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no report of the failed snapshot")
	}
}

func FuzzDecodeChunk(f *testing.F) {
	f.Add([]byte{chunkVersion, 1, 1, 10, 0, 'a', 'b'})
	f.Add([]byte{chunkVersion, 1, 1, 3, 2, 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeChunk(b)
		if err != nil {
			return
		}
		if c.group == 0 || c.total > maxSnapshot || c.offset+uint64(len(c.data)) > c.total {
			t.Fatalf("accepted %+v", c)
		}
	})
}

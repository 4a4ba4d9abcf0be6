package store

import (
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
)

// benchOp is a minimal Op: one message, signalled on a channel.
type benchOp struct {
	seq  uint64
	done chan struct{}
}

var benchMsg = Msg{Subject: []byte("bench.subject"), Data: make([]byte, 128)}

func (o *benchOp) Apply(b *Batch) error {
	m := benchMsg
	m.Seq = o.seq
	return b.PutMsg(1, &m)
}
func (o *benchOp) Done(error) { o.done <- struct{}{} }

func benchStore(b *testing.B, fs vfs.FS, dir string, mode SyncMode, inflight int) {
	s, err := Open(Options{Dir: dir, FS: fs, Sync: mode, Volatile: fs != nil})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	b.SetBytes(int64(len(benchMsg.Data)))
	b.ResetTimer()
	var mu sync.Mutex
	var seq uint64
	sem := make(chan struct{}, inflight)
	done := make(chan struct{}, inflight)
	go func() {
		for range done {
			<-sem
		}
	}()
	for i := 0; i < b.N; i++ {
		sem <- struct{}{}
		mu.Lock()
		seq++
		op := &benchOp{seq: seq, done: done}
		mu.Unlock()
		s.Submit(op)
	}
	for i := 0; i < inflight; i++ {
		sem <- struct{}{}
	}
	b.StopTimer()
	close(done)
}

func BenchmarkStoreCommitMemOne(b *testing.B)  { benchStore(b, vfs.NewMem(), "db", SyncAlways, 1) }
func BenchmarkStoreCommitDiskOne(b *testing.B) { benchStore(b, nil, b.TempDir(), SyncAlways, 1) }
func BenchmarkStoreCommitDisk4k(b *testing.B)  { benchStore(b, nil, b.TempDir(), SyncAlways, 4000) }
func BenchmarkStoreCommitMem4k(b *testing.B)   { benchStore(b, vfs.NewMem(), "db", SyncAlways, 4000) }

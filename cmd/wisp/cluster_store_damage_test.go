package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestReplicaRebuildsDamagedStreamStore (found by the stream chaos suite,
// seed 2001): a follower of an R3 stream is stopped and the tail of its
// stream store's write-ahead log is cut, taking messages and the applied
// index back behind entries its raft log has compacted (a snapshot every
// 256 entries here). Its store reports the damage against its manifest;
// accepting the loss there (the last sequence raised over the gap) left a
// replica that never held what its peers acknowledged. The replica must
// instead rebuild the stream from its raft log and peers, and end up
// holding every acknowledged message at its sequence. Also when the raft
// log still holds every entry (no snapshot yet): a plain replay.
func TestReplicaRebuildsDamagedStreamStore(t *testing.T) {
	t.Run("log compacted", func(t *testing.T) { rebuildDamagedStore(t, 600) })
	t.Run("log whole", func(t *testing.T) { rebuildDamagedStore(t, 200) })
}

func rebuildDamagedStore(t *testing.T, before int) {
	c := startChaosCluster(t, 3)
	_, js := jsConnect(t, c.urls())
	waitLong(t, "stream created", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "C0", Subjects: []string{"c0.>"}, Replicas: 3, AllowDirect: true})
		return err == nil
	})
	const after = 100
	publishAcked(t, js, "c0", 0, before)

	var leader string
	waitLong(t, "stream leader known", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, "C0")
		if err != nil {
			return false
		}
		if info := st.CachedInfo(); info.Cluster != nil {
			leader = info.Cluster.Leader
		}
		return leader != ""
	})
	var follower *chaosServer
	for _, s := range c.servers {
		if s.name != leader {
			follower = s
			break
		}
	}
	waitLong(t, "follower holds every message", func() bool { return replicaLastSeq(follower, "C0") == uint64(before) })

	// A clean stop: the store pays the fsync it owes for applied entries
	// (a replicated stream's applies wait for the tick's), so the messages
	// are in its write-ahead log, not yet flushed to tables. A power loss
	// here could leave that log empty and nothing to cut.
	c.stop(follower, false)
	cutStoreWAL(t, follower)
	c.restart(follower)

	publishAcked(t, js, "c0", before, after)
	waitLong(t, "follower caught up", func() bool { return replicaLastSeq(follower, "C0") == uint64(before+after) })
	msgs, err := replicaMessages(fmt.Sprintf("nats://127.0.0.1:%d", follower.port), "C0", uint64(before+after))
	if err != nil {
		t.Fatal(err)
	}
	for i := range before + after {
		if got := msgs[uint64(i+1)]; got != fmt.Sprint(i) {
			t.Fatalf("%s: sequence %d holds %q, want %q", follower.name, i+1, got, fmt.Sprint(i))
		}
	}
}

// replicaLastSeq is the last sequence of stream name on server s (0: the
// server does not hold it).
func replicaLastSeq(s *chaosServer, name string) uint64 {
	for _, st := range s.layers.global().Stats().Streams {
		if st.Name == name {
			return st.LastSeq
		}
	}
	return 0
}

// cutStoreWAL cuts the second half of the largest write-ahead log of a
// stopped server's stream store (the one holding the messages).
func cutStoreWAL(t *testing.T, s *chaosServer) {
	t.Helper()
	dir := filepath.Join(s.dir, "streams")
	names, err := s.fs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var path string
	var b []byte
	for _, n := range names {
		if !strings.HasSuffix(n, ".log") {
			continue
		}
		f, err := s.fs.Open(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > len(b) {
			path, b = filepath.Join(dir, n), data
		}
	}
	if len(b) < 1024 {
		t.Fatalf("%s: no write-ahead log to cut (%v)", dir, names)
	}
	if err := s.fs.Remove(path); err != nil {
		t.Fatal(err)
	}
	nf, err := s.fs.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer nf.Close()
	if _, err := nf.Write(b[:len(b)/2]); err != nil {
		t.Fatal(err)
	}
	if err := nf.Sync(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: cut %d of %d bytes", path, len(b)-len(b)/2, len(b))
}

package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestReplicatedPublishesSurviveFullPowerLoss: every server of an R3
// stream loses power at once, right after a run of acknowledged
// publishes. A replicated stream's store does not fsync the entries it
// applies (the raft log holds them, fsynced on a majority before the
// acknowledgement), so the stores may come back without the last of
// them; the replicas replay them from their raft logs. Every
// acknowledged message must be on every replica afterwards, at its
// acknowledged sequence, and publishing goes on after it.
func TestReplicatedPublishesSurviveFullPowerLoss(t *testing.T) {
	c := startChaosCluster(t, 3)
	_, js := jsConnect(t, c.urls())
	waitLong(t, "stream created", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PL", Subjects: []string{"pl.>"}, Replicas: 3, AllowDirect: true})
		return err == nil
	})
	acked := publishAcked(t, js, "pl", 0, 30)
	for _, s := range c.servers {
		c.stop(s, true)
	}
	for _, s := range c.servers {
		c.restart(s)
	}
	checkAckedOnReplicas(t, c, "PL", acked)
	for i, seq := range publishAcked(t, js, "pl", 30, 10) {
		acked[i] = seq
	}
	checkAckedOnReplicas(t, c, "PL", acked)
}

// checkAckedOnReplicas waits for every server to hold stream name through
// the highest acknowledged sequence, then reads each replica's messages
// and checks every acknowledged publish (i: its payload) at its sequence.
func checkAckedOnReplicas(t *testing.T, c *chaosCluster, name string, acked map[int]uint64) {
	t.Helper()
	var last uint64
	for _, seq := range acked {
		last = max(last, seq)
	}
	for _, s := range c.servers {
		waitLong(t, s.name+" to hold every acknowledged message", func() bool {
			for _, st := range s.layers.global().Stats().Streams {
				if st.Name == name {
					return st.LastSeq >= last
				}
			}
			return false
		})
		// Direct gets are answered once the server has subscribed for
		// them, which may follow the stream's reopening.
		var msgs map[uint64]string
		var err error
		waitLong(t, s.name+" to answer direct gets", func() bool {
			msgs, err = replicaMessages(fmt.Sprintf("nats://127.0.0.1:%d", s.port), name, last)
			return err == nil
		})
		for i, seq := range acked {
			if got := msgs[seq]; got != fmt.Sprint(i) {
				t.Fatalf("%s: acknowledged message %d at sequence %d holds %q", s.name, i, seq, got)
			}
		}
	}
}

// TestReplicatedPublishesSurviveFullPowerLossAfterCompaction: as above,
// with enough publishes that every replica snapshots and compacts its
// raft log (the chaos cluster snapshots every 256 entries and keeps 64).
// The stores do not fsync what they apply, so compacting the log is only
// safe once a replica's store has synced every entry the compaction
// drops; otherwise a power loss leaves each store behind its log's start,
// with nothing to replay from, and every replica would start empty.
func TestReplicatedPublishesSurviveFullPowerLossAfterCompaction(t *testing.T) {
	c := startChaosCluster(t, 3)
	_, js := jsConnect(t, c.urls())
	waitLong(t, "stream created", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PLC", Subjects: []string{"plc.>"}, Replicas: 3, AllowDirect: true})
		return err == nil
	})
	acked := publishAcked(t, js, "plc", 0, 530)
	for _, s := range c.servers {
		c.stop(s, true)
	}
	for _, s := range c.servers {
		c.restart(s)
	}
	checkAckedOnReplicas(t, c, "PLC", acked)
}

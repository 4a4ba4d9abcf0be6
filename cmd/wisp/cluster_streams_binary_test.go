package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestBinaryReplicatedStreamKill: three wisp processes; an R3 stream; a
// client publishes with message ids while the stream's leader is killed
// with SIGKILL. Every publish that was acknowledged is in the stream
// afterwards, on the new leader, and on the killed node once it is back.
func TestBinaryReplicatedStreamKill(t *testing.T) {
	bin := buildWisp(t)
	nodes := startBinaryCluster(t, bin, "k", "K")
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.url())
	}
	waitLong(t, "a full mesh", func() bool {
		for _, n := range nodes {
			if n.numRoutes() != 2 {
				return false
			}
		}
		return true
	})
	nc, js := jsConnect(t, urls[0], nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	_ = nc
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	var s jetstream.Stream
	waitLong(t, "the R3 stream created", func() bool {
		c, cc := context.WithTimeout(ctx, 5*time.Second)
		defer cc()
		var err error
		s, err = js.CreateStream(c, jetstream.StreamConfig{Name: "KILL", Subjects: []string{"kill.>"}, Replicas: 3, AllowDirect: true})
		return err == nil
	})

	var mu sync.Mutex
	acked := map[int]uint64{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c, cc := context.WithTimeout(ctx, 2*time.Second)
			ack, err := js.Publish(c, fmt.Sprintf("kill.%d", i), []byte(fmt.Sprint(i)), jetstream.WithMsgID(fmt.Sprint(i)))
			cc()
			if err == nil {
				mu.Lock()
				acked[i] = ack.Sequence
				mu.Unlock()
			}
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitLong(t, "publishes acknowledged", func() bool { return count() >= 200 })

	leader := ""
	waitLong(t, "the stream's leader", func() bool {
		info, err := s.Info(ctx)
		if err == nil && info.Cluster != nil {
			leader = info.Cluster.Leader
		}
		return leader != ""
	})
	var victim *clusterNode
	for _, n := range nodes {
		if n.name == leader {
			victim = n
		}
	}
	victim.cmd.Process.Kill()
	victim.cmd.Wait()
	before := count()
	waitLong(t, "publishes acknowledged after the kill", func() bool { return count() >= before+200 })
	close(stop)
	<-done

	check := func(url string) {
		t.Helper()
		_, js2 := jsConnect(t, url)
		var s2 jetstream.Stream
		waitLong(t, "the stream answers", func() bool {
			var err error
			s2, err = js2.Stream(ctx, "KILL")
			return err == nil
		})
		mu.Lock()
		defer mu.Unlock()
		for i, seq := range acked {
			m, err := s2.GetMsg(ctx, seq)
			if err != nil || string(m.Data) != fmt.Sprint(i) {
				t.Fatalf("acknowledged message %d at seq %d: %v", i, seq, err)
			}
		}
	}
	for _, n := range nodes {
		if n != victim {
			check(n.url())
			break
		}
	}
	victim.start(t, bin)
	// The restarted node's own copy: a direct get is answered by the
	// replica of the server the client is on.
	var ncv *nats.Conn
	waitLong(t, "the killed node back", func() bool {
		var err error
		ncv, err = nats.Connect(victim.url())
		return err == nil
	})
	defer ncv.Close()
	mu.Lock()
	want := uint64(0)
	for _, seq := range acked {
		want = max(want, seq)
	}
	mu.Unlock()
	waitLong(t, "the killed node caught up", func() bool {
		m, err := ncv.Request("$JS.API.DIRECT.GET.KILL", []byte(fmt.Sprintf(`{"seq":%d}`, want)), 2*time.Second)
		return err == nil && m.Header.Get("Nats-Sequence") == fmt.Sprint(want)
	})
	t.Logf("%d publishes acknowledged, leader %s killed", count(), leader)
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
)

// localHolders names the running nodes whose global stream layer holds
// a stream called name without a raft group.
func localHolders(nodes []*streamNode, name string) []string {
	var out []string
	for _, n := range nodes {
		if !n.running {
			continue
		}
		for _, ls := range n.layers.global().LocalStreams() {
			if ls.Name == name {
				out = append(out, n.name)
			}
		}
	}
	return out
}

// apiCode is the JetStream error code of err, 0 for none.
func apiCode(err error) jetstream.ErrorCode {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode
	}
	return 0
}

// streamNamesOn lists the stream names as the server at url answers.
func streamNamesOn(t *testing.T, ctx context.Context, js jetstream.JetStream) []string {
	t.Helper()
	names := js.StreamNames(ctx)
	return collectNames(t, names.Name(), names.Err)
}

// TestClusterR1RacingCreatesOneWins: two clients create a one-replica
// stream of one name (with different subjects) on two servers at once,
// and, in other rounds, two streams of different names with the same
// subjects: every round, exactly one create succeeds, the other is
// refused with 10058 (name in use) or 10065 (subjects overlap), and one
// stream exists on one server, as every server lists it.
func TestClusterR1RacingCreatesOneWins(t *testing.T) {
	nodes := startStreamCluster(t, "race", 3)
	waitMetaLeader(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	js := make([]jetstream.JetStream, len(nodes))
	for i, n := range nodes {
		_, js[i] = jsConnect(t, n.url())
	}
	const rounds = 20
	for r := range rounds {
		a, b := r%3, (r+1)%3
		sameName := r%2 == 0
		cfgs := [2]jetstream.StreamConfig{
			{Name: fmt.Sprintf("RACE%d", r), Subjects: []string{fmt.Sprintf("race%d.a", r)}},
			{Name: fmt.Sprintf("RACE%d", r), Subjects: []string{fmt.Sprintf("race%d.b", r)}},
		}
		want := jetstream.ErrorCode(10058)
		if !sameName {
			cfgs[0] = jetstream.StreamConfig{Name: fmt.Sprintf("OVA%d", r), Subjects: []string{fmt.Sprintf("ov%d.>", r)}}
			cfgs[1] = jetstream.StreamConfig{Name: fmt.Sprintf("OVB%d", r), Subjects: []string{fmt.Sprintf("ov%d.x", r)}}
			want = 10065
		}
		on := [2]int{a, b}
		errs := raceTwo(func(k int) error { _, err := js[on[k]].CreateStream(ctx, cfgs[k]); return err })
		won := -1
		for k, err := range errs {
			switch {
			case err == nil && won < 0:
				won = k
			case err == nil:
				t.Fatalf("round %d: both creates succeeded (%s on server %d, %s on server %d)",
					r, cfgs[0].Name, a+1, cfgs[1].Name, b+1)
			case apiCode(err) != want:
				t.Fatalf("round %d: create %s on server %d: %v, want error %d", r, cfgs[k].Name, []int{a, b}[k]+1, err, want)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: neither create succeeded: %v", r, errs)
		}
		winner := cfgs[won].Name
		if got := localHolders(nodes, winner); !slices.Equal(got, []string{nodes[[]int{a, b}[won]].name}) {
			t.Fatalf("round %d: %s held by %v", r, winner, got)
		}
		if loser := cfgs[1-won].Name; loser != winner {
			if got := localHolders(nodes, loser); len(got) != 0 {
				t.Fatalf("round %d: the refused %s held by %v", r, loser, got)
			}
		}
	}
	// Every server lists one stream per round.
	for i := range nodes {
		if got := streamNamesOn(t, ctx, js[i]); len(got) != rounds {
			t.Fatalf("server %d lists %d streams, want %d: %v", i+1, len(got), rounds, got)
		}
	}
}

// TestClusterR1StreamWhileItsServerIsDown: a one-replica stream whose
// server is stopped is still listed by the others (STREAM.NAMES, and
// STREAM.LIST names it missing), and its info is answered with an error
// (503 / 10008) rather than not at all or "not found"; once the server
// is back, the stream answers again with its messages. Created on one
// server, it is deleted through another, and a stream deleted while its
// server is down is gone when the server comes back.
func TestClusterR1StreamWhileItsServerIsDown(t *testing.T) {
	nodes := startStreamCluster(t, "r1down", 3)
	leader := nodeNamed(nodes, waitMetaLeader(t, nodes))
	var holder, other *streamNode
	for _, n := range nodes {
		if n != leader {
			if holder == nil {
				holder = n
			} else {
				other = n
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	_, jsH := jsConnect(t, holder.url())
	ncO, jsO := jsConnect(t, other.url())
	for _, name := range []string{"DOWN", "GONE"} {
		if _, err := jsH.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if _, err := jsO.Publish(ctx, fmt.Sprintf("DOWN.%d", i), []byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	// Updated through another server: the meta group records the new
	// subjects, checked below while the stream's server is down.
	if _, err := jsO.UpdateStream(ctx, jetstream.StreamConfig{Name: "DOWN", Subjects: []string{"DOWN.>", "extra"}}); err != nil {
		t.Fatal(err)
	}

	holder.stop()
	if got := streamNamesOn(t, ctx, jsO); !slices.Equal(got, []string{"DOWN", "GONE"}) {
		t.Fatalf("names with the streams' server down: %v", got)
	}
	m, err := ncO.RequestWithContext(ctx, "$JS.API.STREAM.LIST", nil)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Total   int      `json:"total"`
		Missing []string `json:"missing"`
	}
	if err := json.Unmarshal(m.Data, &list); err != nil || list.Total != 2 || !slices.Equal(list.Missing, []string{"DOWN", "GONE"}) {
		t.Fatalf("list with the streams' server down: %s", m.Data)
	}
	if _, err := jsO.Stream(ctx, "DOWN"); apiCode(err) != 10008 {
		t.Fatalf("info with the stream's server down: %v, want error 10008", err)
	}
	// A create of the name elsewhere is refused: the name is the meta
	// group's, not the down server's alone.
	if _, err := jsO.CreateStream(ctx, jetstream.StreamConfig{Name: "DOWN", Subjects: []string{"other"}}); apiCode(err) != 10058 {
		t.Fatalf("create of a down server's stream's name: %v, want error 10058", err)
	}
	if _, err := jsO.CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"DOWN.x"}}); apiCode(err) != 10065 {
		t.Fatalf("create overlapping a down server's stream: %v, want error 10065", err)
	}
	if _, err := jsO.CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"extra"}}); apiCode(err) != 10065 {
		t.Fatalf("create overlapping a down server's stream's updated subjects: %v, want error 10065", err)
	}
	// Deleted while its server is down: the meta group removes it.
	if err := jsO.DeleteStream(ctx, "GONE"); err != nil {
		t.Fatal(err)
	}

	holder.start(t)
	var info *jetstream.StreamInfo
	waitLong(t, "DOWN answered again through another server", func() bool {
		s, err := jsO.Stream(ctx, "DOWN")
		if err != nil {
			return false
		}
		info = s.CachedInfo()
		return true
	})
	if info.State.Msgs != 3 {
		t.Fatalf("DOWN after its server's restart: %+v", info.State)
	}
	if _, err := jsO.Publish(ctx, "DOWN.3", []byte("m")); err != nil {
		t.Fatal(err)
	}
	waitLong(t, "GONE deleted on its server when it came back", func() bool {
		return len(localHolders(nodes, "GONE")) == 0
	})

	// Created on the holder, deleted through another server.
	if err := jsO.DeleteStream(ctx, "DOWN"); err != nil {
		t.Fatal(err)
	}
	if got := localHolders(nodes, "DOWN"); len(got) != 0 {
		t.Fatalf("DOWN still held by %v after its delete was answered", got)
	}
	for _, n := range nodes {
		// A server's meta replica applies the removal once it hears of
		// its commit: at most a heartbeat after the answer.
		_, js := jsConnect(t, n.url())
		waitLong(t, n.name+" lists no stream after the deletes", func() bool {
			return len(streamNamesOn(t, ctx, js)) == 0
		})
	}
	// The name is free again, on any server.
	if _, err := jsO.CreateStream(ctx, jetstream.StreamConfig{Name: "DOWN", Subjects: []string{"DOWN.>"}}); err != nil {
		t.Fatal(err)
	}
}

// TestClusterR1StreamsFromBeforeTheCluster: streams made on a server
// before it was clustered (as before R1 streams were the meta group's)
// are registered in the meta group when it joins a cluster: listed and
// answered from every server with their messages. Two servers that each
// had a stream of one name end with one stream of that name in the
// cluster's lists.
func TestClusterR1StreamsFromBeforeTheCluster(t *testing.T) {
	dir := t.TempDir()
	nodes := make([]*streamNode, 3)
	var routes []string
	for i := range nodes {
		nodes[i] = &streamNode{name: fmt.Sprintf("pre%d", i+1), port: freePort(t), rt: freePort(t),
			dir: filepath.Join(dir, fmt.Sprintf("pre%d", i+1)), cluster: "RC"}
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", nodes[i].rt))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	// Alone first: server 1 makes LEG (with messages), servers 2 and 3
	// each make DUP.
	for i, streams := range [][]string{{"LEG"}, {"DUP"}, {"DUP"}} {
		cfg := &conf.Config{JetStream: true, StoreDir: nodes[i].dir}
		cfg.Server.Host = "127.0.0.1"
		cfg.Server.Port = nodes[i].port
		cfg.Server.ServerName = nodes[i].name
		cfg.Server.JetStream = true
		log := slog.New(slog.DiscardHandler)
		srv, err := server.New(&cfg.Server, log)
		if err != nil {
			t.Fatal(err)
		}
		layers, err := startStreams(cfg, srv, log)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		nc, js := jsConnect(t, nodes[i].url())
		for _, name := range streams {
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + fmt.Sprint(i) + ".>"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := js.Publish(ctx, name+fmt.Sprint(i)+".x", []byte("kept")); err != nil {
				t.Fatal(err)
			}
		}
		nc.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(sctx)
		scancel()
		layers.close()
	}
	for _, n := range nodes {
		n.routes = routes
		n.start(t)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
		}
	})
	waitMetaLeader(t, nodes)
	for _, n := range nodes {
		waitLong(t, n.name+" knows the registered streams", func() bool {
			_, leg := n.node.Assignment("LEG")
			_, dup := n.node.Assignment("DUP")
			return leg && dup
		})
	}
	for _, n := range nodes {
		_, js := jsConnect(t, n.url())
		waitLong(t, n.name+" lists the streams from before the cluster", func() bool {
			got, err := func() ([]string, error) {
				names := js.StreamNames(ctx)
				var out []string
				for n := range names.Name() {
					out = append(out, n)
				}
				slices.Sort(out)
				return out, names.Err()
			}()
			return err == nil && slices.Equal(got, []string{"DUP", "LEG"})
		})
		if n.node.MetaLeader() == "" {
			t.Fatal("no meta leader")
		}
	}
	_, js3 := jsConnect(t, nodes[2].url())
	s, err := js3.Stream(ctx, "LEG")
	if err != nil {
		t.Fatal(err)
	}
	if info := s.CachedInfo(); info.State.Msgs != 1 || info.Cluster == nil || info.Cluster.Leader != nodes[0].name {
		t.Fatalf("LEG through server 3: %+v %+v", info.State, info.Cluster)
	}
	// The name LEG is the cluster's now.
	if _, err := js3.CreateStream(ctx, jetstream.StreamConfig{Name: "LEG", Subjects: []string{"elsewhere"}}); apiCode(err) != 10058 {
		t.Fatalf("create of a registered stream's name: %v, want error 10058", err)
	}
	// One of the two DUP streams was registered: both servers still hold
	// their copy (nothing is deleted), and requests go to the registered one.
	var dupServer string
	for _, n := range nodes {
		if p, ok := n.node.Assignment("DUP"); ok && len(p) == 1 {
			dupServer = p[0]
		}
	}
	if dupServer != nodes[1].name && dupServer != nodes[2].name {
		t.Fatalf("DUP assigned to %q", dupServer)
	}
	if got := localHolders(nodes, "DUP"); len(got) != 2 {
		t.Fatalf("DUP held by %v, want both servers that made it", got)
	}
}

// TestClusterR1SameCreateTwiceOnOneServer: clients of one server creating
// the same one-replica stream (same config) at once all get the stream,
// as creating it again once it exists does.
func TestClusterR1SameCreateTwiceOnOneServer(t *testing.T) {
	nodes := startStreamCluster(t, "same", 3)
	waitMetaLeader(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, js := jsConnect(t, nodes[1].url())
	for r := range 5 {
		cfg := jetstream.StreamConfig{Name: fmt.Sprintf("SAME%d", r), Subjects: []string{fmt.Sprintf("same%d.>", r)}}
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for k := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[k] = js.CreateStream(ctx, cfg)
			}()
		}
		wg.Wait()
		for k, err := range errs {
			if err != nil {
				t.Fatalf("round %d: create %d of the same stream: %v", r, k, err)
			}
		}
		if got := localHolders(nodes, cfg.Name); !slices.Equal(got, []string{nodes[1].name}) {
			t.Fatalf("round %d: %s held by %v", r, cfg.Name, got)
		}
	}
}

// TestClusterR1IdenticalCreatesOnTwoServers: instances of a service each
// create their stream at start, with the same config, through their own
// servers. Racing, both creates succeed (the one that lost the placement
// is answered by the server that won it, as a create asked again), and
// exactly one server holds the stream.
func TestClusterR1IdenticalCreatesOnTwoServers(t *testing.T) {
	nodes := startStreamCluster(t, "twin", 3)
	waitMetaLeader(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	js := make([]jetstream.JetStream, len(nodes))
	for i, n := range nodes {
		_, js[i] = jsConnect(t, n.url())
	}
	const rounds = 10
	for r := range rounds {
		cfg := jetstream.StreamConfig{Name: fmt.Sprintf("TWIN%d", r), Subjects: []string{fmt.Sprintf("twin%d.>", r)}}
		on := [2]int{r % 3, (r + 1) % 3}
		errs := raceTwo(func(k int) error { _, err := js[on[k]].CreateStream(ctx, cfg); return err })
		for k, err := range errs {
			if err != nil {
				t.Fatalf("round %d: identical create on server %d: %v", r, on[k]+1, err)
			}
		}
		if got := localHolders(nodes, cfg.Name); len(got) != 1 {
			t.Fatalf("round %d: %s held by %v, want one server", r, cfg.Name, got)
		}
	}
}

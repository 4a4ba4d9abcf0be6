package main

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// collectNames drains a stream or consumer name lister.
func collectNames(t *testing.T, names <-chan string, err func() error) []string {
	t.Helper()
	var out []string
	for n := range names {
		out = append(out, n)
	}
	if err() != nil {
		t.Fatal(err())
	}
	slices.Sort(out)
	return out
}

// TestClusterAccountRequestsFromAnyServer: streams with one replica on
// two different servers and a replicated one; every server lists all
// three (names, infos, paging, the subject filter), answers stream and
// consumer info and consumer lists for a stream held by another server,
// and counts every stream and consumer in account info, as nats-server
// does in a cluster.
func TestClusterAccountRequestsFromAnyServer(t *testing.T) {
	nodes := startStreamCluster(t, "any", 3)
	waitMetaLeader(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, js1 := jsConnect(t, nodes[0].url())
	_, js2 := jsConnect(t, nodes[1].url())
	nc3, js3 := jsConnect(t, nodes[2].url())
	a, err := js1.CreateStream(ctx, jetstream.StreamConfig{Name: "A", Subjects: []string{"a.>"}, AllowDirect: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js2.CreateStream(ctx, jetstream.StreamConfig{Name: "B", Subjects: []string{"b.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js3.CreateStream(ctx, jetstream.StreamConfig{Name: "C", Subjects: []string{"c.>"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	// Published on a server that does not hold A.
	if _, err := js3.Publish(ctx, "a.x", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "CA"}); err != nil {
		t.Fatal(err)
	}
	if _, err := js3.CreateOrUpdateConsumer(ctx, "C", jetstream.ConsumerConfig{Durable: "CC"}); err != nil {
		t.Fatal(err)
	}

	for i, n := range nodes {
		_, js := jsConnect(t, n.url())
		names := js.StreamNames(ctx)
		if got := collectNames(t, names.Name(), names.Err); !slices.Equal(got, []string{"A", "B", "C"}) {
			t.Fatalf("server %d: stream names %v", i+1, got)
		}
		filtered := js.StreamNames(ctx, jetstream.WithStreamListSubject("b.x"))
		if got := collectNames(t, filtered.Name(), filtered.Err); !slices.Equal(got, []string{"B"}) {
			t.Fatalf("server %d: stream names for b.x %v", i+1, got)
		}
		list := js.ListStreams(ctx)
		var listed []string
		for si := range list.Info() {
			listed = append(listed, si.Config.Name)
		}
		if list.Err() != nil {
			t.Fatal(list.Err())
		}
		if slices.Sort(listed); !slices.Equal(listed, []string{"A", "B", "C"}) {
			t.Fatalf("server %d: stream list %v", i+1, listed)
		}
		ai, err := js.AccountInfo(ctx)
		if err != nil || ai.Streams != 3 || ai.Consumers != 2 {
			t.Fatalf("server %d: account info %+v, %v", i+1, ai, err)
		}
	}

	// Paging: the second page from offset 1.
	m, err := nc3.RequestWithContext(ctx, "$JS.API.STREAM.NAMES", []byte(`{"offset":1}`))
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Total, Offset int
		Streams       []string
	}
	if err := json.Unmarshal(m.Data, &page); err != nil || page.Total != 3 || page.Offset != 1 || !slices.Equal(page.Streams, []string{"B", "C"}) {
		t.Fatalf("names from offset 1: %s", m.Data)
	}

	// Server 3 holds no replica of A: it answers A's info and consumers.
	sa, err := js3.Stream(ctx, "A")
	if err != nil {
		t.Fatal(err)
	}
	info := sa.CachedInfo()
	if info.State.Msgs != 1 || info.Cluster == nil || info.Cluster.Leader != nodes[0].name || info.Cluster.Name != "RC" {
		t.Fatalf("A's info from server 3: %+v cluster %+v", info.State, info.Cluster)
	}
	// Direct gets, by sequence and last for a subject, answered by A's server.
	if m, err := sa.GetMsg(ctx, 1); err != nil || string(m.Data) != "one" {
		t.Fatalf("direct get of A's first message through server 3: %v", err)
	}
	if m, err := sa.GetLastMsgForSubject(ctx, "a.x"); err != nil || m.Sequence != 1 {
		t.Fatalf("direct get of A's last a.x through server 3: %v", err)
	}
	cons := sa.ConsumerNames(ctx)
	if got := collectNames(t, cons.Name(), cons.Err); !slices.Equal(got, []string{"CA"}) {
		t.Fatalf("A's consumers from server 3: %v", got)
	}
	ci, err := js3.Consumer(ctx, "A", "CA")
	if err != nil || ci.CachedInfo().NumPending != 1 {
		t.Fatalf("A's consumer from server 3: %v", err)
	}
	// A pull from server 3 is served by A's server.
	batch, err := ci.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	fetched := 0
	for m := range batch.Messages() {
		if string(m.Data()) != "one" {
			t.Fatalf("fetched %q from A through server 3", m.Data())
		}
		fetched++
	}
	if fetched != 1 || batch.Error() != nil {
		t.Fatalf("fetched %d messages from A through server 3: %v", fetched, batch.Error())
	}
	if _, err := js3.Stream(ctx, "NOPE"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("an unknown stream: %v", err)
	}

	// Updated and deleted from servers that do not hold them.
	if _, err := js3.UpdateStream(ctx, jetstream.StreamConfig{Name: "A", Subjects: []string{"a.>", "aa"}, AllowDirect: true}); err != nil {
		t.Fatal(err)
	}
	if err := js1.DeleteStream(ctx, "B"); err != nil {
		t.Fatal(err)
	}
	names := js2.StreamNames(ctx, jetstream.WithStreamListSubject("aa"))
	if got := collectNames(t, names.Name(), names.Err); !slices.Equal(got, []string{"A"}) {
		t.Fatalf("streams on aa after the update: %v", got)
	}
	names = js3.StreamNames(ctx)
	if got := collectNames(t, names.Name(), names.Err); !slices.Equal(got, []string{"A", "C"}) {
		t.Fatalf("streams after B's deletion: %v", got)
	}
}

// TestClusterStreamConflictsEverywhere: a create or update is checked
// against every stream of the account, also those the server deciding
// holds no replica of: a subject overlap is refused with 10065, a name
// taken on another server with 10058, as nats-server refuses them.
func TestClusterStreamConflictsEverywhere(t *testing.T) {
	nodes := startStreamCluster(t, "ovl", 3)
	leader := nodeNamed(nodes, waitMetaLeader(t, nodes))
	var others []*streamNode
	for _, n := range nodes {
		if n != leader {
			others = append(others, n)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, jsL := jsConnect(t, leader.url())
	_, js1 := jsConnect(t, others[0].url())
	_, js2 := jsConnect(t, others[1].url())
	if _, err := js1.CreateStream(ctx, jetstream.StreamConfig{Name: "A", Subjects: []string{"a.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js2.CreateStream(ctx, jetstream.StreamConfig{Name: "B", Subjects: []string{"b.>"}}); err != nil {
		t.Fatal(err)
	}
	refused := func(what string, err error, code jetstream.ErrorCode) {
		t.Helper()
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode != code {
			t.Fatalf("%s: %v, want error %d", what, err, code)
		}
	}
	// The meta leader places X and holds no replica of A.
	_, err := js2.CreateStream(ctx, jetstream.StreamConfig{Name: "X", Subjects: []string{"a.x"}, Replicas: 3})
	refused("an R3 stream overlapping a stream on another server", err, 10065)
	_, err = jsL.CreateStream(ctx, jetstream.StreamConfig{Name: "Y", Subjects: []string{"a.y"}})
	refused("an R1 stream overlapping a stream on another server", err, 10065)
	_, err = js2.CreateStream(ctx, jetstream.StreamConfig{Name: "A", Subjects: []string{"z"}})
	refused("a name taken on another server", err, 10058)
	_, err = js2.UpdateStream(ctx, jetstream.StreamConfig{Name: "B", Subjects: []string{"b.>", "a.z"}})
	refused("an update overlapping a stream on another server", err, 10065)
	if _, err := jsL.CreateStream(ctx, jetstream.StreamConfig{Name: "D", Subjects: []string{"d.>"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	_, err = js1.CreateStream(ctx, jetstream.StreamConfig{Name: "E", Subjects: []string{"d.e"}})
	refused("an R1 stream overlapping an R3 stream", err, 10065)
}

// TestClusterKeyValueFromAnyServer: a one-replica bucket on one server
// is written, read and watched through the others.
func TestClusterKeyValueFromAnyServer(t *testing.T) {
	nodes := startStreamCluster(t, "kva", 3)
	waitMetaLeader(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, js1 := jsConnect(t, nodes[0].url())
	_, js2 := jsConnect(t, nodes[1].url())
	_, js3 := jsConnect(t, nodes[2].url())
	if _, err := js1.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "CFG"}); err != nil {
		t.Fatal(err)
	}
	kv3, err := js3.KeyValue(ctx, "CFG")
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv3.Watch(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := kv3.Put(ctx, "k", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	kv2, err := js2.KeyValue(ctx, "CFG")
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv2.Get(ctx, "k"); err != nil || string(e.Value()) != "v1" {
		t.Fatalf("get through server 2: %v", err)
	}
	for {
		select {
		case e := <-w.Updates():
			if e != nil && string(e.Value()) == "v1" {
				return
			}
		case <-ctx.Done():
			t.Fatal("the watch through server 3 saw no put")
		}
	}
}

package server

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-mq/wisp/subjectmap"
)

// to is a mapping to one destination.
func to(src, dest string) subjectmap.Mapping {
	return subjectmap.Mapping{Source: src, Destinations: []subjectmap.Destination{{Subject: dest, Weight: 100}}}
}

// received subscribes to everything on nc and returns a function that
// publishes a sentinel and returns the subjects seen before it, in order.
func received(t *testing.T, pub, sub *nats.Conn) func() []string {
	t.Helper()
	s, err := sub.SubscribeSync(">")
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	return func() []string {
		t.Helper()
		if err := pub.Publish("sentinel.end", nil); err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			m, err := s.NextMsg(10 * time.Second)
			if err != nil {
				t.Fatalf("waiting for the sentinel after %v: %v", got, err)
			}
			if m.Subject == "sentinel.end" {
				return got
			}
			got = append(got, m.Subject)
		}
	}
}

func TestMappingRewritesPublishedSubjects(t *testing.T) {
	s := startServer(t, func(o *Options) {
		o.Mappings = []subjectmap.Mapping{
			to("orders.new", "orders.v2.new"),
			to("user.*.*", "u.{{wildcard(2)}}.{{wildcard(1)}}"),
			to("legacy.*", "l.$1"),
			to("p.*", "p.{{partition(5,1)}}.{{wildcard(1)}}"),
			to("s.*", "s.{{split(1,-)}}"),
			to("events.>", "ev.>"),
		}
	})
	nc := connectTo(t, s)
	got := received(t, nc, nc)
	for _, subj := range []string{"orders.new", "user.eu.42", "legacy.x", "p.customer-42", "s.a-b-c", "events.a.b", "plain"} {
		if err := nc.Publish(subj, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"orders.v2.new", "u.42.eu", "l.x", "p.1.customer-42", "s.a.b.c", "ev.a.b", "plain"}
	if g := got(); strings.Join(g, " ") != strings.Join(want, " ") {
		t.Fatalf("got %v, want %v", g, want)
	}
}

func TestMappingPerAccount(t *testing.T) {
	s := startServer(t, func(o *Options) {
		o.Accounts = []AccountConfig{
			{Name: "A", Users: []User{{Username: "a", Password: "a"}}, Mappings: []subjectmap.Mapping{to("in", "a.in")}},
			{Name: "B", Users: []User{{Username: "b", Password: "b"}}},
		}
	})
	a := connectTo(t, s, nats.UserInfo("a", "a"))
	b := connectTo(t, s, nats.UserInfo("b", "b"))
	gotA, gotB := received(t, a, a), received(t, b, b)
	for _, nc := range []*nats.Conn{a, b} {
		if err := nc.Publish("in", nil); err != nil {
			t.Fatal(err)
		}
	}
	if g := gotA(); len(g) != 1 || g[0] != "a.in" {
		t.Errorf("account A saw %v, want [a.in]", g)
	}
	if g := gotB(); len(g) != 1 || g[0] != "in" {
		t.Errorf("account B saw %v, want [in]", g)
	}
}

// The permissions checked are those of the subject the message travels
// on, as in nats-server.
func TestMappingPermissionsApplyToTheMappedSubject(t *testing.T) {
	s := startServer(t, func(o *Options) {
		o.Users = []User{{Username: "u", Password: "p", Permissions: &Permissions{
			Publish: SubjectPermission{Allow: []string{"in.>", "sentinel.>"}},
		}}}
		o.Mappings = []subjectmap.Mapping{to("in.*", "out.{{wildcard(1)}}")}
	})
	errs := make(chan error, 4)
	nc := connectTo(t, s, nats.UserInfo("u", "p"), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err := nc.Publish("in.x", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), `"out.x"`) {
			t.Fatalf("got %v, want a permissions violation for out.x", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no permissions violation for the mapped subject")
	}
}

func TestMappingWeightedSpread(t *testing.T) {
	s := startServer(t, func(o *Options) {
		o.Mappings = []subjectmap.Mapping{{Source: "svc", Destinations: []subjectmap.Destination{
			{Subject: "svc.v1", Weight: 80}, {Subject: "svc.v2", Weight: 20},
		}}}
	})
	nc := connectTo(t, s)
	got := received(t, nc, nc)
	const n = 2000
	for range n {
		if err := nc.Publish("svc", nil); err != nil {
			t.Fatal(err)
		}
	}
	counts := map[string]int{}
	for _, subj := range got() {
		counts[subj]++
	}
	// Six standard deviations of a binomial(2000, 0.2): a bound no fair
	// draw misses in practice, tight enough to catch a wrong weighting.
	sd := math.Sqrt(n * 0.2 * 0.8)
	if counts["svc.v1"]+counts["svc.v2"] != n || math.Abs(float64(counts["svc.v2"])-n*0.2) > 6*sd {
		t.Fatalf("got %v for %d messages weighted 80/20", counts, n)
	}
}

// A mapping that lists its own source with the whole weight left unused
// drops the rest: here, everything.
func TestMappingWeightsCanDrop(t *testing.T) {
	s := startServer(t, func(o *Options) {
		o.Mappings = []subjectmap.Mapping{{Source: "gone", Destinations: []subjectmap.Destination{{Subject: "gone", Weight: 0}}}}
	})
	nc := connectTo(t, s)
	got := received(t, nc, nc)
	for range 10 {
		if err := nc.Publish("gone", nil); err != nil {
			t.Fatal(err)
		}
	}
	if g := got(); len(g) != 0 {
		t.Fatalf("dropped mapping delivered %v", g)
	}
}

func TestMappingReload(t *testing.T) {
	s := startServer(t, func(o *Options) { o.Mappings = []subjectmap.Mapping{to("a", "b")} })
	nc := connectTo(t, s)
	got := received(t, nc, nc)
	if err := s.Reload(reloadOpts(s, func(o *Options) { o.Mappings = []subjectmap.Mapping{to("a", "c")} })); err != nil {
		t.Fatal(err)
	}
	err := s.Reload(reloadOpts(s, func(o *Options) { o.Mappings = []subjectmap.Mapping{to("a.*", "d.{{wildcard(2)}}")} }))
	if err == nil || !strings.Contains(err.Error(), "mappings") || !strings.Contains(err.Error(), "out of range") {
		t.Fatalf("bad mapping on reload: %v", err)
	}
	if err := nc.Publish("a", nil); err != nil {
		t.Fatal(err)
	}
	if g := got(); len(g) != 1 || g[0] != "c" {
		t.Fatalf("after reload got %v, want [c]", g)
	}
}

func TestMappingRefusedAtStart(t *testing.T) {
	o := &Options{Host: "127.0.0.1", Port: -1, Accounts: []AccountConfig{{Name: "A",
		Mappings: []subjectmap.Mapping{{Source: "x", Destinations: []subjectmap.Destination{{Subject: "y", Weight: 70}, {Subject: "z", Weight: 70}}}}}}}
	_, err := New(o, nil)
	if err == nil || !strings.Contains(err.Error(), "accounts.A.mappings") || !strings.Contains(err.Error(), "more than 100") {
		t.Fatalf("New = %v, want the account's mapping refused", err)
	}
}

// In a cluster the publisher's server maps the message once; the other
// servers deliver it on the mapped subject and do not map it again (here
// n2 would map "y" on, were it to).
func TestClusterMappingAppliedAtThePublisher(t *testing.T) {
	servers := startTestCluster(t, 2, func(i int, o *Options) {
		if i == 0 {
			o.Mappings = []subjectmap.Mapping{to("x.*", "y.{{wildcard(1)}}")}
		} else {
			o.Mappings = []subjectmap.Mapping{to("y.*", "z.{{wildcard(1)}}")}
		}
	})
	pub, sub := connectTo(t, servers[0]), connectTo(t, servers[1])
	got := received(t, pub, sub)
	waitInterest(t, servers[0], "sentinel.end", 1)
	for _, subj := range []string{"x.1", "x.2"} {
		if err := pub.Publish(subj, nil); err != nil {
			t.Fatal(err)
		}
	}
	if g := got(); strings.Join(g, " ") != "y.1 y.2" {
		t.Fatalf("n2 saw %v, want [y.1 y.2]", g)
	}
}

// A destination scoped to the server's cluster wins over the unscoped
// ones there.
func TestClusterMappingScopedDestination(t *testing.T) {
	servers := startTestCluster(t, 2, func(i int, o *Options) {
		o.Mappings = []subjectmap.Mapping{{Source: "c", Destinations: []subjectmap.Destination{
			{Subject: "c.anywhere", Weight: 100},
			{Subject: "c.here", Weight: 100, Cluster: "test"},
			{Subject: "c.elsewhere", Weight: 100, Cluster: "other"},
		}}}
	})
	pub, sub := connectTo(t, servers[0]), connectTo(t, servers[1])
	got := received(t, pub, sub)
	waitInterest(t, servers[0], "sentinel.end", 1)
	if err := pub.Publish("c", nil); err != nil {
		t.Fatal(err)
	}
	if g := got(); strings.Join(g, " ") != "c.here" {
		t.Fatalf("got %v, want [c.here]", g)
	}
}

// A request crossing a service import is mapped by the exporting
// account's mappings, as nats-server maps it.
func TestMappingAppliesToImportedRequests(t *testing.T) {
	s := startServer(t, func(o *Options) {
		twoAccounts(o)
		o.Accounts[0].Mappings = []subjectmap.Mapping{to("svc.req", "svc.v2.req")}
	})
	a := connectTo(t, s, nats.UserInfo("a", "a"))
	b := connectTo(t, s, nats.UserInfo("b", "b"))
	if _, err := a.Subscribe("svc.v2.req", func(m *nats.Msg) { _ = m.Respond([]byte("v2")) }); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	resp, err := b.Request("a.svc", nil, 10*time.Second)
	if err != nil || string(resp.Data) != "v2" {
		t.Fatalf("request through the import: %v %v", resp, err)
	}
}

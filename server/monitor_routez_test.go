package server

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// /routez?subs=1 lists each route's interest by subject, subs=detail adds
// queue groups, sids and the route id, as nats-server does; an RS- takes a
// subject off the list.
func TestRoutezSubs(t *testing.T) {
	servers := startTestCluster(t, 2, func(i int, o *Options) { o.HTTPPort = -1 })
	nc := connectTo(t, servers[1])
	for _, subj := range []string{"orders.>", "gone"} {
		if _, err := nc.SubscribeSync(subj); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // two members, one entry
		if _, err := nc.QueueSubscribeSync("billing", "workers"); err != nil {
			t.Fatal(err)
		}
	}
	gone, _ := nc.SubscribeSync("gone.too")
	nc.Flush()
	waitInterest(t, servers[0], "gone.too", 1)
	gone.Unsubscribe()
	nc.Flush()
	eventually(t, "gone.too withdrawn", func() bool { return !hasRouteInterest(servers[0], "gone.too") })
	waitInterest(t, servers[0], "billing", 1)
	waitInterest(t, servers[0], "orders.x", 1)

	var rz Routez
	monGet(t, servers[0], "/routez?subs=1", http.StatusOK, &rz)
	if rz.NumRoutes != 1 {
		t.Fatalf("routes %+v", rz)
	}
	ri := rz.Routes[0]
	// The peer's system responders ($SYS.REQ...) and its response subject
	// ("_R_.<tag>.>") are routed interest too; the users' is what is tested.
	got := slices.DeleteFunc(slices.Clone(ri.Subs), func(s string) bool {
		return strings.HasPrefix(s, "_R_.") || strings.HasPrefix(s, "$SYS.")
	})
	if want := []string{"billing", "gone", "orders.>"}; !slices.Equal(got, want) {
		t.Errorf("subscriptions_list %q, want %q and the response subject", ri.Subs, want)
	}
	if len(ri.Subs) != ri.NumSubs || ri.SubsDetail != nil {
		t.Errorf("subscriptions %d, list %q, detail %v", ri.NumSubs, ri.Subs, ri.SubsDetail)
	}

	rz = Routez{}
	monGet(t, servers[0], "/routez?subs=detail", http.StatusOK, &rz)
	ri = rz.Routes[0]
	if ri.Subs != nil || len(ri.SubsDetail) != ri.NumSubs {
		t.Fatalf("subs=detail: list %q, detail %+v", ri.Subs, ri.SubsDetail)
	}
	i := slices.IndexFunc(ri.SubsDetail, func(d SubDetail) bool { return d.Subject == "billing" })
	if i < 0 {
		t.Fatalf("no billing in %+v", ri.SubsDetail)
	}
	if d := ri.SubsDetail[i]; d.Queue != "workers" || d.Sid != "R $G billing workers" || d.CID != ri.RID {
		t.Errorf("billing detail %+v (rid %d)", d, ri.RID)
	}
	i = slices.IndexFunc(ri.SubsDetail, func(d SubDetail) bool { return d.Subject == "orders.>" })
	if d := ri.SubsDetail[i]; d.Queue != "" || d.Sid != "R $G orders.>" {
		t.Errorf("orders.> detail %+v", d)
	}

	// Without subs, and with subs=0, no lists; a bad value is refused.
	for _, path := range []string{"/routez", "/routez?subs=0"} {
		rz = Routez{}
		monGet(t, servers[0], path, http.StatusOK, &rz)
		if rz.Routes[0].Subs != nil || rz.Routes[0].SubsDetail != nil {
			t.Errorf("%s lists subscriptions: %+v", path, rz.Routes[0])
		}
	}
	monGet(t, servers[0], "/routez?subs=bogus", http.StatusBadRequest, nil)
}

// hasRouteInterest reports whether s has another server's interest in
// subject.
func hasRouteInterest(s *Server, subject string) bool {
	r := s.sl.Match([]byte(subject))
	for _, sub := range r.Plain {
		if sub.peer != nil {
			return true
		}
	}
	return false
}

// /varz lists the seed routes as host:port, as nats-server does, so the
// credentials a seed URL may carry never show.
func TestVarzClusterURLsHideCredentials(t *testing.T) {
	s := startServer(t, func(o *Options) {
		o.HTTPPort = -1
		o.Cluster = ClusterOptions{Name: "test", Host: "127.0.0.1", Port: -1, Username: "route", Password: "s3cret",
			Routes: []string{"nats://route:s3cret@127.0.0.1:1", "nats://127.0.0.1:2"}}
	})
	var v Varz
	monGet(t, s, "/varz", http.StatusOK, &v)
	if want := []string{"127.0.0.1:1", "127.0.0.1:2"}; !slices.Equal(v.Cluster.URLs, want) {
		t.Fatalf("/varz cluster urls %q, want %q", v.Cluster.URLs, want)
	}
}

package server

import (
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
	"time"
)

// connNamed is the /connz entry of the connection named name.
func connNamed(t *testing.T, s *Server, query, name string) ConnInfo {
	t.Helper()
	var cz Connz
	monGet(t, s, "/connz"+query, http.StatusOK, &cz)
	for _, c := range cz.Conns {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no connection %q in %+v", name, cz.Conns)
	return ConnInfo{}
}

var uptimeText = regexp.MustCompile(`^(\d+y)?(\d+d)?(\d+h)?(\d+m)?\d+s$`)

// TestConnzLastActivity: /connz shows nats-server's last_activity and idle.
// Publishing, subscribing and being delivered to are activity; a PING is
// not. sort=last puts the most recently active first, sort=idle last.
func TestConnzLastActivity(t *testing.T) {
	s := startMonitored(t, nil)
	idle := dialRaw(t, s)
	idle.send(`CONNECT {"verbose":false,"name":"idle"}` + "\r\nPING\r\n")
	idle.expect("PONG")
	sub := dialRaw(t, s)
	sub.send(`CONNECT {"verbose":false,"name":"sub"}` + "\r\nSUB act 1\r\nPING\r\n")
	sub.expect("PONG")
	pub := dialRaw(t, s)
	pub.send(`CONNECT {"verbose":false,"name":"pub"}` + "\r\nPING\r\n")
	pub.expect("PONG")

	p0, s0 := connNamed(t, s, "", "pub"), connNamed(t, s, "", "sub")
	if p0.LastActivity.Before(p0.Start) || !uptimeText.MatchString(p0.Idle) {
		t.Fatalf("pub: start %v, last_activity %v, idle %q", p0.Start, p0.LastActivity, p0.Idle)
	}
	pub.send("PING\r\n")
	pub.expect("PONG")
	if p := connNamed(t, s, "", "pub"); !p.LastActivity.Equal(p0.LastActivity) {
		t.Fatalf("a PING moved last_activity from %v to %v", p0.LastActivity, p.LastActivity)
	}

	pub.send("PUB act 2\r\nhi\r\nPING\r\n")
	pub.expect("PONG")
	sub.expect("MSG act 1 2", "hi")
	eventually(t, "the publisher's and the subscriber's activity", func() bool {
		p, s := connNamed(t, s, "", "pub"), connNamed(t, s, "", "sub")
		return p.LastActivity.After(p0.LastActivity) && s.LastActivity.After(s0.LastActivity)
	})

	var cz Connz
	monGet(t, s, "/connz?sort=last", http.StatusOK, &cz)
	if names := connNames(cz); names[len(names)-1] != "idle" {
		t.Errorf("sort=last: %q, want idle last", names)
	}
	cz = Connz{}
	monGet(t, s, "/connz?sort=idle", http.StatusOK, &cz)
	if names := connNames(cz); names[0] != "idle" {
		t.Errorf("sort=idle: %q, want idle first", names)
	}

	// The field names are nats-server's.
	var raw struct {
		Conns []map[string]any `json:"connections"`
	}
	monGet(t, s, "/connz", http.StatusOK, &raw)
	for _, key := range []string{"last_activity", "idle", "rtt"} {
		if _, ok := raw.Conns[0][key]; !ok {
			t.Errorf("no %q in %v", key, raw.Conns[0])
		}
	}
}

// TestConnzRTT: rtt is estimated at CONNECT, as nats-server does, then
// measured by the PONG to the server's PING; a PONG held back 500 ms
// measures at least that. sort=rtt puts the largest first.
func TestConnzRTT(t *testing.T) {
	s := startMonitored(t, func(o *Options) {
		o.PingInterval = time.Second
		o.MaxPingsOut = 10
	})
	fast := dialRaw(t, s)
	fast.send(`CONNECT {"verbose":false,"name":"fast"}` + "\r\nPING\r\n")
	fast.expect("PONG")
	slow := dialRaw(t, s)
	slow.send(`CONNECT {"verbose":false,"name":"slow"}` + "\r\nPING\r\n")
	slow.expect("PONG")
	if d, err := time.ParseDuration(connNamed(t, s, "", "slow").RTT); err != nil || d <= 0 {
		t.Fatalf("rtt after CONNECT: %v, %v; want the estimate", d, err)
	}

	// The first keepalive PING comes within about a second, busy or not.
	slow.expect("PING")
	const hold = 500 * time.Millisecond
	time.Sleep(hold) // the delay measured, not a wait for the server
	slow.send("PONG\r\n")
	var rtt time.Duration
	eventually(t, "rtt measured by the PONG", func() bool {
		rtt, _ = time.ParseDuration(connNamed(t, s, "", "slow").RTT)
		return rtt >= hold
	})
	if rtt > 30*time.Second {
		t.Fatalf("rtt %v", rtt)
	}
	var cz Connz
	monGet(t, s, "/connz?sort=rtt", http.StatusOK, &cz)
	if names := connNames(cz); names[0] != "slow" {
		t.Errorf("sort=rtt: %q, want slow first", names)
	}
}

// TestFormatRTT: Go's duration text, cut to the microsecond below a
// millisecond, as nats-server shows it.
func TestFormatRTT(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                           "0s",
		500 * time.Nanosecond:       "500ns",
		211_987 * time.Nanosecond:   "211µs",
		1_234_567 * time.Nanosecond: "1.234567ms",
		2 * time.Second:             "2s",
	} {
		if got := formatRTT(d); got != want {
			t.Errorf("formatRTT(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestRoutezActivityAndRTT: each route in /routez has nats-server's
// last_activity, idle, rtt (measured by the route's first PING, sent
// even while the route is busy) and compression "off". Interest and
// messages over the route are activity.
func TestRoutezActivityAndRTT(t *testing.T) {
	servers := startTestCluster(t, 2, func(i int, o *Options) { o.HTTPPort = -1 })
	route := func() RouteInfo {
		var rz Routez
		monGet(t, servers[0], "/routez", http.StatusOK, &rz)
		if rz.NumRoutes != 1 {
			t.Fatalf("routes %+v", rz)
		}
		return rz.Routes[0]
	}
	eventually(t, "the route's rtt", func() bool {
		d, err := time.ParseDuration(route().RTT)
		return err == nil && d > 0
	})
	r0 := route()
	if r0.Compression != "off" || !uptimeText.MatchString(r0.Idle) || r0.LastActivity.Before(r0.Start) {
		t.Fatalf("route %+v", r0)
	}

	sub := connectTo(t, servers[1])
	ch, err := sub.SubscribeSync("over.route")
	if err != nil {
		t.Fatal(err)
	}
	sub.Flush()
	waitInterest(t, servers[0], "over.route", 1)
	eventually(t, "the RS+ as activity", func() bool { return route().LastActivity.After(r0.LastActivity) })
	r1 := route()

	pub := connectTo(t, servers[0])
	pub.Publish("over.route", []byte("x"))
	if _, err := ch.NextMsg(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the message sent as activity", func() bool { return route().LastActivity.After(r1.LastActivity) })

	var raw struct {
		Routes []map[string]json.RawMessage `json:"routes"`
	}
	monGet(t, servers[0], "/routez", http.StatusOK, &raw)
	for _, key := range []string{"last_activity", "idle", "rtt", "compression"} {
		if _, ok := raw.Routes[0][key]; !ok {
			t.Errorf("no %q in /routez's route", key)
		}
	}
}

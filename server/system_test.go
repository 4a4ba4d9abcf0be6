package server

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// sysAccounts configures a system account SYS (user sys) and an
// application account APP (user app).
func sysAccounts(o *Options) {
	o.Accounts = []AccountConfig{
		{Name: "SYS", Users: []User{{Username: "sys", Password: "sys"}}},
		{Name: "APP", Users: []User{{Username: "app", Password: "app"}}},
	}
	o.SystemAccount = "SYS"
}

// natsServerInfo and the structs below decode with nats-server's field
// names, as a tool written against nats-server would.
type natsServerInfo struct {
	Name      string    `json:"name"`
	Host      string    `json:"host"`
	ID        string    `json:"id"`
	Version   string    `json:"ver"`
	JetStream bool      `json:"jetstream"`
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
}

type natsAPIError struct {
	Code        int    `json:"code"`
	Description string `json:"description"`
}

type natsResponse[T any] struct {
	Server natsServerInfo `json:"server"`
	Data   T              `json:"data"`
	Error  *natsAPIError  `json:"error"`
}

type natsStatsz struct {
	Server natsServerInfo `json:"server"`
	Stats  struct {
		Start         time.Time `json:"start"`
		Connections   int       `json:"connections"`
		TotalConns    int64     `json:"total_connections"`
		NumSubs       uint32    `json:"subscriptions"`
		Sent          DataStats `json:"sent"`
		Received      DataStats `json:"received"`
		ActiveServers int       `json:"active_servers"`
		Routes        []struct {
			Name string `json:"name"`
		} `json:"routes"`
	} `json:"statsz"`
}

type natsConnz struct {
	ServerID string `json:"server_id"`
	NumConns int    `json:"num_connections"`
	Total    int    `json:"total"`
	Conns    []struct {
		CID     uint64   `json:"cid"`
		Name    string   `json:"name"`
		User    string   `json:"authorized_user"`
		Account string   `json:"account"`
		Subs    []string `json:"subscriptions_list"`
	} `json:"connections"`
}

func request[T any](t *testing.T, nc *nats.Conn, subject, body string) T {
	t.Helper()
	msg, err := nc.Request(subject, []byte(body), 5*time.Second)
	if err != nil {
		t.Fatalf("request %s: %v", subject, err)
	}
	var v T
	if err := json.Unmarshal(msg.Data, &v); err != nil {
		t.Fatalf("request %s: decoding %q: %v", subject, msg.Data, err)
	}
	return v
}

func TestSystemAccountMustExist(t *testing.T) {
	o := DefaultOptions()
	o.SystemAccount = "NOPE"
	if _, err := New(o, nil); err == nil || !strings.Contains(err.Error(), `system_account: "NOPE" is not a configured account`) {
		t.Fatalf("err = %v", err)
	}
}

func TestSystemRequestsAnswered(t *testing.T) {
	s := startServer(t, sysAccounts)
	sys := connectTo(t, s, nats.UserInfo("sys", "sys"))
	app := connectTo(t, s, nats.UserInfo("app", "app"), nats.Name("the-app"))
	if _, err := app.SubscribeSync("orders.>"); err != nil {
		t.Fatal(err)
	}
	app.Flush()

	st := request[natsStatsz](t, sys, "$SYS.REQ.SERVER.PING", "")
	if st.Server.ID != s.ID() || st.Server.Version != NATSVersion || st.Stats.Connections != 2 || st.Stats.ActiveServers != 1 {
		t.Fatalf("statsz %+v", st)
	}
	st2 := request[natsStatsz](t, sys, "$SYS.REQ.SERVER."+s.ID()+".STATSZ", "")
	if st2.Server.Seq <= st.Server.Seq {
		t.Fatalf("seq did not grow: %d then %d", st.Server.Seq, st2.Server.Seq)
	}

	idz := request[Idz](t, sys, "$SYS.REQ.SERVER.PING.IDZ", "")
	if idz.ID != s.ID() || idz.Name != s.Name() {
		t.Fatalf("idz %+v", idz)
	}

	vz := request[natsResponse[struct {
		ID      string `json:"server_id"`
		Version string `json:"version"`
		Conns   int    `json:"connections"`
	}]](t, sys, "$SYS.REQ.SERVER.PING.VARZ", "")
	if vz.Error != nil || vz.Data.ID != s.ID() || vz.Data.Conns != 2 || vz.Server.ID != s.ID() {
		t.Fatalf("varz %+v", vz)
	}

	// The same filters as /connz: the account, the user, auth and subs.
	cz := request[natsResponse[natsConnz]](t, sys, "$SYS.REQ.SERVER.PING.CONNZ", `{"auth":true,"subscriptions":true,"acc":"APP"}`)
	if cz.Error != nil || cz.Data.NumConns != 1 || cz.Data.Conns[0].Name != "the-app" || cz.Data.Conns[0].User != "app" ||
		cz.Data.Conns[0].Account != "APP" || len(cz.Data.Conns[0].Subs) != 1 || cz.Data.Conns[0].Subs[0] != "orders.>" {
		t.Fatalf("connz %+v", cz)
	}
	acz := request[natsResponse[natsConnz]](t, sys, "$SYS.REQ.ACCOUNT.APP.CONNZ", "")
	if acz.Error != nil || acz.Data.Total != 1 {
		t.Fatalf("account connz %+v", acz)
	}
	bad := request[natsResponse[natsConnz]](t, sys, "$SYS.REQ.SERVER.PING.CONNZ", `{"sort":"nonsense"}`)
	if bad.Error == nil || bad.Error.Code != 400 || !strings.Contains(bad.Error.Description, "unknown sort") {
		t.Fatalf("bad sort answered %+v", bad)
	}
	noAcc := request[natsResponse[natsConnz]](t, sys, "$SYS.REQ.ACCOUNT.NOPE.CONNZ", "")
	if noAcc.Error == nil || noAcc.Error.Code != 404 {
		t.Fatalf("unknown account answered %+v", noAcc)
	}

	sz := request[natsResponse[struct {
		Total int         `json:"total"`
		Subs  []SubDetail `json:"subscriptions_list"`
	}]](t, sys, "$SYS.REQ.ACCOUNT.APP.SUBSZ", `{"subscriptions":true}`)
	if sz.Error != nil || sz.Data.Total != 1 || sz.Data.Subs[0].Subject != "orders.>" {
		t.Fatalf("subsz %+v", sz)
	}

	hz := request[natsResponse[healthz]](t, sys, "$SYS.REQ.SERVER.PING.HEALTHZ", "")
	if hz.Error != nil || hz.Data.Status != "ok" || hz.Data.StatusCode != 200 {
		t.Fatalf("healthz %+v", hz)
	}
	hzjs := request[natsResponse[healthz]](t, sys, "$SYS.REQ.SERVER.PING.HEALTHZ", `{"js-enabled-only":true}`)
	if hzjs.Data.StatusCode != 503 || hzjs.Data.Error != "JetStream not enabled" {
		t.Fatalf("healthz js-enabled-only without JetStream %+v", hzjs)
	}

	az := request[natsResponse[struct {
		System   string   `json:"system_account"`
		Accounts []string `json:"accounts"`
	}]](t, sys, "$SYS.REQ.SERVER.PING.ACCOUNTZ", "")
	if az.Data.System != "SYS" || strings.Join(az.Data.Accounts, ",") != "$G,APP,SYS" && strings.Join(az.Data.Accounts, ",") != "$G,SYS,APP" {
		t.Fatalf("accountz %+v", az)
	}

	info := request[natsResponse[struct {
		Name  string `json:"account_name"`
		Conns int    `json:"client_connections"`
	}]](t, sys, "$SYS.REQ.ACCOUNT.APP.INFO", "")
	if info.Data.Name != "APP" || info.Data.Conns != 1 {
		t.Fatalf("account info %+v", info)
	}

	stz := request[natsResponse[struct {
		Accounts []struct {
			Account string `json:"acc"`
			Conns   int    `json:"conns"`
			Subs    uint32 `json:"num_subscriptions"`
		} `json:"account_statz"`
	}]](t, sys, "$SYS.REQ.ACCOUNT.APP.STATZ", "")
	if len(stz.Data.Accounts) != 1 || stz.Data.Accounts[0].Account != "APP" || stz.Data.Accounts[0].Conns != 1 || stz.Data.Accounts[0].Subs != 1 {
		t.Fatalf("statz %+v", stz)
	}

	// A filter naming another server gets no answer from this one.
	if _, err := sys.Request("$SYS.REQ.SERVER.PING.VARZ", []byte(`{"server_name":"elsewhere"}`), 300*time.Millisecond); !errors.Is(err, nats.ErrTimeout) {
		t.Fatalf("filtered request: %v", err)
	}
}

// The HTTP endpoint and the $SYS request are one implementation: the same
// options give the same connections.
func TestSystemConnzMatchesHTTP(t *testing.T) {
	s := startMonitored(t, sysAccounts)
	sys := connectTo(t, s, nats.UserInfo("sys", "sys"))
	app := connectTo(t, s, nats.UserInfo("app", "app"))
	app.SubscribeSync("x")
	app.Flush()
	var viaHTTP Connz
	monGet(t, s, "/connz?acc=APP&auth=1&subs=1", 200, &viaHTTP)
	viaSys := request[natsResponse[Connz]](t, sys, "$SYS.REQ.SERVER.PING.CONNZ", `{"acc":"APP","auth":true,"subscriptions":true}`)
	// Durations are read from the clock (uptime and idle tick each second,
	// rtt is set by the first keepalive PING), so they may differ between
	// the two reads; they are compared as empty.
	for _, cs := range [][]ConnInfo{viaHTTP.Conns, viaSys.Data.Conns} {
		for i := range cs {
			cs[i].Uptime, cs[i].Idle, cs[i].RTT = "", "", ""
		}
	}
	a, _ := json.Marshal(viaHTTP.Conns)
	b, _ := json.Marshal(viaSys.Data.Conns)
	// Counters may move between the two reads only for the sys user, which
	// the account filter leaves out.
	if string(a) != string(b) {
		t.Fatalf("http %s\nsys  %s", a, b)
	}
	var hz healthz
	monGet(t, s, "/healthz?js-enabled-only=1", 503, &hz)
	if hz.Error != "JetStream not enabled" {
		t.Fatalf("healthz %+v", hz)
	}
	monGet(t, s, "/healthz?js-server-only=nope", 400, nil)
}

// A user outside the system account reaches none of it: its $SYS.> holds
// no events and its requests find no responders. It may still ask who it
// is.
func TestSystemAccountIsolated(t *testing.T) {
	s := startServer(t, sysAccounts)
	app := connectTo(t, s, nats.UserInfo("app", "app"))
	if _, err := app.Request("$SYS.REQ.SERVER.PING", nil, time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("app's PING: %v", err)
	}
	sub, err := app.SubscribeSync("$SYS.>")
	if err != nil {
		t.Fatal(err)
	}
	app.Flush()
	// A system user listens, so events are sent; app sees none of them.
	sys := connectTo(t, s, nats.UserInfo("sys", "sys"))
	sys.SubscribeSync("$SYS.>")
	sys.Flush()
	gone := connectTo(t, s, nats.UserInfo("app", "app"))
	gone.Close()
	s.sendStatsz()
	if m, err := sub.NextMsg(300 * time.Millisecond); err == nil {
		t.Fatalf("app saw %s: %s", m.Subject, m.Data)
	}
	other := connectTo(t, s, nats.UserInfo("app", "app"))
	ui := request[natsResponse[UserInfo]](t, app, "$SYS.REQ.USER.INFO", "")
	if ui.Data.User != "app" || ui.Data.Account != "APP" {
		t.Fatalf("user info %+v", ui)
	}
	// As with nats-server, an account may ask for its own connections and
	// figures, and sees only its own.
	for _, subject := range []string{"$SYS.REQ.SERVER.PING.CONNZ", "$SYS.REQ.ACCOUNT.PING.CONNZ"} {
		cz := request[natsResponse[natsConnz]](t, other, subject, `{"auth":true}`)
		if cz.Error != nil || cz.Data.Total != 2 {
			t.Fatalf("%s from APP: %+v", subject, cz)
		}
		for _, c := range cz.Data.Conns {
			if c.Account != "APP" {
				t.Fatalf("%s from APP shows %+v", subject, c)
			}
		}
	}
	stz := request[natsResponse[Statz]](t, other, "$SYS.REQ.ACCOUNT.PING.STATZ", "")
	if len(stz.Data.Accounts) != 1 || stz.Data.Accounts[0].Account != "APP" || stz.Data.Accounts[0].Conns != 2 {
		t.Fatalf("statz from APP: %+v", stz)
	}

	// Without system_account the built-in one is reached by nobody.
	s2 := startServer(t, nil)
	anon := connectTo(t, s2)
	if _, err := anon.Request("$SYS.REQ.SERVER.PING", nil, time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("global account's PING: %v", err)
	}
	if s2.sysAccount().name != DefaultSystemAccount {
		t.Fatalf("system account %q", s2.sysAccount().name)
	}
	ui2 := request[natsResponse[UserInfo]](t, anon, "$SYS.REQ.USER.INFO", "")
	if ui2.Data.Account != GlobalAccount {
		t.Fatalf("user info %+v", ui2)
	}
}

func TestSystemConnectEvents(t *testing.T) {
	s := startServer(t, sysAccounts)
	sys := connectTo(t, s, nats.UserInfo("sys", "sys"))
	conns, _ := sys.SubscribeSync("$SYS.ACCOUNT.APP.CONNECT")
	discs, _ := sys.SubscribeSync("$SYS.ACCOUNT.APP.DISCONNECT")
	sys.Flush()

	app := connectTo(t, s, nats.UserInfo("app", "app"), nats.Name("evt"))
	app.Publish("a", []byte("hello"))
	app.Flush()
	m, err := conns.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var ce struct {
		Type   string         `json:"type"`
		ID     string         `json:"id"`
		Server natsServerInfo `json:"server"`
		Client struct {
			ID      uint64 `json:"id"`
			Account string `json:"acc"`
			User    string `json:"user"`
			Name    string `json:"name"`
			Kind    string `json:"kind"`
		} `json:"client"`
	}
	if err := json.Unmarshal(m.Data, &ce); err != nil {
		t.Fatal(err)
	}
	if ce.Type != "io.nats.server.advisory.v1.client_connect" || ce.ID == "" || ce.Server.ID != s.ID() ||
		ce.Client.Account != "APP" || ce.Client.User != "app" || ce.Client.Name != "evt" || ce.Client.Kind != "Client" {
		t.Fatalf("connect event %s", m.Data)
	}
	app.Close()
	m, err = discs.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var de struct {
		Type   string `json:"type"`
		Client struct {
			ID   uint64     `json:"id"`
			Stop *time.Time `json:"stop"`
		} `json:"client"`
		Received DataStats `json:"received"`
		Reason   string    `json:"reason"`
	}
	if err := json.Unmarshal(m.Data, &de); err != nil {
		t.Fatal(err)
	}
	if de.Type != "io.nats.server.advisory.v1.client_disconnect" || de.Client.ID != ce.Client.ID || de.Client.Stop == nil ||
		de.Received.Msgs != 1 || de.Received.Bytes != 5 || de.Reason != "Client Closed" {
		t.Fatalf("disconnect event %s", m.Data)
	}
}

func TestSystemServerEvents(t *testing.T) {
	s := startServer(t, func(o *Options) {
		sysAccounts(o)
		o.LameDuckDuration = time.Second
		o.LameDuckGracePeriod = 10 * time.Millisecond
	})
	sys := connectTo(t, s, nats.UserInfo("sys", "sys"))
	statsz, _ := sys.SubscribeSync("$SYS.SERVER." + s.ID() + ".STATSZ")
	ldm, _ := sys.SubscribeSync("$SYS.SERVER.*.LAMEDUCK")
	sys.Flush()
	// STATSZ comes on its timer; a request makes the server publish one
	// too, which the statsz loop does at once on start.
	s.sendStatsz()
	m, err := statsz.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var st natsStatsz
	if err := json.Unmarshal(m.Data, &st); err != nil || st.Server.ID != s.ID() || st.Stats.Connections != 1 {
		t.Fatalf("statsz %s (%v)", m.Data, err)
	}
	go s.LameDuck(t.Context())
	m, err = ldm.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var si natsServerInfo
	if err := json.Unmarshal(m.Data, &si); err != nil || si.ID != s.ID() {
		t.Fatalf("lame duck %s (%v)", m.Data, err)
	}
}

func TestSystemShutdownEvent(t *testing.T) {
	s := startServer(t, sysAccounts)
	ch := make(chan []byte, 1)
	cancel, err := s.subscribeIn(s.sysAccount(), "$SYS.SERVER.*.SHUTDOWN", "", func(_, _, _, data []byte) {
		ch <- append([]byte(nil), data...)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	s.Shutdown(t.Context())
	select {
	case b := <-ch:
		var si natsServerInfo
		if err := json.Unmarshal(b, &si); err != nil || si.ID != s.ID() {
			t.Fatalf("shutdown %s (%v)", b, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no shutdown event")
	}
}

// /varz's config_load_time is the start until a reload moves it.
func TestVarzConfigLoadTime(t *testing.T) {
	s := startServer(t, sysAccounts)
	v := s.Varz()
	if !v.ConfigLoad.Equal(v.Start) {
		t.Fatalf("config_load_time %v, start %v", v.ConfigLoad, v.Start)
	}
	o := s.Options()
	if err := s.Reload(&o); err != nil {
		t.Fatal(err)
	}
	if v2 := s.Varz(); !v2.ConfigLoad.After(v.Start) {
		t.Fatalf("config_load_time after reload %v, start %v", v2.ConfigLoad, v.Start)
	}
	o.SystemAccount = "APP"
	if err := s.Reload(&o); !errors.Is(err, ErrNotReloadable) {
		t.Fatalf("reload changing system_account: %v", err)
	}
	// The reload kept the system account's responders.
	sys := connectTo(t, s, nats.UserInfo("sys", "sys"))
	request[natsStatsz](t, sys, subjPing, "")
}

// routableSystemSubs counts the system plane's subscriptions whose
// interest goes to other servers.
func (s *Server) routableSystemSubs() int {
	p := s.sysp.Load()
	n := 0
	for _, sub := range p.subs {
		if sub.routable {
			n++
		}
	}
	p.accMu.Lock()
	defer p.accMu.Unlock()
	for _, subs := range p.accSubs {
		for _, sub := range subs {
			if sub.routable {
				n++
			}
		}
	}
	return n
}

// HEALTHZ over $SYS and /healthz take the same options through the same
// parser: JetStream, and a named account, stream and consumer.
func TestSystemHealthzOptions(t *testing.T) {
	s := startMonitored(t, func(o *Options) {
		sysAccounts(o)
		o.JetStream = true
	})
	s.SetJetStreamReporter(func() (JetStreamReport, error) {
		return JetStreamReport{Streams: []StreamReport{
			{Name: "APP/ORDERS", Consumers: []ConsumerReport{{Name: "worker"}}},
			{Name: "LOCAL"},
		}}, nil
	})
	sys := connectTo(t, s, nats.UserInfo("sys", "sys"))
	for _, tc := range []struct {
		query, body string
		code        int
		err         string
	}{
		{"", `{}`, 200, ""},
		{"js-enabled-only=1", `{"js-enabled-only":true}`, 200, ""},
		{"js-server-only=1", `{"js-server-only":true}`, 200, ""},
		{"account=APP&stream=ORDERS&consumer=worker", `{"account":"APP","stream":"ORDERS","consumer":"worker"}`, 200, ""},
		{"stream=LOCAL", `{"stream":"LOCAL"}`, 200, ""},
		{"account=NOPE", `{"account":"NOPE"}`, 404, `JetStream account "NOPE" not found`},
		{"account=SYS", `{"account":"SYS"}`, 404, `JetStream account "SYS" not found`},
		{"account=APP&stream=X", `{"account":"APP","stream":"X"}`, 404, `JetStream stream "X" not found on account "APP"`},
		{"account=APP&stream=ORDERS&consumer=x", `{"account":"APP","stream":"ORDERS","consumer":"x"}`, 404, `JetStream consumer "x" not found for stream "ORDERS" on account "APP"`},
	} {
		var h healthz
		monGet(t, s, "/healthz?"+tc.query, tc.code, &h)
		if h.Error != tc.err || h.StatusCode != 0 {
			t.Errorf("/healthz?%s: %+v", tc.query, h)
		}
		r := request[natsResponse[healthz]](t, sys, "$SYS.REQ.SERVER.PING.HEALTHZ", tc.body)
		if r.Data.StatusCode != tc.code || r.Data.Error != tc.err {
			t.Errorf("HEALTHZ %s: %+v", tc.body, r)
		}
	}
	monGet(t, s, "/healthz?consumer=x", 400, nil)
	monGet(t, s, "/healthz?details=1", 400, nil)
	if r := request[natsResponse[healthz]](t, sys, "$SYS.REQ.SERVER.PING.HEALTHZ", `{"details":true}`); r.Error == nil || r.Error.Code != 400 {
		t.Errorf("HEALTHZ details: %+v", r)
	}
}

// Requests are answered by a bounded number of goroutines; past the bound
// they are dropped, and answered again once there is room.
func TestSystemRequestsBounded(t *testing.T) {
	s := startServer(t, sysAccounts)
	app := connectTo(t, s, nats.UserInfo("app", "app"))
	p := s.sysp.Load()
	for i := 0; i < maxSysRequests; i++ {
		p.busy <- struct{}{}
	}
	if _, err := app.Request("$SYS.REQ.ACCOUNT.PING.CONNZ", nil, 300*time.Millisecond); !errors.Is(err, nats.ErrTimeout) {
		t.Fatalf("request past the bound: %v", err)
	}
	for i := 0; i < maxSysRequests; i++ {
		<-p.busy
	}
	request[natsResponse[natsConnz]](t, app, "$SYS.REQ.ACCOUNT.PING.CONNZ", "")
}

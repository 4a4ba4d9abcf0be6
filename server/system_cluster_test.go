package server

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// gather sends a request and collects every answer until none has come for
// a while, as natscli does.
func gather(t *testing.T, nc *nats.Conn, subject, body string, want int) [][]byte {
	t.Helper()
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest(subject, inbox, []byte(body)); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	deadline := time.Now().Add(10 * time.Second)
	for len(out) < want && time.Now().Before(deadline) {
		m, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			break
		}
		out = append(out, m.Data)
	}
	// Nothing beyond the expected answers.
	if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("an extra answer: %s", m.Data)
	}
	return out
}

// In a cluster of three, a PING from a system user on one server is
// answered by every server (requests and answers travel over routes), and
// a request to one server id by that server only, whichever server the
// requester is on. Connect events of another server reach it too.
func TestSystemClusterPingFanOut(t *testing.T) {
	servers := startTestCluster(t, 3, func(i int, o *Options) { sysAccounts(o) })
	sys := connectTo(t, servers[0], nats.UserInfo("sys", "sys"))
	// The responders' interest reaches every server.
	for _, s := range servers {
		acc := s.lookupAccount("SYS")
		eventually(t, "PING interest on "+s.Name(), func() bool {
			n := 0
			for _, sub := range acc.sl.Match([]byte(subjPing)).Plain {
				if sub.peer != nil {
					n++
				}
			}
			return n == 2
		})
	}

	var names []string
	for _, b := range gather(t, sys, subjPing, "", 3) {
		var st natsStatsz
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		if st.Stats.ActiveServers != 3 || len(st.Stats.Routes) != 2 {
			t.Fatalf("statsz of %s: %s", st.Server.Name, b)
		}
		names = append(names, st.Server.Name)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "n1,n2,n3" {
		t.Fatalf("PING answered by %v", names)
	}

	for _, kind := range []string{"VARZ", "CONNZ", "SUBSZ", "HEALTHZ", "STATZ", "ACCOUNTZ", "JSZ", "ROUTEZ", "STATSZ", "IDZ"} {
		body := ""
		if kind == "STATZ" {
			body = `{"include_unused":true}` // servers without connections stay silent otherwise
		}
		answers := gather(t, sys, "$SYS.REQ.SERVER.PING."+kind, body, 3)
		if len(answers) != 3 {
			t.Fatalf("PING.%s: %d answers", kind, len(answers))
		}
		for _, b := range answers {
			if kind == "IDZ" { // bare, without the envelope
				var id Idz
				if err := json.Unmarshal(b, &id); err != nil || id.ID == "" {
					t.Fatalf("IDZ: %s (%v)", b, err)
				}
				continue
			}
			var r natsResponse[json.RawMessage]
			if err := json.Unmarshal(b, &r); err != nil || r.Server.ID == "" {
				t.Fatalf("PING.%s: %s (%v)", kind, b, err)
			}
			// No stream layer is wired into these servers.
			if kind == "JSZ" && (r.Error == nil || r.Error.Code != 404) {
				t.Fatalf("JSZ without streams: %s", b)
			}
		}
	}

	// ROUTEZ takes /routez's subscription option through the same parser.
	rz := gather(t, sys, "$SYS.REQ.SERVER."+servers[2].ID()+".ROUTEZ", `{"subscriptions":true}`, 1)
	var routes natsResponse[Routez]
	if len(rz) != 1 || json.Unmarshal(rz[0], &routes) != nil || len(routes.Data.Routes) != 2 || len(routes.Data.Routes[0].Subs) == 0 {
		t.Fatalf("ROUTEZ with subscriptions of n3: %q", rz)
	}

	idz := gather(t, sys, "$SYS.REQ.SERVER."+servers[2].ID()+".IDZ", "", 1)
	var id Idz
	if len(idz) != 1 || json.Unmarshal(idz[0], &id) != nil || id.Name != "n3" {
		t.Fatalf("IDZ of n3: %q", idz)
	}

	// A server filter picks one server.
	one := gather(t, sys, "$SYS.REQ.SERVER.PING.VARZ", `{"server_name":"n2"}`, 1)
	if len(one) != 1 || !strings.Contains(string(one[0]), `"name":"n2"`) {
		t.Fatalf("filtered: %q", one)
	}

	// Connections of every server for one account.
	app := connectTo(t, servers[1], nats.UserInfo("app", "app"))
	app.Flush()
	total := 0
	for _, b := range gather(t, sys, "$SYS.REQ.ACCOUNT.APP.CONNZ", "", 3) {
		var r natsResponse[natsConnz]
		json.Unmarshal(b, &r)
		total += r.Data.Total
	}
	if total != 1 {
		t.Fatalf("APP's connections across the cluster: %d", total)
	}
	// An APP user on n1 asks every server for its account's connections.
	appOnN1 := connectTo(t, servers[0], nats.UserInfo("app", "app"))
	appOnN1.Flush()
	total = 0
	for _, b := range gather(t, appOnN1, "$SYS.REQ.ACCOUNT.PING.CONNZ", "", 3) {
		var r natsResponse[natsConnz]
		json.Unmarshal(b, &r)
		total += r.Data.Total
	}
	if total != 2 {
		t.Fatalf("APP's connections across the cluster, asked from APP: %d", total)
	}

	// A connect event on n3 reaches a subscriber on n1.
	evts, _ := sys.SubscribeSync("$SYS.ACCOUNT.APP.CONNECT")
	sys.Flush()
	acc3 := servers[2].lookupAccount("SYS")
	eventually(t, "event interest on n3", func() bool { return hasInterest(acc3.sl, "$SYS.ACCOUNT.APP.CONNECT") })
	connectTo(t, servers[2], nats.UserInfo("app", "app"))
	m, err := evts.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(m.Data), `"name":"n3"`) {
		t.Fatalf("connect event %s", m.Data)
	}
}

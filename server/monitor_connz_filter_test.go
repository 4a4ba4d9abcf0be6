package server

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

// TestConnzFilterSubject: CONNZ's filter_subject (what `nats server report
// connections --account A --subject S` sends) keeps the connections with a
// subscription that a message on S can reach, wildcards either side, and,
// as in nats-server, only together with an account.
func TestConnzFilterSubject(t *testing.T) {
	s := startMonitored(t, sysAccounts)
	sys := connectTo(t, s, nats.UserInfo("sys", "sys"))
	for name, subject := range map[string]string{"orders": "orders.*", "billing": "billing", "quiet": ""} {
		nc := connectTo(t, s, nats.UserInfo("app", "app"), nats.Name(name))
		if subject != "" {
			if _, err := nc.SubscribeSync(subject); err != nil {
				t.Fatal(err)
			}
		}
		nc.Flush()
	}
	names := func(cz natsConnz) []string {
		var out []string
		for _, c := range cz.Conns {
			out = append(out, c.Name)
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		subject, body string
		want          []string
	}{
		{"$SYS.REQ.SERVER.PING.CONNZ", `{"acc":"APP","filter_subject":"orders.new"}`, []string{"orders"}},
		{"$SYS.REQ.SERVER.PING.CONNZ", `{"acc":"APP","filter_subject":"orders.new.x"}`, nil},
		{"$SYS.REQ.ACCOUNT.APP.CONNZ", `{"filter_subject":"orders.>"}`, []string{"orders"}},
		{"$SYS.REQ.ACCOUNT.APP.CONNZ", `{"filter_subject":"*"}`, []string{"billing"}},
		{"$SYS.REQ.ACCOUNT.APP.CONNZ", `{"filter_subject":">"}`, []string{"billing", "orders", "quiet"}},
	} {
		cz := request[natsResponse[natsConnz]](t, sys, tc.subject, tc.body)
		if cz.Error != nil || !slices.Equal(names(cz.Data), tc.want) {
			t.Errorf("%s %s: %v (error %+v), want %v", tc.subject, tc.body, names(cz.Data), cz.Error, tc.want)
		}
	}
	bad := request[natsResponse[natsConnz]](t, sys, "$SYS.REQ.SERVER.PING.CONNZ", `{"filter_subject":"orders.new"}`)
	if bad.Error == nil || bad.Error.Code != 400 || !strings.Contains(bad.Error.Description, "only valid with account filtering") {
		t.Fatalf("filter_subject without an account answered %+v", bad)
	}

	var cz Connz
	monGet(t, s, "/connz?acc=APP&filter_subject=billing", http.StatusOK, &cz)
	if got := connNames(cz); !slices.Equal(got, []string{"billing"}) {
		t.Errorf("/connz?acc=APP&filter_subject=billing: %q", got)
	}
	monGet(t, s, "/connz?filter_subject=billing", http.StatusBadRequest, nil)
	monGet(t, s, "/connz?acc=APP&filter_subject=a..b", http.StatusBadRequest, nil)
}

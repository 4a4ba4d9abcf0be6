package server

import (
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

// readRMsgsUntil reads r until an RMSG of account on subject whose payload
// is marker, and returns the "account subject" of every RMSG before it.
func (r *rawRoute) readRMsgsUntil(t *testing.T, account, subject, marker string) []string {
	t.Helper()
	var seen []string
	for {
		line := r.readLine(t)
		if !strings.HasPrefix(line, "RMSG ") {
			continue
		}
		f := strings.Fields(line)
		payload := r.readLine(t)
		if f[1] == account && f[2] == subject && payload == marker {
			return seen
		}
		seen = append(seen, f[1]+" "+f[2])
	}
}

// A server sends a message over a route only when the peer has interest
// in its subject in the publisher's account, as the peer's RS+ and RS-
// deltas say: not for another subject, not for the same subject in
// another account, not after the peer withdrew it.
func TestClusterForwardsOnInterestOnly(t *testing.T) {
	s := startServer(t, func(o *Options) {
		o.ServerName = "n1"
		o.Cluster = ClusterOptions{Name: "test", Host: "127.0.0.1", Port: -1}
		o.Accounts = []AccountConfig{
			{Name: "A", Users: []User{{Username: "a", Password: "a"}}},
			{Name: "B", Users: []User{{Username: "b", Password: "b"}}},
		}
	})
	peer := dialRoute(t, s)
	peer.send(`CONNECT {"route":true,"cluster":"test","server_id":"PEER","name":"peer"}` + "\r\n" +
		`INFO {"server_id":"PEER","server_name":"peer","cluster":"test","route":true,"route_url":"127.0.0.1:1"}` + "\r\n" +
		"RS+ A foo\r\nRS+ A mark\r\n")
	accA := s.lookupAccount("A")
	eventually(t, "the peer's interest in A", func() bool {
		return len(accA.sl.Match([]byte("foo")).Plain) == 1 && len(accA.sl.Match([]byte("mark")).Plain) == 1
	})
	pubA := connectTo(t, s, nats.UserInfo("a", "a"))
	pubB := connectTo(t, s, nats.UserInfo("b", "b"))
	// Each publish is flushed before the next, so the server has handled
	// it before the mark: anything it forwarded is ahead of the mark.
	publish := func(nc *nats.Conn, subject, data string) {
		t.Helper()
		nc.Publish(subject, []byte(data))
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	publish(pubA, "bar", "no interest")
	publish(pubB, "foo", "other account")
	publish(pubA, "foo", "wanted")
	publish(pubA, "mark", "1")
	if seen := peer.readRMsgsUntil(t, "A", "mark", "1"); len(seen) != 1 || seen[0] != "A foo" {
		t.Fatalf("before the mark the route carried %q, want only A foo", seen)
	}

	peer.send("RS- A foo\r\n")
	eventually(t, "the peer's interest withdrawn", func() bool { return len(accA.sl.Match([]byte("foo")).Plain) == 0 })
	publish(pubA, "foo", "withdrawn")
	publish(pubA, "mark", "2")
	if seen := peer.readRMsgsUntil(t, "A", "mark", "2"); len(seen) != 0 {
		t.Fatalf("after RS- the route carried %q", seen)
	}
}

package replication

import (
	"log/slog"
	"testing"
)

// TestHelloAccounts: a server that names its accounts in its hellos is
// taken to have those alone; one whose hellos lack the field (an earlier
// version), or not heard from, every account.
func TestHelloAccounts(t *testing.T) {
	n := &Node{name: "n1", accounts: func() []string { return []string{"", "A"} }}
	n.meta = &Meta{node: n, log: slog.New(slog.DiscardHandler), hellos: map[string]heardHello{}}
	n.meta.receiveHello("old", []byte(`{"set":["n1","new","old"],"pristine":false}`))
	n.meta.receiveHello("new", []byte(`{"set":["n1","new","old"],"pristine":false,"accounts":["","B"]}`))
	for _, c := range []struct {
		server, account string
		want            bool
	}{
		{"n1", "", true}, {"n1", "A", true}, {"n1", "B", false},
		{"old", "A", true}, {"old", "B", true},
		{"new", "", true}, {"new", "B", true}, {"new", "A", false},
		{"unheard", "A", true},
	} {
		if got := n.HasAccount(c.server, c.account); got != c.want {
			t.Errorf("HasAccount(%q, %q) = %v, want %v", c.server, c.account, got, c.want)
		}
	}
	if got := n.ownAccounts(); len(got) != 2 {
		t.Fatalf("own hello's accounts: %q", got)
	}
	bare := &Node{name: "n2"}
	if bare.ownAccounts() != nil {
		t.Fatal("a node told no accounts names some")
	}
}

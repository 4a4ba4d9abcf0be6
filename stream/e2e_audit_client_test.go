package stream_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestAuditClientBlock: the API audit advisory names the client that
// made the call in nats-server's client info block: host, connection id,
// account, user, name, language and version, and the server it is on.
func TestAuditClientBlock(t *testing.T) {
	n := startNode(t, t.TempDir())
	sub, err := n.nc.SubscribeSync("$JS.EVENT.ADVISORY.API")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	caller, err := nats.Connect(n.srv.ClientURL(), nats.Name("audited-app"))
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	cid, err := caller.GetClientID()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := caller.Request("$JS.API.INFO", nil, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var a struct {
		Client struct {
			Start   time.Time `json:"start"`
			Host    string    `json:"host"`
			ID      uint64    `json:"id"`
			Account string    `json:"acc"`
			Name    string    `json:"name"`
			Lang    string    `json:"lang"`
			Version string    `json:"ver"`
			Server  string    `json:"server"`
			Kind    string    `json:"kind"`
			Type    string    `json:"client_type"`
		} `json:"client"`
	}
	if err := json.Unmarshal(m.Data, &a); err != nil {
		t.Fatal(err)
	}
	c := a.Client
	if c.Host != "127.0.0.1" || c.ID != cid || c.Account != "$G" || c.Name != "audited-app" || c.Lang != "go" ||
		c.Version != nats.Version || c.Server != n.srv.Name() || c.Start.IsZero() || c.Kind != "Client" || c.Type != "nats" {
		t.Fatalf("client block %s", m.Data)
	}
}

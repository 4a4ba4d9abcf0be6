package main

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
)

// The system account has no stream layer, as in nats-server; JSZ through
// $SYS reports the other accounts' streams, for the server or one account.
func TestSystemAccountStreams(t *testing.T) {
	cfg := conf.DefaultConfig()
	cfg.JetStream = true
	cfg.StoreDir = t.TempDir()
	cfg.Server = server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, SystemAccount: "SYS",
		Accounts: []server.AccountConfig{
			{Name: "SYS", Users: []server.User{{Username: "sys", Password: "s"}}},
			{Name: "APP", Users: []server.User{{Username: "app", Password: "a"}}},
		},
	}
	srv, _ := startWithStreams(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	sys, err := nats.Connect(srv.ClientURL(), nats.UserInfo("sys", "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	sys.Flush() // the INFO naming the account follows the first PONG
	if !sys.IsSystemAccount() {
		t.Error("nats.go does not see the system account")
	}
	// Its JetStream API requests are answered "not enabled for account"
	// (10039), as nats-server answers them, not left to time out.
	sysJS, _ := jetstream.New(sys)
	if _, err := sysJS.AccountInfo(ctx); !errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
		t.Fatalf("system account's JetStream: %v", err)
	}
	if _, err := sysJS.Stream(ctx, "ORDERS"); apiErrCode(err) != 10039 {
		t.Fatalf("system account's stream info: %v", err)
	}

	app, err := nats.Connect(srv.ClientURL(), nats.UserInfo("app", "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	app.Flush()
	if app.IsSystemAccount() {
		t.Error("APP taken for the system account")
	}
	js, _ := jetstream.New(app)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "orders.1", []byte("x")); err != nil {
		t.Fatal(err)
	}

	type jsz struct {
		Data struct {
			Streams  int    `json:"streams"`
			Messages uint64 `json:"messages"`
			Detail   []struct {
				Name string `json:"name"`
			} `json:"stream_detail"`
		} `json:"data"`
		Error *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	for _, subject := range []string{"$SYS.REQ.SERVER.PING.JSZ", "$SYS.REQ.ACCOUNT.APP.JSZ"} {
		m, err := sys.Request(subject, nil, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var r jsz
		if err := json.Unmarshal(m.Data, &r); err != nil || r.Error != nil || r.Data.Streams != 1 || r.Data.Messages != 1 {
			t.Fatalf("%s: %s (%v)", subject, m.Data, err)
		}
		if subject == "$SYS.REQ.ACCOUNT.APP.JSZ" && r.Data.Detail[0].Name != "ORDERS" {
			t.Fatalf("%s: %s", subject, m.Data)
		}
	}
	m, err := sys.Request("$SYS.REQ.ACCOUNT.SYS.JSZ", nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var r jsz
	if err := json.Unmarshal(m.Data, &r); err != nil || r.Data.Streams != 0 {
		t.Fatalf("SYS's streams: %s", m.Data)
	}
	// VARZ carries what "nats server info" shows of the stream layer.
	m, err = sys.Request("$SYS.REQ.SERVER.PING.VARZ", nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var vz struct {
		Data struct {
			JetStream struct {
				Config struct {
					StoreDir string `json:"store_dir"`
				} `json:"config"`
				Stats struct {
					Accounts int `json:"accounts"`
					API      struct {
						Level int `json:"level"`
					} `json:"api"`
				} `json:"stats"`
			} `json:"jetstream"`
		} `json:"data"`
	}
	if err := json.Unmarshal(m.Data, &vz); err != nil || vz.Data.JetStream.Config.StoreDir != cfg.StoreDir ||
		vz.Data.JetStream.Stats.Accounts != 2 || vz.Data.JetStream.Stats.API.Level != server.JetStreamAPILevel {
		t.Fatalf("varz: %s (%v)", m.Data, err)
	}
	m, err = sys.Request("$SYS.REQ.SERVER.PING.HEALTHZ", []byte(`{"js-enabled-only":true}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var hz struct {
		Data struct {
			Status     string `json:"status"`
			StatusCode int    `json:"status_code"`
		} `json:"data"`
	}
	if json.Unmarshal(m.Data, &hz); hz.Data.StatusCode != 200 {
		t.Fatalf("healthz: %s", m.Data)
	}
}

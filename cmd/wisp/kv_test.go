package main

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
)

// startKVServer starts a server with its stream layer and returns a
// connection to it.
func startKVServer(t *testing.T) *nats.Conn {
	t.Helper()
	cfg := conf.DefaultConfig()
	cfg.JetStream = true
	cfg.StoreDir = t.TempDir()
	cfg.Server = server.Options{Host: "127.0.0.1", Port: -1, JetStream: true}
	srv, _ := startWithStreams(t, cfg)
	nc, err := nats.Connect(srv.ClientURL(), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// The legacy nats.go JetStream context gates its key-value store on the
// server version in INFO (at least 2.6.2); a git hash there made
// CreateKeyValue and KeyValue refuse. With a comparable version they work:
// create, bind, put, get and history.
func TestLegacyKeyValue(t *testing.T) {
	nc := startKVServer(t)
	js, err := nc.JetStream(nats.MaxWait(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.CreateKeyValue(&nats.KeyValueConfig{Bucket: "CONFIG", History: 5})
	if err != nil {
		t.Fatalf("CreateKeyValue: %v", err)
	}
	for _, v := range []string{"blue", "green", "red"} {
		if _, err := kv.PutString("colour", v); err != nil {
			t.Fatalf("Put %s: %v", v, err)
		}
	}
	bound, err := js.KeyValue("CONFIG")
	if err != nil {
		t.Fatalf("KeyValue: %v", err)
	}
	e, err := bound.Get("colour")
	if err != nil || string(e.Value()) != "red" || e.Revision() != 3 {
		t.Fatalf("Get: %v, %v", e, err)
	}
	hist, err := bound.History("colour")
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	var got []string
	for _, e := range hist {
		got = append(got, string(e.Value()))
	}
	if len(got) != 3 || got[0] != "blue" || got[2] != "red" {
		t.Errorf("History = %v", got)
	}
	if _, err := bound.Get("missing"); !errors.Is(err, nats.ErrKeyNotFound) {
		t.Errorf("Get missing: %v", err)
	}
	keys, err := bound.Keys()
	if err != nil || len(keys) != 1 || keys[0] != "colour" {
		t.Errorf("Keys = %v, %v", keys, err)
	}
}

// INFO's api_lvl is the stream layer's own API level, as $JS.API.INFO
// reports it: the two constants live in different packages.
func TestInfoAPILevelMatchesStreamLayer(t *testing.T) {
	nc := startKVServer(t)
	_, infoLevel := nc.ConnectedServerJetStream()
	msg, err := nc.Request("$JS.API.INFO", nil, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var ai struct {
		API struct {
			Level int `json:"level"`
		} `json:"api"`
	}
	if err := json.Unmarshal(msg.Data, &ai); err != nil {
		t.Fatalf("$JS.API.INFO %s: %v", msg.Data, err)
	}
	if infoLevel != server.JetStreamAPILevel || ai.API.Level != infoLevel {
		t.Errorf("INFO api_lvl %d, $JS.API.INFO api.level %d, server.JetStreamAPILevel %d", infoLevel, ai.API.Level, server.JetStreamAPILevel)
	}
}

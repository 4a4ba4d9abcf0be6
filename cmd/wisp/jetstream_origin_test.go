package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
)

// TestJszShowsMirrorsAndSources: monitoring (and so the console) shows what
// each stream copies from, with its lag and error.
func TestJszShowsMirrorsAndSources(t *testing.T) {
	cfg := conf.DefaultConfig()
	cfg.JetStream = true
	cfg.StoreDir = t.TempDir()
	cfg.Server = server.Options{Host: "127.0.0.1", Port: -1, HTTPPort: -1}
	srv, _ := startWithStreams(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, js := jsConnect(t, srv.ClientURL())
	for _, c := range []jetstream.StreamConfig{
		{Name: "O", Subjects: []string{"o"}},
		{Name: "M", Mirror: &jetstream.StreamSource{Name: "O"}},
		{Name: "S", Sources: []*jetstream.StreamSource{{Name: "MISSING"}}},
	} {
		if _, err := js.CreateStream(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	type source struct {
		Name  string `json:"name"`
		Error string `json:"error"`
	}
	var jsz struct {
		Streams []struct {
			Name    string   `json:"name"`
			Mirror  *source  `json:"mirror"`
			Sources []source `json:"sources"`
		} `json:"stream_detail"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + srv.MonitorAddr().String() + "/jsz")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&jsz)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		var mirror *source
		var sources []source
		for _, s := range jsz.Streams {
			switch s.Name {
			case "M":
				mirror = s.Mirror
			case "S":
				sources = s.Sources
			}
		}
		if mirror != nil && mirror.Name == "O" && mirror.Error == "" && len(sources) == 1 && sources[0].Name == "MISSING" && sources[0].Error != "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/jsz stream_detail = %+v", jsz.Streams)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

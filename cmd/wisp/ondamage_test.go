package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
	"github.com/wisp-mq/wisp/stream/store"
)

// runStreams starts a server with streams on cfg and returns it, a
// JetStream client and a function that stops both, as a process stop would.
func runStreams(t *testing.T, cfg *conf.Config) (*server.Server, jetstream.JetStream, func()) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	srv, err := server.New(&cfg.Server, log)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := startStreams(cfg, srv, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		layers.close()
		t.Fatal(err)
	}
	nc, js := jsConnect(t, srv.ClientURL())
	return srv, js, func() {
		nc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		layers.close()
	}
}

// TestOnDamageFromConfig: [jetstream] on_damage reaches the stream layer.
// With "refuse" a stream whose acknowledged tail is missing is kept
// offline (10118), and /jsz counts the loss; started again with "serve",
// it serves what survived and keeps its last sequence.
func TestOnDamageFromConfig(t *testing.T) {
	cfg := conf.DefaultConfig()
	cfg.JetStream = true
	cfg.StoreDir = t.TempDir()
	cfg.Server = server.Options{Host: "127.0.0.1", Port: -1, HTTPHost: "127.0.0.1", HTTPPort: -1}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, js, stop := runStreams(t, cfg)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "L", Subjects: []string{"l"}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := js.Publish(ctx, "l", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	stop()

	// Messages 16 to 20 vanish behind the manifest's back, as from a
	// damaged write-ahead log.
	st, err := store.Open(store.Options{Dir: filepath.Join(cfg.StoreDir, "streams")})
	if err != nil {
		t.Fatal(err)
	}
	var id uint32
	err = st.Reader().Metas(func(name string, value []byte, err error) error {
		if name != "L" || err != nil {
			return err
		}
		var m struct {
			ID uint32 `json:"id"`
		}
		err = json.Unmarshal(value, &m)
		id = m.ID
		return err
	})
	if err != nil || id == 0 {
		t.Fatalf("stream L's id: %d, %v", id, err)
	}
	err = st.Do(func(b *store.Batch) error {
		for seq := uint64(16); seq <= 20; seq++ {
			if err := b.DeleteMsg(id, seq, []byte("l")); err != nil {
				return err
			}
		}
		return nil
	})
	if err := errors.Join(err, st.Close()); err != nil {
		t.Fatal(err)
	}

	cfg.OnDamage = conf.DamageRefuse
	srv, js, stop := runStreams(t, cfg)
	_, err = js.Stream(ctx, "L")
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10118 {
		t.Fatalf(`stream L with on_damage = "refuse": %v, want offline (10118)`, err)
	}
	resp, err := http.Get("http://" + srv.MonitorAddr().String() + "/jsz")
	if err != nil {
		t.Fatal(err)
	}
	var jsz struct {
		Damage *server.StoreDamage `json:"store_damage"`
	}
	err = json.NewDecoder(resp.Body).Decode(&jsz)
	resp.Body.Close()
	if d := jsz.Damage; err != nil || d == nil || d.LostMessages != 5 || d.DamagedStreams != 1 || d.Offline["L"] == "" {
		t.Fatalf("/jsz store_damage %+v (%v), want 5 lost in 1 stream, L offline", jsz.Damage, err)
	}
	stop()

	cfg.OnDamage = conf.DamageServe
	_, js, stop = runStreams(t, cfg)
	defer stop()
	s, err := js.Stream(ctx, "L")
	if err != nil {
		t.Fatalf(`stream L with on_damage = "serve": %v`, err)
	}
	if st := s.CachedInfo().State; st.Msgs != 15 || st.LastSeq != 20 {
		t.Fatalf(`state with on_damage = "serve": %+v, want 15 messages up to seq 20`, st)
	}
}

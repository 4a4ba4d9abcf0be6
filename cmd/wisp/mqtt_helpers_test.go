package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/mqtt"
	"github.com/wisp-mq/wisp/server"
)

// mqttEnv is a server with its stream layer and MQTT listener, as serve
// starts them, that a test can stop and start again on the same ports
// and store.
type mqttEnv struct {
	t      *testing.T
	cfg    *conf.Config
	srv    *server.Server
	layers *streamLayers
	mq     *mqtt.Service
}

// newMQTTEnv starts a server with MQTT on; edit may change the config
// before it starts.
func newMQTTEnv(t *testing.T, edit func(*conf.Config)) *mqttEnv {
	t.Helper()
	cfg := conf.DefaultConfig()
	cfg.JetStream = true
	cfg.StoreDir = t.TempDir()
	cfg.Server = server.Options{Host: "127.0.0.1", Port: -1, HTTPPort: -1}
	// A long ack_wait: a test that counts deliveries must not see a
	// redelivery because a loaded machine was slow to send PUBACK.
	cfg.MQTT = &conf.MQTT{Host: "127.0.0.1", Port: -1, AckWait: time.Minute}
	if edit != nil {
		edit(cfg)
	}
	e := &mqttEnv{t: t, cfg: cfg}
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *mqttEnv) start() {
	e.t.Helper()
	log := slog.New(slog.DiscardHandler)
	opts := e.cfg.Server
	srv, err := server.New(&opts, log)
	if err != nil {
		e.t.Fatal(err)
	}
	layers, err := startStreams(e.cfg, srv, log)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		e.t.Fatal(err)
	}
	mq, err := startMQTT(e.cfg, srv, log)
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv, e.layers, e.mq = srv, layers, mq
	// A restart keeps the ports, so clients reconnect to the same address.
	_, port, _ := net.SplitHostPort(srv.Addr().String())
	e.cfg.Server.Port, _ = strconv.Atoi(port)
	e.cfg.MQTT.Port = mq.Addr().(*net.TCPAddr).Port
}

func (e *mqttEnv) stop() {
	if e.srv == nil {
		return
	}
	e.mq.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.srv.Shutdown(ctx)
	e.layers.close()
	e.srv = nil
}

func (e *mqttEnv) restart() {
	e.t.Helper()
	e.stop()
	e.start()
}

func (e *mqttEnv) mqttURL() string {
	return fmt.Sprintf("tcp://127.0.0.1:%d", e.cfg.MQTT.Port)
}

// received collects the messages an MQTT client gets.
type received struct {
	mu   sync.Mutex
	msgs []paho.Message
}

func (r *received) handler(_ paho.Client, m paho.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}

func (r *received) all() []paho.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]paho.Message(nil), r.msgs...)
}

// waitCount waits until at least n messages arrived.
func (r *received) waitCount(t *testing.T, n int) []paho.Message {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := r.all(); len(m) >= n {
			return m
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("got %d MQTT messages, want %d", len(r.all()), n)
	return nil
}

// mqttClient connects a paho client; edit may change its options.
func (e *mqttEnv) mqttClient(id string, edit func(*paho.ClientOptions)) paho.Client {
	e.t.Helper()
	o := paho.NewClientOptions().AddBroker(e.mqttURL()).SetClientID(id).
		SetAutoReconnect(false).SetConnectRetry(false).SetCleanSession(true).
		SetConnectTimeout(10 * time.Second).SetWriteTimeout(10 * time.Second)
	if edit != nil {
		edit(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		e.t.Fatalf("mqtt connect %s: %v", id, tok.Error())
	}
	e.t.Cleanup(func() { c.Disconnect(0) })
	return c
}

// wait waits for a paho token and fails the test on its error.
func wait(t *testing.T, tok paho.Token) {
	t.Helper()
	if !tok.WaitTimeout(20 * time.Second) {
		t.Fatal("mqtt: timed out")
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("mqtt: %v", err)
	}
}

// disconnect disconnects an MQTT client and waits until the server has
// let go of it (it no longer shows in /connz).
func (e *mqttEnv) disconnect(c paho.Client, id string) {
	e.t.Helper()
	c.Disconnect(0)
	e.waitGone(id)
}

func (e *mqttEnv) waitGone(id string) {
	e.t.Helper()
	waitFor(e.t, "MQTT client "+id+" to go", func() bool {
		for _, cs := range e.srv.Conns(false) {
			if cs.MQTTClient == id {
				return false
			}
		}
		return true
	})
}

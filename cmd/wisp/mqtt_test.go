package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
)

// TestMQTTQoS0And1 checks delivery between two MQTT clients at QoS 0 and 1.
func TestMQTTQoS0And1(t *testing.T) {
	e := newMQTTEnv(t, nil)
	var got received
	sub := e.mqttClient("sub", nil)
	wait(t, sub.Subscribe("a/b", 1, got.handler))
	pub := e.mqttClient("pub", nil)
	wait(t, pub.Publish("a/b", 0, false, "zero"))
	wait(t, pub.Publish("a/b", 1, false, "one"))
	msgs := got.waitCount(t, 2)
	if string(msgs[0].Payload()) != "zero" || msgs[0].Qos() != 0 {
		t.Fatalf("first: %q qos %d", msgs[0].Payload(), msgs[0].Qos())
	}
	if string(msgs[1].Payload()) != "one" || msgs[1].Qos() != 1 || msgs[1].Topic() != "a/b" {
		t.Fatalf("second: %q qos %d topic %q", msgs[1].Payload(), msgs[1].Qos(), msgs[1].Topic())
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(got.all()); n != 2 {
		t.Fatalf("got %d messages, want 2 (no duplicate through the stream)", n)
	}
}

// TestMQTTInteropNATS checks that MQTT and NATS clients reach each other.
func TestMQTTInteropNATS(t *testing.T) {
	e := newMQTTEnv(t, nil)
	nc, err := nats.Connect(e.srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ch := make(chan *nats.Msg, 10)
	if _, err := nc.ChanSubscribe("a.b", ch); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	var got received
	c := e.mqttClient("c", nil)
	wait(t, c.Subscribe("x/+", 1, got.handler))
	wait(t, c.Publish("a/b", 1, false, "from mqtt"))
	select {
	case m := <-ch:
		// The header says which QoS the MQTT publisher used, as with nats-server.
		if string(m.Data) != "from mqtt" || m.Header.Get("Nmqtt-Pub") != "1" {
			t.Fatalf("nats got %q, header %v", m.Data, m.Header)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nats subscriber got nothing")
	}
	if err := nc.Publish("x.y", []byte("from nats")); err != nil {
		t.Fatal(err)
	}
	msgs := got.waitCount(t, 1)
	if msgs[0].Topic() != "x/y" || string(msgs[0].Payload()) != "from nats" || msgs[0].Qos() != 0 {
		t.Fatalf("mqtt got %q on %q qos %d", msgs[0].Payload(), msgs[0].Topic(), msgs[0].Qos())
	}
}

// A reload that changes [mqtt] is refused: its settings need a restart.
func TestMQTTNotReloadable(t *testing.T) {
	cur := conf.DefaultConfig()
	cur.MQTT = &conf.MQTT{Port: 1883, AckWait: time.Second}
	next := conf.DefaultConfig()
	next.MQTT = &conf.MQTT{Port: 1883, AckWait: time.Second}
	if err := checkStatic(cur, next); err != nil {
		t.Fatalf("same settings: %v", err)
	}
	next.MQTT.AckWait = time.Minute
	if err := checkStatic(cur, next); !errors.Is(err, server.ErrNotReloadable) || !strings.Contains(err.Error(), "mqtt") {
		t.Fatalf("changed ack_wait: %v", err)
	}
	next.MQTT = nil
	if err := checkStatic(cur, next); !errors.Is(err, server.ErrNotReloadable) {
		t.Fatalf("removed [mqtt]: %v", err)
	}
}

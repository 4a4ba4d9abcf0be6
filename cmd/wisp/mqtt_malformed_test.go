package main

import (
	"testing"
	"time"

	"github.com/wisp-mq/wisp/conf"
)

// TestMQTTMalformed checks that broken packets close the connection
// without an answer, while another client goes on undisturbed.
func TestMQTTMalformed(t *testing.T) {
	e := newMQTTEnv(t, nil)
	var got received
	bystander := e.mqttClient("bystander", nil)
	wait(t, bystander.Subscribe("ok", 1, got.handler))

	connected := func(name string, b []byte) {
		r := e.rawConnect("bad-"+name, true, 0)
		r.connack()
		r.send(b)
		r.waitClosed()
	}
	cases := map[string][]byte{
		"publish qos 3":             packet(0x36, append(mqttString("a"), 0, 1)),
		"publish id 0":              packet(0x32, append(mqttString("a"), 0, 0)),
		"publish bad utf-8":         packet(0x30, []byte{0, 2, 0xff, 0xfe}),
		"publish wildcard":          packet(0x30, mqttString("a/+")),
		"publish space":             packet(0x30, mqttString("a b")),
		"publish reserved":          packet(0x30, mqttString("$MQTT/sess/x")),
		"truncated topic":           packet(0x30, []byte{0, 9, 'a'}),
		"subscribe bad flags":       packet(0x80, append([]byte{0, 1}, append(mqttString("a"), 0)...)),
		"subscribe qos 3":           packet(0x82, append([]byte{0, 1}, append(mqttString("a"), 3)...)),
		"subscribe empty":           packet(0x82, []byte{0, 1}),
		"unsubscribe empty":         packet(0xa2, []byte{0, 1}),
		"second connect":            connectPacket("again", true, 0, nil),
		"length of five bytes":      {0x30, 0xff, 0xff, 0xff, 0xff, 0x01},
		"server-only packet":        {0x20, 2, 0, 0},
		"reserved type 0":           {0x00, 0},
		"reserved type 15":          {0xf0, 0},
		"pingreq with body":         {0xc0, 1, 0},
		"puback short":              {0x40, 1, 0},
		"pubrel bad flags":          {0x60, 2, 0, 1},
		"too large for max_payload": {0x30, 0x80, 0x80, 0x80, 0x01},
	}
	for name, b := range cases {
		connected(name, b)
	}

	// Before CONNECT: anything else closes at once.
	for _, b := range map[string][]byte{
		"publish first":     packet(0x30, mqttString("a")),
		"bad protocol name": packet(0x10, append(mqttString("MQTX"), 4, 2, 0, 0, 0, 0)),
		"reserved flag":     packet(0x10, append(mqttString("MQTT"), 4, 3, 0, 0, 0, 0)),
		"password no user":  packet(0x10, append(mqttString("MQTT"), 4, 0x42, 0, 0, 0, 0)),
		"will qos no will":  packet(0x10, append(mqttString("MQTT"), 4, 0x0a, 0, 0, 0, 0)),
		"trailing bytes":    packet(0x10, append(mqttString("MQTT"), 4, 2, 0, 0, 0, 0, 9)),
		"garbage":           []byte("GET / HTTP/1.1\r\n\r\n"),
	} {
		r := e.rawDial()
		r.send(b)
		r.waitClosed()
	}

	pub := e.mqttClient("pub", nil)
	wait(t, pub.Publish("ok", 1, false, "still fine"))
	if m := got.waitCount(t, 1)[0]; string(m.Payload()) != "still fine" {
		t.Fatalf("bystander got %q", m.Payload())
	}
}

// TestMQTTConnectRules checks CONNACK's refusals: protocol level, and the
// client id of a persistent session.
func TestMQTTConnectRules(t *testing.T) {
	e := newMQTTEnv(t, nil)
	r := e.rawDial()
	r.send(packet(0x10, append(mqttString("MQTT"), 5, 2, 0, 0, 0, 0))) // MQTT 5
	if _, code := r.connack(); code != 0x01 {
		t.Fatalf("level 5: CONNACK %#x, want 0x01", code)
	}
	r.waitClosed()
	r = e.rawDial()
	r.send(packet(0x10, append(mqttString("MQIsdp"), 3, 2, 0, 0, 0, 0))) // MQTT 3.1
	if _, code := r.connack(); code != 0x01 {
		t.Fatalf("MQIsdp: CONNACK %#x, want 0x01", code)
	}
	r = e.rawConnect("", false, 0)
	if _, code := r.connack(); code != 0x02 {
		t.Fatalf("empty id, persistent: CONNACK %#x, want 0x02", code)
	}
	r = e.rawConnect("", true, 0)
	if _, code := r.connack(); code != 0 {
		t.Fatalf("empty id, clean: CONNACK %#x, want 0", code)
	}
	r.disconnect()
}

// TestMQTTKeepAlive checks that a client silent for 1.5 times its
// keepalive is closed, and that PINGREQ keeps it open.
func TestMQTTKeepAlive(t *testing.T) {
	e := newMQTTEnv(t, nil)
	r := e.rawConnect("ka", true, 1)
	r.connack()
	var quiet time.Time
	for i := 0; i < 3; i++ {
		time.Sleep(500 * time.Millisecond)
		quiet = time.Now()
		r.send([]byte{0xc0, 0})
		if first, _, err := r.readPacket(); err != nil || first != 0xd0 {
			t.Fatalf("want PINGRESP, got %#x %v", first, err)
		}
	}
	r.waitClosed()
	if d := time.Since(quiet); d < time.Second {
		t.Fatalf("closed %v after the last ping, before 1.5 x keepalive", d)
	}
}

// TestMQTTTakeover checks that a second connection with the same client
// id closes the first, without publishing the first one's will (as
// nats-server).
func TestMQTTTakeover(t *testing.T) {
	e := newMQTTEnv(t, nil)
	var got received
	w := e.mqttClient("watch", nil)
	wait(t, w.Subscribe("will/#", 0, got.handler))
	first := e.rawDial()
	first.send(connectPacket("same", true, 0, append(mqttString("will/same"), mqttString("bye")...)))
	first.connack()
	second := e.rawConnect("same", true, 0)
	if _, code := second.connack(); code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	first.waitClosed()
	second.send(packet(0x32, append(append(mqttString("will/barrier"), 0, 1), "b"...)))
	if first, _, err := second.readPacket(); err != nil || first != 0x40 {
		t.Fatalf("want PUBACK, got %#x %v", first, err)
	}
	if m := got.waitCount(t, 1)[0]; m.Topic() != "will/barrier" {
		t.Fatalf("got %q on %q: a will on takeover", m.Payload(), m.Topic())
	}
	second.disconnect()
}

// TestMQTTMaxConnections checks that MQTT clients count against
// max_connections: past it CONNACK says the server is unavailable.
func TestMQTTMaxConnections(t *testing.T) {
	e := newMQTTEnv(t, func(c *conf.Config) { c.Server.MaxConnections = 1 })
	first := e.rawConnect("one", true, 0)
	if _, code := first.connack(); code != 0 {
		t.Fatalf("first: CONNACK %#x", code)
	}
	second := e.rawConnect("two", true, 0)
	if _, code := second.connack(); code != 0x03 {
		t.Fatalf("second: CONNACK %#x, want 0x03", code)
	}
	second.waitClosed()
	first.disconnect()
	e.waitGone("one")
	third := e.rawConnect("three", true, 0)
	if _, code := third.connack(); code != 0 {
		t.Fatalf("after the first left: CONNACK %#x", code)
	}
	third.disconnect()
}

// TestMQTTPubackOrder checks that pipelined QoS 1 publishes are each
// acknowledged, in the order sent.
func TestMQTTPubackOrder(t *testing.T) {
	e := newMQTTEnv(t, nil)
	r := e.rawConnect("pipeline", true, 0)
	r.connack()
	const n = 300
	var burst []byte
	for id := 1; id <= n; id++ {
		burst = append(burst, packet(0x32, append(append(mqttString("p/x"), byte(id>>8), byte(id)), "m"...))...)
	}
	r.send(burst)
	for id := 1; id <= n; id++ {
		first, body, err := r.readPacket()
		if err != nil || first != 0x40 || int(body[0])<<8|int(body[1]) != id {
			t.Fatalf("want PUBACK %d, got %#x %v %v", id, first, body, err)
		}
	}
	r.disconnect()
}

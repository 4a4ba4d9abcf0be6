package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/conf"
)

// persistent returns client options for a persistent session whose
// messages (restored subscriptions included) go to got.
func persistent(got *received) func(*paho.ClientOptions) {
	return func(o *paho.ClientOptions) {
		o.SetCleanSession(false).SetDefaultPublishHandler(got.handler)
	}
}

// TestMQTTSessionResumes checks that a persistent session keeps its
// subscription across a disconnect, gets the QoS 1 messages published
// meanwhile, and that CONNACK says the session was present.
func TestMQTTSessionResumes(t *testing.T) {
	e := newMQTTEnv(t, nil)
	var got received
	c := e.mqttClient("dev1", persistent(&got))
	wait(t, c.Subscribe("s/#", 1, nil))
	e.disconnect(c, "dev1")

	pub := e.mqttClient("pub", nil)
	for i := 0; i < 3; i++ {
		wait(t, pub.Publish(fmt.Sprintf("s/%d", i), 1, false, fmt.Sprint(i)))
	}
	wait(t, pub.Publish("s/q0", 0, false, "lost")) // QoS 0 is not kept
	// The PUBACK of a later QoS 1 publish says the server has read it.
	wait(t, pub.Publish("barrier", 1, false, ""))

	e.mqttClient("dev1", persistent(&got))
	msgs := got.waitCount(t, 3)
	for i, m := range msgs[:3] {
		if string(m.Payload()) != fmt.Sprint(i) || m.Qos() != 1 {
			t.Fatalf("message %d: %q qos %d", i, m.Payload(), m.Qos())
		}
	}
}

// TestMQTTSessionPresentFlag checks CONNACK's session present flag.
func TestMQTTSessionPresentFlag(t *testing.T) {
	e := newMQTTEnv(t, nil)
	rc := e.rawConnect("flag", false, 0)
	if sp, code := rc.connack(); sp || code != 0 {
		t.Fatalf("first connect: present %v code %d", sp, code)
	}
	rc.disconnect()
	rc = e.rawConnect("flag", false, 0)
	if sp, code := rc.connack(); !sp || code != 0 {
		t.Fatalf("second connect: present %v code %d, want present", sp, code)
	}
	rc.disconnect()
	rc = e.rawConnect("flag", true, 0) // a clean session drops it
	if sp, code := rc.connack(); sp || code != 0 {
		t.Fatalf("clean connect: present %v code %d", sp, code)
	}
	rc.disconnect()
	rc = e.rawConnect("flag", false, 0)
	if sp, _ := rc.connack(); sp {
		t.Fatal("session still present after a clean session")
	}
	rc.disconnect()
}

// TestMQTTUnackedRedelivered checks that a QoS 1 message the client did
// not acknowledge comes again, with DUP, after it reconnects.
func TestMQTTUnackedRedelivered(t *testing.T) {
	e := newMQTTEnv(t, func(c *conf.Config) { c.MQTT.AckWait = time.Second })
	var first received
	c := e.mqttClient("lazy", func(o *paho.ClientOptions) {
		persistent(&first)(o)
		o.SetAutoAckDisabled(true)
	})
	wait(t, c.Subscribe("r/x", 1, nil))
	pub := e.mqttClient("pub", nil)
	wait(t, pub.Publish("r/x", 1, false, "again"))
	first.waitCount(t, 1) // received, never acknowledged
	e.disconnect(c, "lazy")

	var second received
	e.mqttClient("lazy", persistent(&second))
	m := second.waitCount(t, 1)[0]
	if string(m.Payload()) != "again" || !m.Duplicate() {
		t.Fatalf("redelivery %q dup %v", m.Payload(), m.Duplicate())
	}
}

// TestMQTTSessionSurvivesRestart checks that a persistent session, the
// QoS 1 messages published for it while it was away (before and after a
// server restart) and retained messages survive the restart.
func TestMQTTSessionSurvivesRestart(t *testing.T) {
	e := newMQTTEnv(t, nil)
	var got received
	c := e.mqttClient("dev2", persistent(&got))
	wait(t, c.Subscribe("t/+", 1, nil))
	e.disconnect(c, "dev2")
	pub := e.mqttClient("pub", nil)
	wait(t, pub.Publish("t/before", 1, false, "before"))
	wait(t, pub.Publish("keep/me", 1, true, "retained"))
	pub.Disconnect(100)

	e.restart()
	pub = e.mqttClient("pub", nil)
	wait(t, pub.Publish("t/after", 1, false, "after"))

	e.mqttClient("dev2", persistent(&got))
	msgs := got.waitCount(t, 2)
	if string(msgs[0].Payload()) != "before" || string(msgs[1].Payload()) != "after" {
		t.Fatalf("got %q, %q", msgs[0].Payload(), msgs[1].Payload())
	}
	var ret received
	r := e.mqttClient("reader", nil)
	wait(t, r.Subscribe("keep/#", 1, ret.handler))
	m := ret.waitCount(t, 1)[0]
	if string(m.Payload()) != "retained" || !m.Retained() || m.Topic() != "keep/me" {
		t.Fatalf("retained after restart: %q retained %v topic %q", m.Payload(), m.Retained(), m.Topic())
	}
}

// TestMQTTRetained checks retained delivery on subscribe, replacement and
// clearing with an empty payload.
func TestMQTTRetained(t *testing.T) {
	e := newMQTTEnv(t, nil)
	pub := e.mqttClient("pub", nil)
	wait(t, pub.Publish("home/temp", 1, true, "20"))
	wait(t, pub.Publish("home/temp", 0, true, "21"))
	wait(t, pub.Publish("home/hum", 1, true, "50"))

	var got received
	c := e.mqttClient("sub", nil)
	wait(t, c.Subscribe("home/temp", 1, got.handler))
	m := got.waitCount(t, 1)[0]
	if string(m.Payload()) != "21" || !m.Retained() || m.Qos() != 0 {
		t.Fatalf("retained %q retained %v qos %d, want the newest, at its QoS 0", m.Payload(), m.Retained(), m.Qos())
	}
	// A message forwarded live has RETAIN clear.
	wait(t, pub.Publish("home/temp", 1, true, "22"))
	msgs := got.waitCount(t, 2)
	if string(msgs[1].Payload()) != "22" || msgs[1].Retained() {
		t.Fatalf("live %q retained %v", msgs[1].Payload(), msgs[1].Retained())
	}
	wait(t, pub.Publish("home/temp", 1, true, ""))

	var after received
	c2 := e.mqttClient("sub2", nil)
	wait(t, c2.Subscribe("home/+", 1, after.handler))
	m = after.waitCount(t, 1)[0]
	if m.Topic() != "home/hum" || string(m.Payload()) != "50" || m.Qos() != 1 {
		t.Fatalf("got %q on %q qos %d, want only home/hum", m.Payload(), m.Topic(), m.Qos())
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(after.all()); n != 1 {
		t.Fatalf("got %d retained messages, want 1 (home/temp was cleared)", n)
	}
}

// TestMQTTSessionCleanup checks what stays in the stream layer: an
// unsubscribed filter is gone from a resumed session, and a clean
// session's consumers and a dropped persistent session's go with it.
func TestMQTTSessionCleanup(t *testing.T) {
	e := newMQTTEnv(t, nil)
	consumers := func() int {
		t.Helper()
		nc, err := nats.Connect(e.srv.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, "$MQTT_msgs")
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Consumers
	}

	var got received
	c := e.mqttClient("keep", persistent(&got))
	wait(t, c.Subscribe("k/a", 1, nil))
	wait(t, c.Subscribe("k/b", 1, nil))
	wait(t, c.Unsubscribe("k/a"))
	e.disconnect(c, "keep")
	if n := consumers(); n != 1 {
		t.Fatalf("%d consumers, want 1 (k/b's)", n)
	}
	pub := e.mqttClient("pub", nil)
	wait(t, pub.Publish("k/a", 1, false, "a"))
	wait(t, pub.Publish("k/b", 1, false, "b"))
	e.mqttClient("keep", persistent(&got))
	if m := got.waitCount(t, 1)[0]; m.Topic() != "k/b" {
		t.Fatalf("got %q: the unsubscribed filter came back", m.Topic())
	}

	clean := e.mqttClient("clean", nil)
	wait(t, clean.Subscribe("k/c", 1, nil))
	if n := consumers(); n != 2 {
		t.Fatalf("%d consumers, want 2", n)
	}
	e.disconnect(clean, "clean")
	if n := consumers(); n != 1 {
		t.Fatalf("%d consumers after a clean session ended, want 1", n)
	}
	// A clean session of a client id drops the stored persistent one.
	e.disconnect(e.mqttClient("keep", nil), "keep")
	if n := consumers(); n != 0 {
		t.Fatalf("%d consumers after the persistent session was dropped, want 0", n)
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
)

// TestMQTTWildcardsAndMapping checks "+" and "#" (which also matches the
// parent level), the escaping of odd topics as NATS subjects, and that a
// filter starting with a wildcard does not match $ topics.
func TestMQTTWildcardsAndMapping(t *testing.T) {
	e := newMQTTEnv(t, nil)
	nc, err := nats.Connect(e.srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var hash, plus, all received
	// One client per filter: a client whose filters overlap gets a copy
	// per matching subscription, as MQTT allows.
	wait(t, e.mqttClient("w1", nil).Subscribe("sport/#", 0, hash.handler))
	wait(t, e.mqttClient("w2", nil).Subscribe("+/tennis/+", 0, plus.handler))
	c := e.mqttClient("w3", nil)
	wait(t, c.Subscribe("#", 0, all.handler))

	// NATS subject -> MQTT topic, as nats-server maps them.
	for _, subj := range []string{"sport", "sport.tennis.p1", "/.x.y", "x.y./", "a./.b", "v1//0.p", "$SYS.x"} {
		if err := nc.Publish(subj, []byte(subj)); err != nil {
			t.Fatal(err)
		}
	}
	nc.Flush()
	want := map[string]string{"sport": "sport", "sport.tennis.p1": "sport/tennis/p1", "/.x.y": "/x/y", "x.y./": "x/y/", "a./.b": "a//b", "v1//0.p": "v1.0/p"}
	got := all.waitCount(t, len(want))
	for _, m := range got {
		if w, ok := want[string(m.Payload())]; !ok || w != m.Topic() {
			t.Errorf("subject %s arrived on topic %q, want %q", m.Payload(), m.Topic(), w)
		}
	}
	if h := hash.waitCount(t, 2); h[0].Topic() != "sport" || h[1].Topic() != "sport/tennis/p1" {
		t.Errorf("sport/# got %q, %q", h[0].Topic(), h[1].Topic())
	}
	if p := plus.waitCount(t, 1); p[0].Topic() != "sport/tennis/p1" {
		t.Errorf("+/tennis/+ got %q", p[0].Topic())
	}

	// MQTT topic -> NATS subject.
	sub, err := nc.SubscribeSync(">")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	for _, topic := range []string{"/a/b", "a/b/", "a//b", "spBv1.0/x"} {
		wait(t, c.Publish(topic, 1, false, topic))
	}
	wantSubj := map[string]string{"/a/b": "/.a.b", "a/b/": "a.b./", "a//b": "a./.b", "spBv1.0/x": "spBv1//0.x"}
	for seen := 0; seen < len(wantSubj); {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		w, ok := wantSubj[string(m.Data)]
		if !ok || m.Subject[0] == '$' {
			continue // the stream layer's own traffic
		}
		seen++
		if m.Subject != w {
			t.Errorf("topic %s published on subject %q, want %q", m.Data, m.Subject, w)
		}
	}
}

// TestMQTTSharedSubscriptions checks that $share/<group>/<filter> gives
// each message to one member of the group, at QoS 0 and at QoS 1.
func TestMQTTSharedSubscriptions(t *testing.T) {
	e := newMQTTEnv(t, nil)
	for _, qos := range []byte{0, 1} {
		t.Run(fmt.Sprint("qos", qos), func(t *testing.T) {
			var a, b received
			filter := fmt.Sprintf("$share/g%d/jobs/%d", qos, qos)
			ca := e.mqttClient(fmt.Sprint("wa", qos), nil)
			cb := e.mqttClient(fmt.Sprint("wb", qos), nil)
			wait(t, ca.Subscribe(filter, qos, a.handler))
			wait(t, cb.Subscribe(filter, qos, b.handler))
			pub := e.mqttClient(fmt.Sprint("jp", qos), nil)
			const n = 40
			for i := 0; i < n; i++ {
				wait(t, pub.Publish(fmt.Sprintf("jobs/%d", qos), qos, false, fmt.Sprint(i)))
			}
			deadline := time.Now().Add(20 * time.Second)
			for len(a.all())+len(b.all()) < n && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond)
			seen := map[string]int{}
			for _, m := range append(a.all(), b.all()...) {
				seen[string(m.Payload())]++
			}
			if len(seen) != n {
				t.Fatalf("%d distinct messages, want %d", len(seen), n)
			}
			for p, k := range seen {
				if k != 1 {
					t.Fatalf("message %s delivered %d times", p, k)
				}
			}
		})
	}
}

// TestMQTTWill checks that a client's will is published when it goes away
// without DISCONNECT, and not when it disconnects.
func TestMQTTWill(t *testing.T) {
	e := newMQTTEnv(t, nil)
	var got received
	c := e.mqttClient("watcher", nil)
	wait(t, c.Subscribe("status/+", 1, got.handler))

	will := append(mqttString("status/dev"), mqttString("gone")...)
	r := e.rawDial()
	p := connectPacket("dev", true, 0, will)
	p[2+7] |= 0x08 // will QoS 1
	r.send(p)
	if _, code := r.connack(); code != 0 {
		t.Fatalf("CONNACK %d", code)
	}
	r.nc.Close() // abrupt
	m := got.waitCount(t, 1)[0]
	if m.Topic() != "status/dev" || string(m.Payload()) != "gone" || m.Qos() != 1 {
		t.Fatalf("will %q on %q qos %d", m.Payload(), m.Topic(), m.Qos())
	}

	r = e.rawDial()
	r.send(connectPacket("dev2", true, 0, append(mqttString("status/dev2"), mqttString("gone")...)))
	r.connack()
	r.disconnect()
	e.waitGone("dev2")
	wait(t, e.mqttClient("pub", nil).Publish("status/barrier", 1, false, "b"))
	msgs := got.waitCount(t, 2)
	if string(msgs[1].Payload()) != "b" {
		t.Fatalf("got %q on %q after a clean disconnect, want no will", msgs[1].Payload(), msgs[1].Topic())
	}
}

// TestMQTTQoS2 checks QoS 2 as nats-server serves it: a QoS 2 publish
// completes its exchange and is routed once, a QoS 2 subscription is
// granted QoS 2 and gets QoS 2 messages through PUBREC, PUBREL, PUBCOMP,
// and the lower QoS wins.
func TestMQTTQoS2(t *testing.T) {
	e := newMQTTEnv(t, nil)
	var got received
	c := e.mqttClient("q2", nil)
	tok := c.Subscribe("q2/x", 2, got.handler)
	wait(t, tok)
	if g := tok.(*paho.SubscribeToken).Result()["q2/x"]; g != 2 {
		t.Fatalf("granted QoS %d, want 2", g)
	}
	pub := e.mqttClient("q2pub", nil)
	wait(t, pub.Publish("q2/x", 2, false, "exactly"))
	wait(t, pub.Publish("q2/x", 1, false, "at least"))
	msgs := got.waitCount(t, 2)
	if string(msgs[0].Payload()) != "exactly" || msgs[0].Qos() != 2 {
		t.Fatalf("got %q qos %d, want QoS 2", msgs[0].Payload(), msgs[0].Qos())
	}
	if string(msgs[1].Payload()) != "at least" || msgs[1].Qos() != 1 {
		t.Fatalf("got %q qos %d, want QoS 1", msgs[1].Payload(), msgs[1].Qos())
	}

	// The exchange, packet by packet, on a raw subscriber.
	sub := e.rawConnect("q2rawsub", true, 0)
	sub.connack()
	sub.send(packet(0x82, append([]byte{0, 1}, append(mqttString("q2/y"), 2)...)))
	if first, body, err := sub.readPacket(); err != nil || first != 0x90 || body[2] != 2 {
		t.Fatalf("want SUBACK granting 2, got %#x %v %v", first, body, err)
	}
	wait(t, pub.Publish("q2/y", 2, false, "raw"))
	first, body, err := sub.readPacket()
	if err != nil || first&0xf6 != 0x34 {
		t.Fatalf("want PUBLISH QoS 2, got %#x %v", first, err)
	}
	id := body[len(body)-5 : len(body)-3] // topic, id, "raw"
	sub.send(append([]byte{0x50, 2}, id...))
	if first, body, err := sub.readPacket(); err != nil || first != 0x62 || body[0] != id[0] || body[1] != id[1] {
		t.Fatalf("want PUBREL, got %#x %v %v", first, body, err)
	}
	sub.send(append([]byte{0x70, 2}, id...))

	// A resent QoS 2 PUBLISH (same id, before PUBREL) is not routed again.
	r := e.rawConnect("q2raw", true, 0)
	r.connack()
	pkt := packet(0x34, append(append(mqttString("q2/x"), 0, 7), "dup"...))
	r.send(pkt)
	r.send(pkt)
	for i := 0; i < 2; i++ {
		if first, body, err := r.readPacket(); err != nil || first != 0x50 || body[1] != 7 {
			t.Fatalf("want PUBREC 7, got %#x %v %v", first, body, err)
		}
	}
	r.send([]byte{0x62, 2, 0, 7})
	if first, _, err := r.readPacket(); err != nil || first != 0x70 {
		t.Fatalf("want PUBCOMP, got %#x %v", first, err)
	}
	got.waitCount(t, 3)
	wait(t, pub.Publish("q2/x", 1, false, "barrier"))
	msgs = got.waitCount(t, 4)
	if string(msgs[3].Payload()) != "barrier" {
		t.Fatalf("QoS 2 message routed twice: %q", msgs[3].Payload())
	}
}

// TestMQTTDowngradeQoS2 checks downgrade_qos2_subscribe.
func TestMQTTDowngradeQoS2(t *testing.T) {
	e := newMQTTEnv(t, func(c *conf.Config) { c.MQTT.DowngradeQoS2Subscribe = true })
	var got received
	c := e.mqttClient("dq", nil)
	tok := c.Subscribe("d/x", 2, got.handler)
	wait(t, tok)
	if g := tok.(*paho.SubscribeToken).Result()["d/x"]; g != 1 {
		t.Fatalf("granted QoS %d, want 1", g)
	}
	wait(t, c.Publish("d/x", 2, false, "two"))
	if m := got.waitCount(t, 1)[0]; m.Qos() != 1 {
		t.Fatalf("delivered at QoS %d, want 1", m.Qos())
	}
}

// TestMQTTRejectQoS2 checks reject_qos2_publish.
func TestMQTTRejectQoS2(t *testing.T) {
	e := newMQTTEnv(t, func(c *conf.Config) { c.MQTT.RejectQoS2Publish = true })
	r := e.rawConnect("rq", true, 0)
	r.connack()
	r.send(packet(0x34, append(append(mqttString("a"), 0, 1), "x"...)))
	r.waitClosed()
}

// TestMQTTAuth checks logins through the server's users, accounts and
// permissions, and mqtt.no_auth_user.
func TestMQTTAuth(t *testing.T) {
	e := newMQTTEnv(t, func(c *conf.Config) {
		c.Server.Users = []server.User{{Username: "g", Password: "pg"}}
		c.Server.Accounts = []server.AccountConfig{{Name: "A", Users: []server.User{
			{Username: "a", Password: "pa"},
			{Username: "ro", Password: "pr", Permissions: &server.Permissions{
				Publish:   server.SubjectPermission{Allow: []string{"ok.>"}},
				Subscribe: server.SubjectPermission{Allow: []string{"ok.>"}},
			}},
		}}}
		c.MQTT.NoAuthUser = "a"
	})
	connect := func(user, pass string) error {
		o := paho.NewClientOptions().AddBroker(e.mqttURL()).SetClientID("auth-" + user).SetUsername(user).SetPassword(pass).SetAutoReconnect(false)
		c := paho.NewClient(o)
		tok := c.Connect()
		tok.WaitTimeout(20 * time.Second)
		if tok.Error() == nil {
			c.Disconnect(0)
		}
		return tok.Error()
	}
	if err := connect("a", "wrong"); err == nil {
		t.Fatal("bad password accepted")
	}
	if err := connect("a", "pa"); err != nil {
		t.Fatalf("good password refused: %v", err)
	}

	// The no-auth user logs into account A: a NATS client of A sees its
	// publish, one of the global account does not.
	na, err := nats.Connect(e.srv.ClientURL(), nats.UserInfo("a", "pa"))
	if err != nil {
		t.Fatal(err)
	}
	defer na.Close()
	ng, err := nats.Connect(e.srv.ClientURL(), nats.UserInfo("g", "pg"))
	if err != nil {
		t.Fatal(err)
	}
	defer ng.Close()
	sa, _ := na.SubscribeSync("ok.x")
	sg, _ := ng.SubscribeSync("ok.x")
	na.Flush()
	ng.Flush()
	anon := e.mqttClient("anon", nil)
	wait(t, anon.Publish("ok/x", 1, false, "hi"))
	if _, err := sa.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("account A subscriber: %v", err)
	}
	if _, err := sg.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatal("the global account saw account A's message")
	}

	// Permissions: ro may publish on ok.> only.
	ro := e.mqttClient("ro", func(o *paho.ClientOptions) { o.SetUsername("ro").SetPassword("pr") })
	wait(t, ro.Publish("no/x", 1, false, "denied"))
	wait(t, ro.Publish("ok/x", 1, false, "allowed"))
	m, err := sa.NextMsg(10 * time.Second)
	if err != nil || string(m.Data) != "allowed" {
		t.Fatalf("got %v %v, want only the allowed message", m, err)
	}
	tok := ro.SubscribeMultiple(map[string]byte{"ok/#": 1, "no/#": 1}, nil)
	wait(t, tok)
	if g := tok.(*paho.SubscribeToken).Result(); g["ok/#"] != 1 || g["no/#"] != 0x80 {
		t.Fatalf("SUBACK codes %v, want 1 for ok/# and 0x80 for no/#", g)
	}
}

// TestMQTTConnz checks that /connz lists MQTT clients with their client id.
func TestMQTTConnz(t *testing.T) {
	e := newMQTTEnv(t, nil)
	c := e.mqttClient("sensor-7", nil)
	wait(t, c.Subscribe("a/#", 0, nil))
	resp, err := http.Get("http://" + e.srv.MonitorAddr().String() + "/connz?subs=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var cz struct {
		Conns []struct {
			Type       string   `json:"type"`
			MQTTClient string   `json:"mqtt_client"`
			Subs       []string `json:"subscriptions_list"`
		} `json:"connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&cz); err != nil {
		t.Fatal(err)
	}
	for _, ci := range cz.Conns {
		if ci.MQTTClient == "sensor-7" {
			if ci.Type != "mqtt" || len(ci.Subs) != 2 {
				t.Fatalf("connz entry %+v", ci)
			}
			return
		}
	}
	t.Fatalf("sensor-7 not in /connz: %+v", cz.Conns)
}

// TestMQTTQoS2HeldUntilRelease checks that a QoS 2 message is routed on
// PUBREL, not before, and that a persistent session's PUBREL after a
// reconnect (and a server restart) still releases it, once.
func TestMQTTQoS2HeldUntilRelease(t *testing.T) {
	e := newMQTTEnv(t, nil)
	nc, err := nats.Connect(e.srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, _ := nc.SubscribeSync("held.x")
	nc.Flush()

	r := e.rawConnect("holder", false, 0)
	r.connack()
	r.send(packet(0x34, append(append(mqttString("held/x"), 0, 3), "once"...)))
	if first, body, err := r.readPacket(); err != nil || first != 0x50 || body[1] != 3 {
		t.Fatalf("want PUBREC 3, got %#x %v %v", first, body, err)
	}
	if m, err := sub.NextMsg(300 * time.Millisecond); err == nil {
		t.Fatalf("routed before PUBREL: %q", m.Data)
	}
	r.nc.Close()
	e.waitGone("holder")
	nc.Close()
	e.restart()
	nc, err = nats.Connect(e.srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, _ = nc.SubscribeSync("held.x")
	nc.Flush()

	r = e.rawConnect("holder", false, 0)
	if present, _ := r.connack(); !present {
		t.Fatal("session not present")
	}
	for i := 0; i < 2; i++ { // the second PUBREL finds nothing held
		r.send([]byte{0x62, 2, 0, 3})
		if first, _, err := r.readPacket(); err != nil || first != 0x70 {
			t.Fatalf("want PUBCOMP, got %#x %v", first, err)
		}
	}
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil || string(m.Data) != "once" {
		t.Fatalf("after PUBREL: %v %v", m, err)
	}
	if m, err := sub.NextMsg(300 * time.Millisecond); err == nil {
		t.Fatalf("routed twice: %q", m.Data)
	}
	r.disconnect()
}

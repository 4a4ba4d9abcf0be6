package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// The MQTT scenarios publish, and publish to one subscriber, with MQTT
// 3.1.1 clients (Eclipse Paho, a client devices and gateways use) at QoS
// 0 and QoS 1, against a server started with the stream layer and an MQTT
// port: the embedded Wisp, or a binary started with -js -sd DIR -n NAME
// and a config file that wisp and nats-server both read. Like the other
// transports' scenarios they are left out of the standard set; name them.
//
// QoS 1 is a stored message on either server: the PUBACK comes once the
// message is in a stream. What "stored" means differs, so the comparison
// is only fair with that said: Wisp's default (sync = always) fsyncs
// before the PUBACK, nats-server acknowledges before its periodic fsync,
// as Wisp does with --sync interval.
var mqttScenarios = []*Scenario{
	{Name: "mqtt-pub", Unit: "msgs/s", MQTT: true, Desc: "MQTT publishers at QoS 0, no subscriber; ends with a QoS 1 publish's PUBACK", run: mqttPub(0)},
	{Name: "mqtt-pub-qos1", Unit: "msgs/s", MQTT: true, Desc: "MQTT publishers at QoS 1, 256 PUBACKs awaited at a time; every one acknowledged", run: mqttPub(1)},
	{Name: "mqtt-pubsub", Unit: "msgs/s", MQTT: true, Desc: "1 MQTT publisher, 1 MQTT subscriber, QoS 0; every message received, in order", run: mqttPubSub(0)},
	{Name: "mqtt-pubsub-qos1", Unit: "msgs/s", MQTT: true, Desc: "1 MQTT publisher, 1 MQTT subscriber, QoS 1 both ways; every message received, in order", run: mqttPubSub(1)},
}

func init() { scenarios = append(scenarios, mqttScenarios...) }

// MQTTScenarios lists the MQTT scenarios.
func MQTTScenarios() []string {
	names := make([]string, len(mqttScenarios))
	for i, s := range mqttScenarios {
		names[i] = s.Name
	}
	return names
}

// mqttWindow is the number of QoS 1 publishes awaiting their PUBACK.
const mqttWindow = 256

// ErrNoMQTT is returned when the embedded target cannot start a server
// with MQTT (the caller gave no Config.StartEmbeddedMQTT).
var ErrNoMQTT = errors.New("this embedded server has no MQTT listener: run the MQTT scenarios from the wisp binary, or against a server binary")

// startMQTT brings up a server with the stream layer and an MQTT port for
// one run; the instance's url is the MQTT one (tcp://host:port).
func (t *Target) startMQTT() (*instance, error) {
	switch {
	case t.url != "":
		return nil, fmt.Errorf("%w: MQTT scenarios start their own server with an MQTT port: give a server binary (or none, for the embedded one), not a URL", ErrUsage)
	case t.bin != "":
		return startBinary(t.bin, binaryOpts{mqtt: true, sync: t.sync})
	case t.embeddedMQTT == nil:
		return nil, ErrNoMQTT
	}
	natsURL, mqttURL, stop, err := t.embeddedMQTT()
	if err != nil {
		return nil, fmt.Errorf("starting the embedded server with MQTT: %w", err)
	}
	info, err := probe(natsURL, startTimeout)
	if err == nil {
		err = probeTCP(mqttURL)
	}
	if err != nil {
		stop()
		return nil, err
	}
	return &instance{url: mqttURL, version: info.serverVersion(), self: true, stop: stop}, nil
}

// mqttLine is the config line of an MQTT port on 127.0.0.1:port: a TOML
// inline table that nats-server's config reader takes as well.
func mqttLine(port int) string {
	return `mqtt = { listen = "127.0.0.1:` + strconv.Itoa(port) + `" }`
}

// syncLine is the config line of Wisp's stream sync rule. nats-server has
// no such key (its sync_interval takes a period); only a wisp binary is
// given a rule (Config.Sync is Wisp's).
func syncLine(rule string) string {
	return `jetstream = { sync = "` + rule + `" }`
}

// otherSyncLine is a compared nats-server's config file line for its
// sync_interval (only "always" is asked for), in the syntax its config
// reader takes.
func otherSyncLine(rule string) string {
	return `jetstream = { sync_interval = "` + rule + `" }`
}

// mqttTopic is the run's topic for name: the subject prefix with MQTT's
// level separator.
func (e *Env) mqttTopic(name string) string {
	return strings.ReplaceAll(e.Prefix, ".", "/") + "/" + name
}

// mqttConnect opens an MQTT client with a clean session (nothing of it
// outlives the run) that records a lost connection in e.
func (e *Env) mqttConnect(name string, clients *[]paho.Client) (paho.Client, error) {
	id := strings.ReplaceAll(e.Prefix, ".", "-") + "-" + name
	opts := paho.NewClientOptions().
		AddBroker(e.URL).
		SetClientID(id).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(5 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetOrderMatters(true).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			e.fail(fmt.Errorf("%s: connection lost: %w", name, err))
		})
	c := paho.NewClient(opts)
	if err := waitToken(c.Connect(), 10*time.Second); err != nil {
		return nil, fmt.Errorf("mqtt connect %s: %w", e.URL, err)
	}
	*clients = append(*clients, c)
	return c, nil
}

func disconnectAll(clients []paho.Client) {
	for _, c := range clients {
		c.Disconnect(100)
	}
}

// waitToken waits for a Paho operation and returns its error, or a
// timeout error.
func waitToken(tok paho.Token, limit time.Duration) error {
	if !tok.WaitTimeout(limit) {
		return fmt.Errorf("no answer within %v", limit)
	}
	return tok.Error()
}

// mqttPublishLoop publishes up to n messages of size bytes on topic at
// qos, until the time cap, and returns how many the server confirmed
// reading: at QoS 1 every PUBACK is awaited (mqttWindow at a time); at
// QoS 0 one last QoS 1 publish (on topic+"/end") is, since the server
// reads a connection's packets in order. Paho keeps the payload it is
// given until it is written, so each message has its own.
func (e *Env) mqttPublishLoop(c paho.Client, n, size int, topic string, qos byte) (int64, error) {
	var sent, reported int64
	var window []paho.Token
	// settle waits for the oldest publish in the window.
	settle := func() error {
		tok := window[0]
		window = window[1:]
		if err := waitToken(tok, e.grace()); err != nil {
			return fmt.Errorf("publish at QoS %d: %w", qos, err)
		}
		return nil
	}
	for i := 0; i < n; i++ {
		if i&255 == 0 {
			if e.expired() {
				break
			}
			e.prog.add(sent - reported)
			reported = sent
		}
		tok := c.Publish(topic, qos, false, payload(make([]byte, size), uint64(i+1)))
		if qos == 0 {
			if tok.Error() != nil {
				return sent, fmt.Errorf("publish: %w", tok.Error())
			}
			sent++
			continue
		}
		window = append(window, tok)
		if len(window) == mqttWindow {
			if err := settle(); err != nil {
				return sent, err
			}
		}
		sent++
	}
	for len(window) > 0 {
		if err := settle(); err != nil {
			return sent, err
		}
	}
	e.prog.add(sent - reported)
	if qos == 0 {
		if err := waitToken(c.Publish(topic+"/end", 1, false, []byte{}), e.grace()); err != nil {
			return sent, fmt.Errorf("closing QoS 1 publish after %d messages: %w", sent, err)
		}
	}
	return sent, nil
}

// mqttPub: MQTT publishers only, at qos. The check is that the server
// acknowledged what it had to (every PUBACK at QoS 1, the closing one at
// QoS 0) and no connection was lost.
func mqttPub(qos byte) func(context.Context, *Env) error {
	return func(_ context.Context, e *Env) error {
		n := e.Cfg.pubs(defaultPubs)
		e.Res.Pubs = n
		var clients []paho.Client
		defer func() { disconnectAll(clients) }()
		for i := range n {
			if _, err := e.mqttConnect(fmt.Sprintf("pub%d", i), &clients); err != nil {
				return err
			}
		}
		return e.publishAll(n, func(i, msgs int) (int64, error) {
			return e.mqttPublishLoop(clients[i], msgs, e.Cfg.Size, e.mqttTopic("pub"), qos)
		})
	}
}

// mqttPubSub: one MQTT publisher and one MQTT subscriber on their own
// connections, both at qos. The subscriber must get every message, in
// order. At QoS 1 a message sent twice is allowed by MQTT (at least once)
// and noted rather than failed; at QoS 0 it is an error.
func mqttPubSub(qos byte) func(context.Context, *Env) error {
	return func(_ context.Context, e *Env) error {
		e.Res.Pubs, e.Res.Subs = 1, 1
		var clients []paho.Client
		defer func() { disconnectAll(clients) }()
		topic := e.mqttTopic("deliver")
		sub, err := e.mqttConnect("sub", &clients)
		if err != nil {
			return err
		}
		var count, disorder, dups atomic.Int64
		var last lastSeen
		var next uint64 // only touched by Paho's handler goroutine (order matters)
		handle := func(_ paho.Client, m paho.Message) {
			if seq, ok := getSeq(m.Payload()); ok {
				switch {
				case next != 0 && seq < next:
					dups.Add(1)
					return
				case next != 0 && seq != next:
					disorder.Add(1)
				}
				next = seq + 1
			}
			count.Add(1)
			last.mark()
		}
		if err := waitToken(sub.Subscribe(topic, qos, handle), 10*time.Second); err != nil {
			return fmt.Errorf("mqtt subscribe %s: %w", topic, err)
		}
		pub, err := e.mqttConnect("pub", &clients)
		if err != nil {
			return err
		}
		e.begin(int64(e.Cfg.Msgs))
		sent, perr := e.mqttPublishLoop(pub, e.Cfg.Msgs, e.Cfg.Size, topic, qos)
		waitFor(time.Now().Add(e.grace()), func() bool { return count.Load() >= sent })
		e.end(last.time())
		e.Res.Msgs = sent
		e.capped(sent, int64(e.Cfg.Msgs))
		if perr != nil {
			return perr
		}
		var errs []error
		if got := count.Load(); got != sent {
			errs = append(errs, fmt.Errorf("subscriber received %d of %d messages", got, sent))
		}
		if d := disorder.Load(); d > 0 {
			errs = append(errs, fmt.Errorf("subscriber saw %d messages out of order", d))
		}
		if d := dups.Load(); d > 0 {
			if qos == 0 {
				errs = append(errs, fmt.Errorf("subscriber got %d messages twice at QoS 0", d))
			} else {
				e.note("%d messages delivered twice (QoS 1 allows it)", d)
			}
		}
		if e.Cfg.Size < 8 {
			e.note("--size %d < 8: order not checked, counts only", e.Cfg.Size)
		}
		return errors.Join(append(errs, e.clientErr())...)
	}
}

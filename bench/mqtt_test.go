package bench

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/mqtt"
	"github.com/wisp-mq/wisp/server"
	"github.com/wisp-mq/wisp/stream"
)

// mqttTestHost lets every MQTT client into the global account, as a
// server with no users does.
type mqttTestHost struct{ srv *server.Server }

func (h mqttTestHost) Login(string, string) (mqtt.Login, error) {
	b, err := h.srv.Account(server.GlobalAccount)
	if err != nil {
		return mqtt.Login{}, err
	}
	return mqtt.Login{Account: server.GlobalAccount, Broker: b}, nil
}

func (mqttTestHost) Register(string, func() mqtt.ClientInfo) (uint64, func(), error) {
	return 1, func() {}, nil
}

// startWithMQTT is a Config.StartEmbeddedMQTT hook like the one cmd/wisp
// passes: a core server, the stream layer in a temporary directory and
// an MQTT listener. Only the tests import stream and mqtt.
func startWithMQTT(t *testing.T) func() (string, string, func(), error) {
	return func() (string, string, func(), error) {
		srv, err := server.New(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true}, slog.New(slog.DiscardHandler))
		if err != nil {
			return "", "", nil, err
		}
		if err := srv.Start(); err != nil {
			return "", "", nil, err
		}
		dir, err := os.MkdirTemp(t.TempDir(), "store")
		if err != nil {
			shutdownServer(srv)
			return "", "", nil, err
		}
		opts := stream.Options{StoreDir: dir}
		opts.OpenStore = stream.PebbleStores(opts)
		svc, err := stream.New(srv, opts)
		if err != nil {
			shutdownServer(srv)
			return "", "", nil, err
		}
		mq, err := mqtt.New(mqtt.Options{Host: "127.0.0.1", Port: -1, AckWait: time.Minute, Log: slog.New(slog.DiscardHandler)}, mqttTestHost{srv})
		if err == nil {
			err = mq.Start()
		}
		if err != nil {
			shutdownServer(srv)
			svc.Close()
			return "", "", nil, err
		}
		return srv.ClientURL(), "tcp://" + mq.Addr().String(), func() {
			mq.Close()
			shutdownServer(srv)
			svc.Close()
		}, nil
	}
}

// TestMQTTScenarios runs each MQTT scenario against the embedded server
// with MQTT and checks it counted what it was asked to, every check
// passed (run fails the test otherwise), and the server's CPU was taken.
func TestMQTTScenarios(t *testing.T) {
	for _, name := range MQTTScenarios() {
		t.Run(name, func(t *testing.T) {
			cfg := quick(name)
			if strings.HasSuffix(name, "-qos1") {
				cfg.Msgs = 600 // stored, and fsynced, before each PUBACK
			}
			cfg.StartEmbeddedMQTT = startWithMQTT(t)
			rep := run(t, cfg)
			if len(rep.Results) != 1 {
				t.Fatalf("%d results, want 1", len(rep.Results))
			}
			r := rep.Results[0]
			if r.Msgs != int64(cfg.Msgs) {
				t.Errorf("counted %d, want %d", r.Msgs, cfg.Msgs)
			}
			if r.Rate <= 0 || r.Scope != ScopeProcess {
				t.Errorf("rate %v, efficiency scope %q", r.Rate, r.Scope)
			}
		})
	}
}

// TestMQTTScenarioTwoPublishers: mqtt-pub honours --pubs, each publisher
// on its own connection and client id.
func TestMQTTScenarioTwoPublishers(t *testing.T) {
	cfg := quick("mqtt-pub-qos1")
	cfg.Msgs, cfg.Pubs = 601, 2
	cfg.StartEmbeddedMQTT = startWithMQTT(t)
	r := run(t, cfg).Results[0]
	if r.Msgs != 601 || r.Pubs != 2 {
		t.Fatalf("counted %d from %d publishers", r.Msgs, r.Pubs)
	}
}

// The MQTT scenarios are named, not run by default: they are in neither
// the standard set nor the core set.
func TestMQTTScenariosNotStandard(t *testing.T) {
	for _, name := range MQTTScenarios() {
		for _, set := range [][]string{StandardScenarios, CoreScenarios()} {
			for _, n := range set {
				if n == name {
					t.Errorf("%s is in %v", name, set)
				}
			}
		}
		if lookup(name) == nil {
			t.Errorf("%s is not registered", name)
		}
	}
}

// The MQTT scenarios start their own server: a URL target is a usage
// error, and an embedded target without the MQTT hook says what is
// missing instead of failing to connect.
func TestMQTTScenarioNeedsStartableServer(t *testing.T) {
	tg, err := newTarget("wisp", "nats://127.0.0.1:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tg.startMQTT(); !errors.Is(err, ErrUsage) {
		t.Fatalf("a URL target: %v", err)
	}
	rep, err := Run(context.Background(), quick("mqtt-pub"))
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Results[0]; r.Error != ErrNoMQTT.Error() {
		t.Fatalf("no MQTT hook: error %q", r.Error)
	}
}

// The config file given to a started binary for the MQTT scenarios: its
// MQTT line is one that both servers read (a TOML inline table, also
// nats-server's map syntax), and the sync rule's line, given to a wisp
// binary only, is read by wisp as [jetstream] sync.
func TestMQTTConfigFile(t *testing.T) {
	for _, rule := range []string{SyncAlways, SyncInterval} {
		dir := t.TempDir()
		path, err := writeConfig(dir, []string{mqttLine(1883), syncLine(rule)})
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if first := strings.SplitN(string(b), "\n", 2)[0]; first != `mqtt = { listen = "127.0.0.1:1883" }` {
			t.Fatalf("MQTT line %q", first)
		}
		// As a started binary is given it: MQTT needs the stream layer, -js.
		c, err := conf.Load([]string{"-js", "-sd", dir, "-c", path})
		if err != nil {
			t.Fatalf("wisp does not read the file: %v", err)
		}
		if m := c.MQTT; m == nil || m.Host != "127.0.0.1" || m.Port != 1883 {
			t.Fatalf("wisp reads [mqtt] as %+v", m)
		}
		if c.Sync != rule {
			t.Fatalf("wisp reads sync %q, want %q", c.Sync, rule)
		}
	}
}

// --sync is Wisp's: it names the target in the report, is recorded in
// the settings, refuses an unknown rule and a server the bench does not
// start.
func TestSyncFlag(t *testing.T) {
	cmd, err := ParseArgs([]string{"mqtt-pub", "--sync", "interval"})
	if err != nil {
		t.Fatal(err)
	}
	targets, err := makeTargets(&cmd.Config)
	if err != nil {
		t.Fatal(err)
	}
	if targets[0].Label != "wisp-interval" || targets[0].sync != SyncInterval {
		t.Fatalf("target %q with sync %q", targets[0].Label, targets[0].sync)
	}
	if rep := newReport(&cmd.Config, targets); rep.Settings.Sync != SyncInterval {
		t.Fatalf("settings record sync %q", rep.Settings.Sync)
	}
	for _, args := range [][]string{
		{"--sync", "sometimes"},
		{"--sync", ""},
		{"--sync", "interval", "--server", "nats://127.0.0.1:4222"},
	} {
		if _, err := ParseArgs(args); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "--sync") {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// A started binary with the stream layer and --sync gets the rule in its
// config file: the test binary, run as a server, writes its arguments
// and that file's content where the test can read them.
func TestSyncReachesStartedBinary(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "args")
	t.Setenv(serverEnv, "1")
	t.Setenv(argsFileEnv, out)
	in, err := startBinary(self, binaryOpts{mqtt: true, sync: SyncInterval})
	if err != nil {
		t.Fatal(err)
	}
	in.stop()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{"-js", "-sd", "-n wisp-bench", `mqtt = { listen = "127.0.0.1:`, `jetstream = { sync = "interval" }`} {
		if !strings.Contains(got, want) {
			t.Errorf("the binary was not given %q:\n%s", want, got)
		}
	}
	if _, err := hostPort(in.url); err != nil || !strings.HasPrefix(in.url, "tcp://") {
		t.Errorf("instance url %q", in.url)
	}
}

package bench

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestParseArgs(t *testing.T) {
	cmd, err := ParseArgs([]string{"pub", "--msgs", "10", "reqrep", "--duration=3s", "--size", "0", "--json", "r.json", "--quiet", "queue"})
	if err != nil {
		t.Fatal(err)
	}
	c := cmd.Config
	if strings.Join(c.Scenarios, ",") != "pub,reqrep,queue" || c.Msgs != 10 || c.Duration != 3*time.Second ||
		c.Size != 0 || cmd.JSONFile != "r.json" || !cmd.Quiet || c.Runs != 1 {
		t.Errorf("parsed %+v", cmd)
	}
	cmd, err = ParseArgs(nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cmd.Config.Scenarios, ",") != strings.Join(StandardScenarios, ",") || cmd.Config.Msgs != DefaultMsgs {
		t.Errorf("defaults %+v", cmd.Config)
	}
	if _, err := ParseArgs([]string{"--help"}); !errors.Is(err, ErrHelp) {
		t.Errorf("--help: %v", err)
	}
}

// TestParseArgsErrors: each mistake is named, with the flag it concerns.
func TestParseArgsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"pubsubb"}, []string{`unknown scenario "pubsubb" (known: pub, pubsub,`}},
		{[]string{"--msgs", "ten"}, []string{`invalid value "ten" for flag --msgs`}},
		{[]string{"--msgs", "0"}, []string{"--msgs: must be at least 1"}},
		{[]string{"--pubs", "0"}, []string{"--pubs: must be at least 1"}},
		{[]string{"--subs", "-2"}, []string{"--subs: -2 is outside 1 to 1000"}},
		{[]string{"--size", "2000000"}, []string{"--size: 2000000 is outside 0 to 1048576 bytes"}},
		{[]string{"--duration", "10"}, []string{`invalid value "10" for flag --duration`}},
		{[]string{"--duration", "0s"}, []string{"--duration: must be positive"}},
		{[]string{"--runs", "0"}, []string{"--runs: must be at least 1"}},
		{[]string{"--server", "localhost:4222"}, []string{`--server: "localhost:4222" is not a URL`}},
		{[]string{"--compare", ""}, []string{"--compare: empty"}},
		{[]string{"--bogus"}, []string{"unknown flag --bogus"}},
		{[]string{"--compare", "nats-server", "--compare-sync", "interval"}, []string{`--compare-sync: "interval" is not "always"`}},
		{[]string{"--compare-sync", "always"}, []string{"--compare-sync: sets the rule of a compared server binary"}},
		{[]string{"--compare", "nats://127.0.0.1:4222", "--compare-sync", "always"}, []string{"--compare-sync: sets the rule of a compared server binary"}},
		{[]string{"nope", "--size", "-1"}, []string{`unknown scenario "nope"`, "--size: -1 is outside"}},
	} {
		_, err := ParseArgs(tc.args)
		if !errors.Is(err, ErrUsage) {
			t.Errorf("%q: error %v, want a usage error", tc.args, err)
			continue
		}
		msg := strings.Join(UsageMessage(err), "\n")
		for _, want := range tc.want {
			if !strings.Contains(msg, want) {
				t.Errorf("%q: message %q lacks %q", tc.args, msg, want)
			}
		}
	}
}

func TestCompareBinaryNotFound(t *testing.T) {
	cfg := quick("pub")
	cfg.Compare = "no-such-server-binary-here"
	_, err := Run(t.Context(), cfg)
	if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), `server binary "no-such-server-binary-here"`) {
		t.Errorf("error %v", err)
	}
}

func TestUsage(t *testing.T) {
	var b strings.Builder
	Usage(&b)
	for _, name := range ScenarioNames() {
		if !strings.Contains(b.String(), "  "+name+" ") {
			t.Errorf("usage does not list %s", name)
		}
	}
}

// natsMsg wraps a payload in a message for handler tests.
func natsMsg(data []byte) *nats.Msg { return &nats.Msg{Data: data} }

// syncBuffer is a strings.Builder safe for the progress goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

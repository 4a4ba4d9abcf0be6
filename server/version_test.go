package server

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// semver is a release version as clients compare it: MAJOR.MINOR.PATCH.
var semver = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)$`)

// atLeast reports whether version v, a semver, is at least major.minor.patch.
func atLeast(t *testing.T, v string, want [3]int) bool {
	t.Helper()
	m := semver.FindStringSubmatch(v)
	if m == nil {
		t.Fatalf("version %q is not MAJOR.MINOR.PATCH", v)
	}
	for i := 0; i < 3; i++ {
		n, _ := strconv.Atoi(m[i+1])
		if n != want[i] {
			return n > want[i]
		}
	}
	return true
}

// INFO's "version" is what clients compare to gate features (nats.go's
// KeyValue wants 2.6.2 or later), so it is a semver at that level or above;
// Wisp's own version and commit travel in fields of their own.
func TestInfoVersionIsComparable(t *testing.T) {
	// Version and GitCommit are left as they are: other tests' servers may
	// still be reading them. The binary test (cmd/wisp) stamps them.
	s := startServer(t, func(o *Options) { o.JetStream = true })
	line := dialNoInfo(t, s).readLine()
	var info map[string]any
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "INFO ")), &info); err != nil {
		t.Fatalf("INFO %q: %v", line, err)
	}
	v, _ := info["version"].(string)
	if v != NATSVersion || !atLeast(t, v, [3]int{2, 6, 2}) {
		t.Errorf("INFO version %q, want %s (a semver >= 2.6.2)", v, NATSVersion)
	}
	if info["wisp_version"] != Version {
		t.Errorf("INFO wisp_version %v, want %q", info["wisp_version"], Version)
	}
	if c, ok := info["git_commit"]; GitCommit == "" && ok || GitCommit != "" && c != GitCommit {
		t.Errorf("INFO git_commit %v, want %q (omitted when empty)", c, GitCommit)
	}
	if info["api_lvl"] != float64(JetStreamAPILevel) {
		t.Errorf("INFO api_lvl %v with streams on, want %d", info["api_lvl"], JetStreamAPILevel)
	}
	// nats.go reads the field as it is.
	if got := connect(t, s).ConnectedServerVersion(); got != NATSVersion {
		t.Errorf("nats.go ConnectedServerVersion %q", got)
	}
}

// Without streams there is no API level to advertise, as with nats-server.
func TestInfoNoAPILevelWithoutStreams(t *testing.T) {
	s := startServer(t, nil)
	line := dialNoInfo(t, s).readLine()
	if strings.Contains(line, `"api_lvl"`) {
		t.Errorf("api_lvl without streams: %s", line)
	}
}

// /varz says the same as INFO: the comparable version, Wisp's own, the commit.
func TestVarzVersions(t *testing.T) {
	s := startMonitored(t, nil)
	var v map[string]any
	monGet(t, s, "/varz", 200, &v)
	if v["version"] != NATSVersion || v["wisp_version"] != Version || v["git_commit"] != nil && v["git_commit"] != GitCommit {
		t.Errorf("/varz version %v, wisp_version %v, git_commit %v", v["version"], v["wisp_version"], v["git_commit"])
	}
}

package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/wisp-mq/wisp/server"
)

// version is Wisp's version, set at build time:
// go build -ldflags "-X main.version=1.2.3". make build stamps the tag
// "git describe" finds, or leaves this default when there is none.
var version = "0.1.0-dev"

// commit is the commit Wisp was built from, set at build time with
// -X main.commit=<hash> (make build does). When it is not set, the
// revision go build records from a git checkout is used instead.
var commit = ""

// buildCommit is the commit to report: the stamped one, else go build's
// vcs.revision (short, with "-dirty" for uncommitted changes), else "".
func buildCommit() string {
	if commit != "" {
		return commit
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev string
	var dirty bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) > 7 {
		rev = rev[:7] // as git rev-parse --short
	}
	if rev != "" && dirty {
		rev += "-dirty"
	}
	return rev
}

// versionLine is what wisp --version prints: Wisp's version and commit,
// the Go release, and the nats-server version Wisp advertises to clients
// (server.NATSVersion; see docs/ARCHITECTURE.md, "Versions").
func versionLine() string {
	c := buildCommit()
	if c == "" {
		c = "unknown"
	}
	return fmt.Sprintf("wisp %s (commit %s, %s), serving clients as nats-server %s\n",
		version, c, runtime.Version(), server.NATSVersion)
}

// stampVersion hands the build's version and commit to the server, for
// INFO and /varz.
func stampVersion() {
	server.Version = version
	server.GitCommit = buildCommit()
}

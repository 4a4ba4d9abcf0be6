package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/wisp-mq/wisp/bench"
)

// TestBenchProgressOnlyOnTerminal: the live status line is drawn on a
// terminal, and nothing of it is written when stdout is not one (a pipe,
// a file, CI) or with --quiet; the report is written either way.
func TestBenchProgressOnlyOnTerminal(t *testing.T) {
	args := []string{"pub", "--msgs", "500", "--size", "16", "--duration", "10s"}
	for _, c := range []struct {
		name     string
		terminal bool
		quiet    bool
		drawn    bool
	}{
		{"terminal", true, false, true},
		{"pipe", false, false, false},
		{"quiet terminal", true, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			a := args
			if c.quiet {
				a = append(append([]string(nil), args...), "--quiet")
			}
			if status := benchMain(context.Background(), a, &stdout, &stderr, c.terminal); status != exitOK {
				t.Fatalf("status %d\nstdout:\n%s\nstderr:\n%s", status, stdout.String(), stderr.String())
			}
			out := stdout.String()
			if drawn := strings.Contains(out, "\r\033[K[1/1] pub"); drawn != c.drawn {
				t.Errorf("status line drawn %v, want %v:\n%q", drawn, c.drawn, out)
			}
			if !c.drawn && strings.ContainsAny(out+stderr.String(), "\r\033") {
				t.Errorf("control characters without a terminal:\n%q\n%q", out, stderr.String())
			}
			if !strings.Contains(out, "Throughput") {
				t.Errorf("no report:\n%s", out)
			}
		})
	}
}

// TestBenchMQTTEmbedded: wisp bench runs the MQTT scenarios against its
// embedded server (stream layer and MQTT listener), with Wisp's default
// sync rule and with --sync interval, which names the target.
func TestBenchMQTTEmbedded(t *testing.T) {
	for _, c := range []struct {
		sync  []string
		label string
	}{
		{nil, "embedded Wisp server;"},
		{[]string{"--sync", "interval"}, "embedded Wisp server (its streams with sync = interval);"},
	} {
		args := append([]string{"mqtt-pubsub", "mqtt-pub-qos1", "--msgs", "300", "--size", "16", "--duration", "20s", "--quiet"}, c.sync...)
		var stdout, stderr bytes.Buffer
		if status := benchMain(context.Background(), args, &stdout, &stderr, false); status != exitOK {
			t.Fatalf("%v: status %d\nstdout:\n%s\nstderr:\n%s", args, status, stdout.String(), stderr.String())
		}
		if out := stdout.String(); !strings.Contains(out, "mqtt-pub-qos1") || !strings.Contains(out, c.label) {
			t.Errorf("%v: report without %q:\n%s", args, c.label, out)
		}
	}
}

// The replicated-stream scenarios, and a compared binary, make wisp bench
// run its own binary as the server under test; a URL given with --server
// or --compare, or core scenarios alone, leave the embedded server.
func TestBenchChoosesBinary(t *testing.T) {
	for _, c := range []struct {
		cfg  bench.Config
		want string
	}{
		{bench.Config{Scenarios: []string{"pub", "r3-pub"}}, "self"},
		{bench.Config{Scenarios: []string{"pub"}, Compare: "nats-server"}, "self"},
		{bench.Config{Scenarios: []string{"pub", "cluster-pubsub", "js-pub"}}, ""},
		{bench.Config{Scenarios: []string{"pub"}, Compare: "nats://127.0.0.1:4222"}, ""},
		{bench.Config{Scenarios: []string{"r3-pub"}, Server: "nats://127.0.0.1:4222"}, ""},
	} {
		cfg := c.cfg
		chooseBinary(&cfg, "self")
		if cfg.Binary != c.want {
			t.Errorf("%v compare %q server %q: binary %q, want %q", cfg.Scenarios, cfg.Compare, cfg.Server, cfg.Binary, c.want)
		}
	}
}

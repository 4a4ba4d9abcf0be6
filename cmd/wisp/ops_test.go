package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestBinarySignals runs the built binary and drives it from the outside:
// reload through "wisp --signal reload" (found via the pid file) and a raw
// SIGHUP, a rejected reload, then lame-duck mode through "--signal ldm".
func TestBinarySignals(t *testing.T) {
	bin := buildWisp(t)
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "wisp.pid")
	confFile := filepath.Join(dir, "wisp.conf")
	port := freePort(t)
	writeConfig := func(users, extra string) {
		t.Helper()
		text := fmt.Sprintf("host = \"127.0.0.1\"\nport = %d\npid_file = %q\nlame_duck_duration = \"1s\"\nlame_duck_grace_period = \"200ms\"\n%s\n[authorization]\nusers = [%s]\n",
			port, pidFile, extra, users)
		if err := os.WriteFile(confFile, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig(`{user = "a", password = "a"}, {user = "b", password = "b"}`, "")
	cmd, stderr := startBin(t, bin, "-c", confFile)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)

	var ldm atomic.Bool
	var a *nats.Conn
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		a, err = nats.Connect(url, nats.UserInfo("a", "a"), nats.Timeout(time.Second), nats.NoReconnect(),
			nats.LameDuckModeHandler(func(*nats.Conn) { ldm.Store(true) }))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connect: %v\n%s", err, stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer a.Close()
	if data, err := os.ReadFile(pidFile); err != nil || strings.TrimSpace(string(data)) != fmt.Sprint(cmd.Process.Pid) {
		t.Fatalf("pid file %q, %v", data, err)
	}
	bClosed := make(chan struct{})
	var bErr atomic.Value
	b, err := nats.Connect(url, nats.UserInfo("b", "b"), nats.NoReconnect(),
		nats.ClosedHandler(func(*nats.Conn) { close(bClosed) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { bErr.Store(err.Error()) }))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	// Reload through --signal: b is removed, c added.
	writeConfig(`{user = "a", password = "a"}, {user = "c", password = "c"}`, "")
	if code, _, errOut := runBin(t, bin, nil, "--signal", "reload", "-c", confFile); code != 0 {
		t.Fatalf("--signal reload: exit %d: %s", code, errOut)
	}
	select {
	case <-bClosed:
	case <-time.After(5 * time.Second):
		t.Fatalf("removed user b not disconnected\n%s", stderr)
	}
	if e, _ := bErr.Load().(string); !strings.Contains(strings.ToLower(e), "authorization violation") {
		t.Errorf("b's error %q", e)
	}
	waitFor(t, "user c accepted", func() bool {
		c, err := nats.Connect(url, nats.UserInfo("c", "c"), nats.NoReconnect())
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	// A reload that changes the port, and one with a syntax error, are
	// rejected with the reason; the server keeps going.
	writeConfig(`{user = "a", password = "a"}`, "max_payload = \"2MB\"")
	os.WriteFile(confFile, []byte(strings.Replace(mustRead(t, confFile), fmt.Sprintf("port = %d", port), fmt.Sprintf("port = %d", port+1), 1)), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "port change rejected", func() bool {
		return strings.Contains(stderr.String(), "configuration reload rejected") && strings.Contains(stderr.String(), "port: cannot change at runtime")
	})
	os.WriteFile(confFile, []byte("port = \n"), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "syntax error rejected", func() bool { return strings.Contains(stderr.String(), confFile+":1") })
	if err := a.Flush(); err != nil {
		t.Fatalf("a lost after rejected reloads: %v", err)
	}

	// Lame-duck mode: a is told, then closed, and the process exits.
	if code, _, errOut := runBin(t, bin, nil, "--signal", "ldm", "-P", pidFile); code != 0 {
		t.Fatalf("--signal ldm: exit %d: %s", code, errOut)
	}
	waitFor(t, "lame-duck INFO", ldm.Load)
	if err := waitExit(cmd, 10*time.Second); err != nil {
		t.Fatalf("after lame-duck mode: %v\n%s", err, stderr)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left behind: %v", err)
	}
	if !strings.Contains(stderr.String(), "entering lame-duck mode") {
		t.Errorf("no lame-duck log line:\n%s", stderr)
	}
}

func TestSignalErrors(t *testing.T) {
	code, _, stderr := runBin(t, buildWisp(t), nil, "--signal", "reload")
	if code == 0 || !strings.Contains(stderr, "no pid file") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func mustRead(t *testing.T, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

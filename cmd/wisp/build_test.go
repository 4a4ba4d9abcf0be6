package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"

	"github.com/wisp-mq/wisp/server"
)

// buildWisp builds the binary as "make build" does (static, trimmed, with a
// version stamped in) into a temporary directory.
func buildWisp(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	bin := filepath.Join(t.TempDir(), "wisp")
	cmd := exec.Command(goTool, "build", "-trimpath", "-ldflags", "-s -w -X main.version=9.9.9-test -X main.commit=abc1234", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestBinary builds bin/wisp once and checks it from the outside: static
// linking, the version stamp, the subcommands, config errors, and a run that
// serves a client and stops cleanly on SIGTERM.
func TestBinary(t *testing.T) {
	bin := buildWisp(t)

	t.Run("static", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("ELF check on linux only")
		}
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("binary has a %v program header: it is dynamically linked", p.Type)
			}
		}
		if s := f.Section(".dynamic"); s != nil {
			t.Error("binary has a .dynamic section")
		}
	})

	t.Run("version", func(t *testing.T) {
		out, err := exec.Command(bin, "--version").Output()
		if err != nil {
			t.Fatal(err)
		}
		want := "wisp 9.9.9-test (commit abc1234, " + runtime.Version() + "), serving clients as nats-server " + server.NATSVersion + "\n"
		if string(out) != want {
			t.Errorf("--version printed %q, want %q", out, want)
		}
	})

	t.Run("help", func(t *testing.T) {
		out, err := exec.Command(bin, "--help").Output()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "-p, --port <port>") {
			t.Errorf("--help printed:\n%s", out)
		}
	})

	t.Run("passwd", func(t *testing.T) {
		code, stdout, stderr := runBin(t, bin, nil, "passwd", "--password", "s3cret")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		hash := strings.TrimSpace(stdout)
		if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret")); err != nil {
			t.Errorf("hash %q does not match: %v", hash, err)
		}
		if cost, _ := bcrypt.Cost([]byte(hash)); cost != 11 {
			t.Errorf("cost %d, want 11", cost)
		}
	})

	t.Run("config error", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bad.conf")
		os.WriteFile(path, []byte("port = 4222\nmax_paylod = 1\n"), 0o600)
		code, _, stderr := runBin(t, bin, nil, "-c", path)
		want := "wisp: " + path + `:2: unknown key "max_paylod"`
		if code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, stderr, want)
		}
	})

	t.Run("bad flag", func(t *testing.T) {
		code, _, stderr := runBin(t, bin, nil, "-p", "many")
		if code != 2 || !strings.HasPrefix(stderr, "wisp: ") || !strings.Contains(stderr, "-p") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})

	// A run serves a client and stops cleanly on SIGTERM, with and without
	// the stream layer.
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"serve", nil},
		{"serve with streams", []string{"-js", "-sd", t.TempDir()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			args := append([]string{"-a", "127.0.0.1", "-p", strconv.Itoa(port)}, tc.extra...)
			cmd, stderr := startBin(t, bin, args...)
			nc := connect(t, "nats://127.0.0.1:"+strconv.Itoa(port))
			sub, err := nc.SubscribeSync("greet.*")
			if err != nil {
				t.Fatal(err)
			}
			if err := nc.Publish("greet.wisp", []byte("hello")); err != nil {
				t.Fatal(err)
			}
			msg, err := sub.NextMsg(5 * time.Second)
			if err != nil || string(msg.Data) != "hello" {
				t.Fatalf("got %v, %v", msg, err)
			}
			nc.Close()
			// INFO carries the comparable version and, apart, Wisp's own.
			info := readInfo(t, "127.0.0.1:"+strconv.Itoa(port))
			if info["version"] != server.NATSVersion || info["wisp_version"] != "9.9.9-test" || info["git_commit"] != "abc1234" {
				t.Errorf("INFO version fields: %v", info)
			}
			cmd.Process.Signal(syscall.SIGTERM)
			if err := waitExit(cmd, 20*time.Second); err != nil {
				t.Errorf("after SIGTERM: %v\nstderr:\n%s", err, stderr)
			}
			if !strings.Contains(stderr.String(), "wisp started") {
				t.Errorf("no start log line:\n%s", stderr)
			}
		})
	}
}

func runBin(t *testing.T, bin string, stdin []byte, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	// Every run here should end at once; the timeout keeps a regression
	// from hanging the whole test binary.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String(), errb.String()
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine exec starts.
type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{mu: make(chan struct{}, 1)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

func startBin(t *testing.T, bin string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stderr := newSyncBuffer()
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, stderr
}

func waitExit(cmd *exec.Cmd, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		cmd.Process.Kill()
		return <-done
	}
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// freePort returns a loopback port that was free a moment ago, for a
// process started with it. It is drawn below Linux's ephemeral range
// (32768 and up), which the kernel also hands to outgoing connections: a
// port released from there can be taken by another test's client before
// the process binds it.
// A port is handed out once per test binary, so that two calls in one
// test never return the same one.
func freePort(t *testing.T) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for try := 0; try < 1000; try++ {
		p := 20000 + rand.IntN(12000)
		if portsGiven[p] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue // in use: draw again
		}
		l.Close()
		portsGiven[p] = true
		return p
	}
	t.Fatal("no free port found")
	return 0
}

// connect retries until the freshly started server accepts.
func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		nc, err := nats.Connect(url, nats.Timeout(time.Second))
		if err == nil {
			return nc
		}
		if time.Now().After(deadline) {
			t.Fatalf("connect %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readInfo dials addr and decodes the INFO line the server opens with.
func readInfo(t *testing.T, addr string) map[string]any {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("first line %q: %v", line, err)
	}
	var info map[string]any
	if err := json.Unmarshal([]byte(line[len("INFO "):]), &info); err != nil {
		t.Fatalf("INFO %q: %v", line, err)
	}
	return info
}

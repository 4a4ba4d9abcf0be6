package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
)

// mountSmallDisk mounts a tmpfs of size bytes under a temporary directory,
// or skips the test saying why it cannot.
func mountSmallDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	mnt := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

// TestBinaryFullDisk runs the binary with its store on a 20 MB filesystem
// and publishes far more than fits: the process stays up, core pub/sub
// keeps working, every refused publish is 10023, /healthz says why, and
// once a stream is deleted and a file freed publishing resumes by itself.
func TestBinaryFullDisk(t *testing.T) {
	bin := buildWisp(t)
	mnt := mountSmallDisk(t, "20m")
	// Someone else's file on the same disk, removed later to free space.
	if err := writeZeroFile(filepath.Join(mnt, "other.bin"), 4<<20); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	port, httpPort := freePort(t), freePort(t)
	confFile := filepath.Join(dir, "wisp.conf")
	text := fmt.Sprintf("host = \"127.0.0.1\"\nport = %d\nhttp_port = %d\n[jetstream]\nenabled = true\nstore_dir = %q\n",
		port, httpPort, filepath.Join(mnt, "data"))
	if err := os.WriteFile(confFile, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, stderr := startBin(t, bin, "-c", confFile)
	nc := connect(t, fmt.Sprintf("nats://127.0.0.1:%d", port))
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FILL", Subjects: []string{"fill"}}); err != nil {
		t.Fatal(err)
	}
	// Random bytes: the store compresses, and zeros would take no room.
	payload := make([]byte, 8<<10)
	if _, err := rand.Read(payload); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	acked, refused := 0, 0
	for i := 0; i < 2000; i++ {
		_, err := js.Publish(ctx, "fill", payload)
		switch code := apiErrCode(err); {
		case err == nil:
			acked++
		case code == 10023:
			refused++
		default:
			t.Fatalf("publish %d: %v (code %d), want an ack or 10023\n%s", i, err, code, stderr)
		}
	}
	t.Logf("%d acknowledged, %d refused in %v", acked, refused, time.Since(start))
	if acked == 0 || refused == 0 {
		t.Fatalf("%d acknowledged, %d refused: the disk did not fill", acked, refused)
	}
	if cmd.ProcessState != nil {
		t.Fatalf("the server exited\n%s", stderr)
	}
	// Core messaging is untouched.
	sub, err := nc.SubscribeSync("core")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("core", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("core pub/sub on a full disk: %v", err)
	}
	// /healthz says why while writes are refused. Pebble may free room
	// meanwhile (a flushed log is deleted) and the store then takes writes
	// again, so each refusal is followed at once by a look at /healthz,
	// publishing on until one shows the refusal, within a bound.
	healthSeen := ""
	for i := 0; i < 2000 && healthSeen == ""; i++ {
		if _, err := js.Publish(ctx, "fill", payload); err == nil {
			acked++
			continue
		} else if code := apiErrCode(err); code != 10023 {
			t.Fatalf("publish: %v (code %d), want an ack or 10023", err, code)
		}
		refused++
		code, body := getURL(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", httpPort))
		if code == http.StatusServiceUnavailable && strings.Contains(body, "out of disk space") {
			healthSeen = body
		}
	}
	if healthSeen == "" {
		t.Errorf("/healthz never reported the full disk while publishes were refused")
	}
	// Reads work and count only what was acknowledged.
	info, err := js.Stream(ctx, "FILL")
	if err != nil {
		t.Fatal(err)
	}
	if got := info.CachedInfo().State.Msgs; got != uint64(acked) {
		t.Errorf("stream holds %d messages, %d were acknowledged", got, acked)
	}
	if !strings.Contains(stderr.String(), "out of space") {
		t.Errorf("no log line says the store is out of space:\n%s", stderr)
	}

	// Free space: delete the stream, and the other file.
	if err := js.DeleteStream(ctx, "FILL"); err != nil {
		t.Fatalf("deleting a stream on a full disk: %v\n%s", err, stderr)
	}
	if err := os.Remove(filepath.Join(mnt, "other.bin")); err != nil {
		t.Fatal(err)
	}
	// Space freed by the deletion comes back as Pebble flushes and
	// compacts; creating and publishing resume by themselves.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "AGAIN", Subjects: []string{"fill"}})
		if err == nil {
			_, err = js.Publish(ctx, "fill", payload)
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publishing did not resume: %v\n%s", err, stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("publishing resumed %v after space was freed", time.Since(deadline.Add(-30*time.Second)))
	t.Logf("log lines: %d out of space, %d space again, %d failed, %d background errors",
		strings.Count(stderr.String(), "out of space"), strings.Count(stderr.String(), "space again"),
		strings.Count(stderr.String(), "store failed"), strings.Count(stderr.String(), "background work failed"))
	waitFor(t, "/healthz ok", func() bool {
		code, _ := getURL(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", httpPort))
		return code == http.StatusOK
	})
}

func writeZeroFile(name string, n int) error {
	return os.WriteFile(name, make([]byte, n), 0o600)
}

func getURL(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReadOnlyStoreRefusesToStart: a store whose filesystem has become
// read-only (a real tmpfs remounted ro, as the kernel does after disk
// errors) stops the server from starting with an error naming the store
// and the cause, the documented choice, rather than a panic or a server
// that takes publishes it cannot keep.
func TestReadOnlyStoreRefusesToStart(t *testing.T) {
	mnt := mountSmallDisk(t, "16m")
	cfg := conf.DefaultConfig()
	cfg.JetStream = true
	cfg.StoreDir = filepath.Join(mnt, "data")
	cfg.Server = server.Options{Host: "127.0.0.1", Port: -1}
	logs, stop := startServe(t, cfg)
	line := waitLogLine(t, logs, `msg="wisp started"`)
	url := line[strings.Index(line, "url=")+len("url="):]
	url = strings.Fields(url)[0]
	nc := connect(t, url)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "RO", Subjects: []string{"ro"}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := js.Publish(ctx, "ro", []byte("kept")); err != nil {
			t.Fatal(err)
		}
	}
	nc.Close()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "remount,ro", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot remount the tmpfs read-only (%v: %s)", err, strings.TrimSpace(string(out)))
	}

	done := make(chan error, 1)
	go func() {
		done <- serve(context.Background(), func() {}, cfg, slog.New(slog.DiscardHandler), new(slog.LevelVar), nil)
	}()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("serve on a read-only store neither started nor failed")
	}
	if err == nil || !strings.Contains(err.Error(), "read-only file system") || !strings.Contains(err.Error(), cfg.StoreDir) {
		t.Fatalf("serve on a read-only store: %v; want an error naming the store and the read-only filesystem", err)
	}
}

package stream_test

import (
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// natsCLI finds the nats CLI, on the PATH or in GOPATH/bin; the tests
// that drive it skip without it.
func natsCLI(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nats"); err == nil {
		return p
	}
	p := filepath.Join(build.Default.GOPATH, "bin", "nats")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	t.Skip("the nats CLI is not installed")
	return ""
}

// runCLI runs the nats CLI against url with a home of its own (no saved
// contexts), and returns its combined output.
func runCLI(t *testing.T, cli, url string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(cli, append([]string{"-s", url, "--timeout", "20s"}, args...)...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "NATS_CONTEXT=", "NATS_URL=")
	done := make(chan struct{})
	timer := time.AfterFunc(2*time.Minute, func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
		}
	})
	defer timer.Stop()
	out, err := cmd.CombinedOutput()
	close(done)
	return string(out), err
}

// TestCLIBackupRestoreFreshServer: `nats stream backup`, `nats account
// backup` and their restores, through the real CLI and the real binary,
// into servers started on empty data directories: messages, sequences
// and consumers come back, and a damaged backup is refused with nothing
// left behind.
func TestCLIBackupRestoreFreshServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	cli := natsCLI(t)
	bin, err := buildWisp()
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	_, js, _ := runWisp(t, bin, t.TempDir(), port)
	s, err := js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "K", Subjects: []string{"k.>"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		if _, err := js.Publish(ctx(t), fmt.Sprintf("s.%d", i%10), fmt.Appendf(nil, "payload %d", i)); err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			if _, err := js.Publish(ctx(t), "k.x", []byte("k")); err != nil {
				t.Fatal(err)
			}
		}
	}
	c, err := s.CreateOrUpdateConsumer(ctx(t), jetstream.ConsumerConfig{Durable: "C", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(10, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	want := streamMsgs(t, js, "S")

	backups := t.TempDir()
	streamDir, accountDir := filepath.Join(backups, "S"), filepath.Join(backups, "account")
	if out, err := runCLI(t, cli, url, "stream", "backup", "S", streamDir, "--no-progress"); err != nil {
		t.Fatalf("nats stream backup: %v\n%s", err, out)
	}
	if out, err := runCLI(t, cli, url, "account", "backup", accountDir, "-f"); err != nil {
		t.Fatalf("nats account backup: %v\n%s", err, out)
	}

	// A fresh server restores the stream backup.
	port2 := freePort(t)
	url2 := fmt.Sprintf("nats://127.0.0.1:%d", port2)
	_, js2, _ := runWisp(t, bin, t.TempDir(), port2)
	if out, err := runCLI(t, cli, url2, "stream", "restore", streamDir, "--no-progress"); err != nil {
		t.Fatalf("nats stream restore: %v\n%s", err, out)
	}
	sameMsgs(t, want, streamMsgs(t, js2, "S"))
	ci, err := js2.Consumer(ctx(t), "S", "C")
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := ci.Info(ctx(t)); info.AckFloor.Stream != 10 || info.NumPending != 490 {
		t.Fatalf("restored consumer: ack floor %d, %d pending", info.AckFloor.Stream, info.NumPending)
	}

	// A damaged copy of the backup is refused and leaves no stream.
	damaged := filepath.Join(backups, "damaged")
	copyDir(t, streamDir, damaged)
	archive := findArchive(t, damaged)
	b, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(archive, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := js2.DeleteStream(ctx(t), "S"); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, cli, url2, "stream", "restore", damaged, "--no-progress")
	if err == nil || !strings.Contains(out, "restore failed") {
		t.Fatalf("damaged restore: %v\n%s", err, out)
	}
	if _, err := js2.Stream(ctx(t), "S"); err == nil {
		t.Fatalf("stream S exists after a refused restore\n%s", out)
	}

	// Another fresh server restores the whole account.
	port3 := freePort(t)
	url3 := fmt.Sprintf("nats://127.0.0.1:%d", port3)
	_, js3, _ := runWisp(t, bin, t.TempDir(), port3)
	if out, err := runCLI(t, cli, url3, "account", "restore", accountDir); err != nil {
		t.Fatalf("nats account restore: %v\n%s", err, out)
	}
	sameMsgs(t, want, streamMsgs(t, js3, "S"))
	if k, err := js3.Stream(ctx(t), "K"); err != nil {
		t.Fatal(err)
	} else if info, _ := k.Info(ctx(t)); info.State.Msgs != 100 {
		t.Fatalf("stream K restored with %d messages, want 100", info.State.Msgs)
	}
	if _, err := js3.Consumer(ctx(t), "S", "C"); err != nil {
		t.Fatalf("consumer C after account restore: %v", err)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

// findArchive returns the data file of a stream backup, whichever name
// the CLI gave it.
func findArchive(t *testing.T, dir string) string {
	t.Helper()
	for _, n := range []string{"stream.tar.s2", "stream.arc.s2"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return filepath.Join(dir, n)
		}
	}
	t.Fatalf("no archive in %s", dir)
	return ""
}

// TestRestoreIntoFreshProcess: an archive taken from one server process is
// restored into another on an empty data directory, and the restored
// stream, with its consumer, is still whole after that process restarts.
func TestRestoreIntoFreshProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildWisp()
	if err != nil {
		t.Fatal(err)
	}
	_, js1, nc1 := runWisp(t, bin, t.TempDir(), freePort(t))
	s, err := js1.CreateStream(ctx(t), jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if _, err := js1.Publish(ctx(t), fmt.Sprintf("s.%d", i%4), fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.CreateOrUpdateConsumer(ctx(t), jetstream.ConsumerConfig{Durable: "C", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(7, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	want := streamMsgs(t, js1, "S")
	r, archive, status := takeSnapshot(t, nc1, "S", nil)
	if status != "204" {
		t.Fatalf("snapshot status %q", status)
	}

	dir2 := t.TempDir()
	cmd2, _, nc2 := runWisp(t, bin, dir2, freePort(t))
	if fin := decodeCreate(t, restoreArchive(t, nc2, "S", r.Config, archive, 16*1024)); fin.Error != nil {
		t.Fatalf("restore: %+v", fin.Error)
	}
	nc2.Close()
	if err := cmd2.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd2.Wait(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	_, js3, _ := runWisp(t, bin, dir2, freePort(t))
	sameMsgs(t, want, streamMsgs(t, js3, "S"))
	ci, err := js3.Consumer(ctx(t), "S", "C")
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := ci.Info(ctx(t)); info.AckFloor.Stream != 7 || info.NumPending != 293 {
		t.Fatalf("consumer after restore and restart: ack floor %d, %d pending", info.AckFloor.Stream, info.NumPending)
	}
}

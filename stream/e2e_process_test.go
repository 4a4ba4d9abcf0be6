package stream_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// buildWisp builds cmd/wisp once per test binary.
var buildWisp = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "wisp-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "wisp")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/wisp-mq/wisp/cmd/wisp").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build: %v\n%s", err, out)
	}
	return bin, nil
})

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// runWisp starts the real binary with streams on and returns a connected
// client.
func runWisp(t *testing.T, bin, dir string, port int, extra ...string) (*exec.Cmd, jetstream.JetStream, *nats.Conn) {
	args := append([]string{"-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", dir}, extra...)
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var nc *nats.Conn
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if nc, err = nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", port)); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// The binary listens before the stream layer has recovered; wait for
	// the API to answer.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err = js.AccountInfo(ctx(t)); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return cmd, js, nc
}

// TestProcessKillAndTerm: under either sync rule, every publish acked
// before SIGKILL (or SIGTERM) is there after a restart of the real binary,
// and the next sequence follows the last acked one. The interval rule runs
// with an hour between fsyncs, so what survives SIGKILL is what each ack
// promised had reached the operating system.
func TestProcessKillAndTerm(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildWisp()
	if err != nil {
		t.Fatal(err)
	}
	interval := filepath.Join(t.TempDir(), "interval.conf")
	if err := os.WriteFile(interval, []byte("[jetstream]\nsync = \"interval\"\nsync_interval = \"1h\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rules := []struct {
		name string
		args []string
	}{{"always", nil}, {"interval", []string{"-c", interval}}}
	for _, rule := range rules {
		for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
			t.Run(rule.name+"/"+sig.String(), func(t *testing.T) {
				killAfterBurst(t, bin, sig, rule.args)
			})
		}
	}
}

func killAfterBurst(t *testing.T, bin string, sig syscall.Signal, args []string) {
	dir, port := t.TempDir(), freePort(t)
	cmd, js, nc := runWisp(t, bin, dir, port, args...)
	c := ctx(t)
	if _, err := js.CreateStream(c, jetstream.StreamConfig{Name: "K", Subjects: []string{"k.>"}}); err != nil {
		t.Fatal(err)
	}
	futures := make([]jetstream.PubAckFuture, 0, 2000)
	for i := 0; i < 2000; i++ {
		f, err := js.PublishAsync(fmt.Sprintf("k.%d", i%7), []byte("burst"))
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	<-js.PublishAsyncComplete()
	var last uint64
	for _, f := range futures {
		select {
		case a := <-f.Ok():
			last = max(last, a.Sequence)
		case err := <-f.Err():
			t.Fatal(err)
		}
	}
	// Signal the moment the last ack is in: nothing gets a chance to
	// settle first.
	cmd.Process.Signal(sig)
	cmd.Wait()
	nc.Close()

	_, js, _ = runWisp(t, bin, dir, port, args...)
	s, err := js.Stream(c, "K")
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(c)
	if info.State.Msgs != 2000 || info.State.LastSeq != last {
		t.Fatalf("after %v: %+v (last acked %d)", sig, info.State, last)
	}
	a, err := js.Publish(c, "k.x", nil)
	if err != nil || a.Sequence != last+1 {
		t.Fatalf("next publish %+v %v", a, err)
	}
}

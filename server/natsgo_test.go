package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"
)

// These tests use the official Go client unchanged: Wisp is only useful if
// existing NATS clients work against it.

func connect(t testing.TB, s *Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	opts = append([]nats.Option{nats.Timeout(2 * time.Second)}, opts...)
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func nextMsg(t testing.TB, sub *nats.Subscription) *nats.Msg {
	t.Helper()
	m, err := sub.NextMsg(3 * time.Second)
	if err != nil {
		t.Fatalf("NextMsg on %q: %v", sub.Subject, err)
	}
	return m
}

func TestNatsPubSub(t *testing.T) {
	s := startServer(t, nil)
	nc := connect(t, s)
	sub, err := nc.SubscribeSync("greet.*")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("greet.joe", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	m := nextMsg(t, sub)
	if m.Subject != "greet.joe" || string(m.Data) != "hello" {
		t.Fatalf("got %q %q", m.Subject, m.Data)
	}
	if nc.ConnectedServerId() != s.ID() {
		t.Fatalf("server id %q, want %q", nc.ConnectedServerId(), s.ID())
	}
}

func TestNatsQueueGroup(t *testing.T) {
	s := startServer(t, nil)
	nc := connect(t, s)
	var counts [3]atomic.Int64
	for i := range counts {
		c := connect(t, s)
		if _, err := c.QueueSubscribe("jobs", "workers", func(*nats.Msg) { counts[i].Add(1) }); err != nil {
			t.Fatal(err)
		}
		c.Flush()
	}
	const n = 300
	for i := 0; i < n; i++ {
		nc.Publish("jobs", []byte("x"))
	}
	nc.Flush()
	eventually(t, "all jobs delivered", func() bool {
		return counts[0].Load()+counts[1].Load()+counts[2].Load() == n
	})
	time.Sleep(50 * time.Millisecond) // any duplicate would show up now
	total := counts[0].Load() + counts[1].Load() + counts[2].Load()
	if total != n {
		t.Fatalf("delivered %d, want exactly %d", total, n)
	}
	for i := range counts {
		if counts[i].Load() == 0 {
			t.Errorf("member %d got nothing", i)
		}
	}
}

func TestNatsRequestReply(t *testing.T) {
	s := startServer(t, nil)
	srv := connect(t, s)
	srv.Subscribe("svc.echo", func(m *nats.Msg) { m.Respond(append([]byte("re:"), m.Data...)) })
	srv.Flush()
	for _, style := range []struct {
		name string
		opt  nats.Option
	}{{"new", func(*nats.Options) error { return nil }}, {"old", nats.UseOldRequestStyle()}} {
		t.Run(style.name, func(t *testing.T) {
			nc := connect(t, s, style.opt)
			for i := 0; i < 20; i++ {
				m, err := nc.Request("svc.echo", []byte(fmt.Sprint(i)), 2*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if string(m.Data) != fmt.Sprintf("re:%d", i) {
					t.Fatalf("reply %q", m.Data)
				}
			}
		})
	}
}

func TestNatsNoResponders(t *testing.T) {
	s := startServer(t, nil)
	nc := connect(t, s)
	start := time.Now()
	_, err := nc.Request("nobody.home", nil, 2*time.Second)
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("err = %v, want ErrNoResponders", err)
	}
	if time.Since(start) > time.Second {
		t.Fatalf("no-responders took %v; it should be immediate", time.Since(start))
	}
	old := connect(t, s, nats.UseOldRequestStyle())
	if _, err := old.Request("nobody.home", nil, 2*time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("old style err = %v, want ErrNoResponders", err)
	}
}

func TestNatsHeaders(t *testing.T) {
	s := startServer(t, nil)
	nc := connect(t, s)
	sub, _ := nc.SubscribeSync("h")
	m := nats.NewMsg("h")
	m.Header.Set("Trace-Id", "abc")
	m.Header.Add("Multi", "1")
	m.Header.Add("Multi", "2")
	m.Data = []byte("body")
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	got := nextMsg(t, sub)
	if got.Header.Get("Trace-Id") != "abc" || len(got.Header.Values("Multi")) != 2 || string(got.Data) != "body" {
		t.Fatalf("got header %v data %q", got.Header, got.Data)
	}
}

func TestNatsAutoUnsubscribe(t *testing.T) {
	s := startServer(t, nil)
	nc := connect(t, s)
	sub, _ := nc.SubscribeSync("au")
	sub.AutoUnsubscribe(3)
	for i := 0; i < 10; i++ {
		nc.Publish("au", []byte("x"))
	}
	nc.Flush()
	for i := 0; i < 3; i++ {
		nextMsg(t, sub)
	}
	if _, err := sub.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatal("got a 4th message after AutoUnsubscribe(3)")
	}
	eventually(t, "server-side sub removed", func() bool { return s.NumSubscriptions() == 0 })
}

func TestNatsDrain(t *testing.T) {
	s := startServer(t, nil)
	nc := connect(t, s)
	var got atomic.Int64
	nc.Subscribe("d", func(*nats.Msg) { time.Sleep(time.Millisecond); got.Add(1) })
	nc.Flush() // the SUB is in before anything is published
	pub := connect(t, s)
	for i := 0; i < 50; i++ {
		pub.Publish("d", nil)
	}
	pub.Flush()
	nc.Flush()
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("drain did not finish")
	}
	if got.Load() != 50 {
		t.Fatalf("handled %d of 50 before drain finished", got.Load())
	}
}

func TestNatsReconnectAfterRestart(t *testing.T) {
	s1 := startServer(t, nil)
	port := s1.Addr().(*net.TCPAddr).Port
	reconnected := make(chan struct{}, 1)
	nc := connect(t, s1, nats.ReconnectWait(50*time.Millisecond), nats.MaxReconnects(-1),
		nats.ReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} }))
	sub, _ := nc.SubscribeSync("after")
	nc.Flush()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s1.Shutdown(ctx)
	s2 := startServer(t, func(o *Options) { o.Port = port })
	select {
	case <-reconnected:
	case <-time.After(5 * time.Second):
		t.Fatal("client did not reconnect")
	}
	// The client re-sends its subscriptions on reconnect.
	if err := nc.Publish("after", []byte("back")); err != nil {
		t.Fatal(err)
	}
	if m := nextMsg(t, sub); string(m.Data) != "back" {
		t.Fatalf("got %q", m.Data)
	}
	if nc.ConnectedServerId() != s2.ID() {
		t.Fatal("not connected to the new server")
	}
}

func TestNatsManySubscriptions(t *testing.T) {
	s := startServer(t, nil)
	nc := connect(t, s)
	const n = 10000
	subs := make([]*nats.Subscription, n)
	for i := range subs {
		var err error
		if subs[i], err = nc.SubscribeSync(fmt.Sprintf("many.%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := s.NumSubscriptions(); got != n {
		t.Fatalf("server holds %d subscriptions, want %d", got, n)
	}
	for _, i := range []int{0, 4567, n - 1} {
		nc.Publish(fmt.Sprintf("many.%d", i), []byte("x"))
		if m := nextMsg(t, subs[i]); m.Subject != fmt.Sprintf("many.%d", i) {
			t.Fatalf("wrong subject %q", m.Subject)
		}
	}
}

func TestNatsFanOutAndOrdering(t *testing.T) {
	s := startServer(t, nil)
	const subsN, msgs = 10, 1000
	var wg sync.WaitGroup
	errs := make(chan error, subsN)
	for i := 0; i < subsN; i++ {
		nc := connect(t, s)
		next := 0
		wg.Add(1)
		var once sync.Once
		nc.Subscribe("fan", func(m *nats.Msg) {
			if string(m.Data) != fmt.Sprint(next) {
				errs <- fmt.Errorf("out of order: got %q want %d", m.Data, next)
			}
			next++
			if next == msgs {
				once.Do(wg.Done)
			}
		})
		nc.Flush()
	}
	pub := connect(t, s)
	for i := 0; i < msgs; i++ {
		pub.Publish("fan", []byte(fmt.Sprint(i)))
	}
	pub.Flush()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case err := <-errs:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("fan-out incomplete")
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

func TestNatsLargePayload(t *testing.T) {
	s := startServer(t, nil)
	nc := connect(t, s)
	if nc.MaxPayload() != DefaultMaxPayload {
		t.Fatalf("client sees max payload %d", nc.MaxPayload())
	}
	sub, _ := nc.SubscribeSync("big")
	payload := bytes.Repeat([]byte("0123456789abcdef"), DefaultMaxPayload/16)
	if err := nc.Publish("big", payload); err != nil {
		t.Fatal(err)
	}
	if m := nextMsg(t, sub); !bytes.Equal(m.Data, payload) {
		t.Fatalf("1 MiB payload corrupted (len %d)", len(m.Data))
	}
	if err := nc.Publish("big", append(payload, 'x')); !errors.Is(err, nats.ErrMaxPayload) {
		t.Fatalf("oversized publish err = %v", err)
	}
}

func TestNatsUserPassword(t *testing.T) {
	s := startServer(t, func(o *Options) {
		o.Users = []User{{Username: "plain", Password: "pw"}, {Username: "hashed", Password: mustHash(t, "s3cret")}}
	})
	connect(t, s, nats.UserInfo("plain", "pw"))
	connect(t, s, nats.UserInfo("hashed", "s3cret"))
	if _, err := nats.Connect(s.ClientURL(), nats.UserInfo("hashed", "nope")); err == nil || !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("bad password err = %v", err)
	}
	if _, err := nats.Connect(s.ClientURL()); err == nil {
		t.Fatal("connected without credentials")
	}
}

// mustHash returns a bcrypt hash at the lowest cost, to keep tests quick.
func mustHash(t testing.TB, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

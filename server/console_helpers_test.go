package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"testing"
	"time"

	"github.com/wisp-mq/wisp/stream"
)

// consoleUsers is the cast of the console tests: alice operates account
// A, bob only looks at A, carol operates B, dave sees every account.
func consoleUsers(o *Options) {
	o.Accounts = []AccountConfig{
		{Name: "A", Users: []User{{Username: "alice", Password: "alice-pw"}, {Username: "bob", Password: "bob-pw"}}},
		{Name: "B", Users: []User{{Username: "carol", Password: "carol-pw"}, {Username: "dave", Password: "dave-pw"}}},
	}
	o.Console.Access = []ConsoleAccess{
		{User: "alice", Role: ConsoleOperator},
		{User: "carol", Role: ConsoleOperator},
		{User: "dave", Accounts: []string{"*"}},
	}
}

// startConsoleServer starts a monitored server with a real stream layer
// in the global account and in every configured account, its log kept.
func startConsoleServer(t *testing.T, edit func(*Options)) (*Server, *lockedBuffer) {
	t.Helper()
	o := &Options{Host: "127.0.0.1", Port: -1, HTTPPort: -1, JetStream: true}
	if edit != nil {
		edit(o)
	}
	var buf lockedBuffer
	s, err := New(o, slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	names := []string{""}
	for _, ac := range o.Accounts {
		names = append(names, ac.Name)
	}
	var layers []*stream.Service
	for _, name := range names {
		b, err := s.Account(name)
		if err != nil {
			t.Fatal(err)
		}
		opts := stream.Options{StoreDir: t.TempDir(), Account: name, ServerName: s.Name()}
		opts.OpenStore = stream.PebbleStores(opts)
		svc, err := stream.New(b, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close() })
		layers = append(layers, svc)
	}
	// Report the streams to monitoring as cmd/wisp does: named accounts'
	// streams as "account/stream".
	s.SetJetStreamReporter(func() (JetStreamReport, error) {
		var rep JetStreamReport
		for i, svc := range layers {
			consumers := map[string][]ConsumerReport{}
			for _, c := range svc.ConsumerStats() {
				consumers[c.Stream] = append(consumers[c.Stream], ConsumerReport{Name: c.Name, NumPending: c.NumPending, Delivered: c.Delivered.Consumer})
			}
			for _, st := range svc.Stats().Streams {
				name := st.Name
				if names[i] != "" {
					name = names[i] + "/" + name
				}
				rep.Streams = append(rep.Streams, StreamReport{Name: name, Subjects: st.Subjects, Messages: st.Messages,
					Bytes: st.Bytes, FirstSeq: st.FirstSeq, LastSeq: st.LastSeq, NumConsumers: st.Consumers, Consumers: consumers[st.Name]})
			}
		}
		return rep, nil
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, &buf
}

// consoleClient is a browser's view of the console API: a cookie jar and
// the CSRF token the session endpoint handed out.
type consoleClient struct {
	t      *testing.T
	base   string
	http   *http.Client
	csrf   string
	origin string // sent as Origin when set
}

func newConsoleClient(t *testing.T, s *Server) *consoleClient {
	jar, _ := cookiejar.New(nil)
	return &consoleClient{t: t, base: monURL(s, ""), http: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

// call sends a request and decodes the JSON answer into a map (nil for a
// body that is not an object); it returns the status.
func (c *consoleClient) call(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if c.csrf != "" {
		req.Header.Set(csrfHeader, c.csrf)
	}
	if c.origin != "" {
		req.Header.Set("Origin", c.origin)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// login logs in and keeps the CSRF token, failing the test on refusal.
func (c *consoleClient) login(user, password string) {
	c.t.Helper()
	status, out := c.call("POST", "/console/api/login", map[string]string{"user": user, "password": password})
	if status != http.StatusOK {
		c.t.Fatalf("login %s: %d %v", user, status, out)
	}
	c.csrf, _ = out["csrf"].(string)
	if c.csrf == "" {
		c.t.Fatalf("login %s: no csrf token in %v", user, out)
	}
}

// js makes a JetStream API request through the console.
func (c *consoleClient) js(account, api string, body any) (int, map[string]any) {
	c.t.Helper()
	call := map[string]any{"account": account, "api": api}
	if body != nil {
		call["body"] = body
	}
	return c.call("POST", "/console/api/js", call)
}

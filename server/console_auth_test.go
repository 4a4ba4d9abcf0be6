package server

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// stateChanging lists every console endpoint that changes state, with a
// body that an operator of account A could send.
var stateChanging = []struct {
	path string
	body any
}{
	{"/console/api/js", map[string]any{"account": "A", "api": "STREAM.CREATE.T", "body": map[string]any{"name": "T", "subjects": []string{"t.>"}}}},
	{"/console/api/publish", map[string]any{"account": "A", "subject": "x.y", "payload": "hi"}},
	{"/console/api/kick", map[string]any{"cid": 1}},
	{"/console/api/logout", nil},
}

// Every state-changing endpoint refuses a request without a session, with
// a missing or wrong CSRF token, or from another origin.
func TestConsoleRefusesWithoutSessionOrCSRF(t *testing.T) {
	s, log := startConsoleServer(t, consoleUsers)
	anon := newConsoleClient(t, s)
	if status, _ := anon.call("GET", "/console/api/session", nil); status != http.StatusUnauthorized {
		t.Fatalf("session without login: %d, want 401", status)
	}
	if status, _ := anon.call("GET", "/console/api/messages?account=A&stream=S", nil); status != http.StatusUnauthorized {
		t.Fatalf("messages without login: %d, want 401", status)
	}
	for _, ep := range stateChanging {
		if status, out := anon.call("POST", ep.path, ep.body); status != http.StatusUnauthorized {
			t.Errorf("%s without a session: %d %v, want 401", ep.path, status, out)
		}
	}

	alice := newConsoleClient(t, s)
	alice.login("alice", "alice-pw")
	good := alice.csrf
	for _, bad := range []string{"", "wrong", good[:len(good)-1]} {
		alice.csrf = bad
		for _, ep := range stateChanging {
			if status, out := alice.call("POST", ep.path, ep.body); status != http.StatusForbidden {
				t.Errorf("%s with CSRF token %q: %d %v, want 403", ep.path, bad, status, out)
			}
		}
	}
	alice.csrf, alice.origin = good, "http://evil.example"
	for _, ep := range stateChanging {
		if status, out := alice.call("POST", ep.path, ep.body); status != http.StatusForbidden {
			t.Errorf("%s from another origin: %d %v, want 403", ep.path, status, out)
		}
	}
	alice.origin = ""
	// Nothing above took effect: the stream does not exist.
	if status, out := alice.js("A", "STREAM.INFO.T", nil); status != http.StatusOK || out["error"] == nil {
		t.Errorf("stream T exists after refused requests: %d %v", status, out)
	}
	if !strings.Contains(log.String(), "CSRF") {
		t.Errorf("refused CSRF not logged:\n%s", log)
	}
}

// The session cookie is HttpOnly and SameSite=Strict, and a login answer
// never echoes the password.
func TestConsoleSessionCookie(t *testing.T) {
	s, _ := startConsoleServer(t, consoleUsers)
	resp, err := http.Post(monURL(s, "/console/api/login"), "application/json", strings.NewReader(`{"user":"bob","password":"bob-pw"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "bob-pw") {
		t.Errorf("login answer holds the password: %s", body)
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 || cookies[0].Name != sessionCookie {
		t.Fatalf("cookies: %v", cookies)
	}
	c := cookies[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure {
		t.Errorf("cookie attributes: HttpOnly=%v SameSite=%v Path=%q Secure=%v", c.HttpOnly, c.SameSite, c.Path, c.Secure)
	}
}

// A viewer may look but not act; an operator acts only in the accounts
// granted; every action is logged with the acting user.
func TestConsolePermissions(t *testing.T) {
	s, log := startConsoleServer(t, consoleUsers)
	nc := connect(t, s, nats.UserInfo("bob", "bob-pw"))
	var cid uint64
	for _, c := range s.Conns(false) {
		cid = c.CID
	}

	alice := newConsoleClient(t, s)
	alice.login("alice", "alice-pw")
	if status, out := alice.js("A", "STREAM.CREATE.ORDERS", map[string]any{"name": "ORDERS", "subjects": []string{"orders.>"}}); status != http.StatusOK || out["error"] != nil {
		t.Fatalf("alice creates a stream: %d %v", status, out)
	}

	bob := newConsoleClient(t, s)
	bob.login("bob", "bob-pw")
	if status, out := bob.js("A", "STREAM.INFO.ORDERS", nil); status != http.StatusOK || out["error"] != nil {
		t.Errorf("bob reads stream info: %d %v", status, out)
	}
	if status, out := bob.call("GET", "/console/api/messages?account=A&stream=ORDERS", nil); status != http.StatusOK {
		t.Errorf("bob browses messages: %d %v", status, out)
	}
	for _, ep := range stateChanging[:3] {
		body := ep.body
		if ep.path == "/console/api/kick" {
			body = map[string]any{"cid": cid}
		}
		if status, out := bob.call("POST", ep.path, body); status != http.StatusForbidden {
			t.Errorf("viewer bob: %s: %d %v, want 403", ep.path, status, out)
		}
	}
	for _, api := range []string{"STREAM.PURGE.ORDERS", "STREAM.DELETE.ORDERS", "STREAM.MSG.DELETE.ORDERS", "CONSUMER.DELETE.ORDERS.C"} {
		if status, out := bob.js("A", api, nil); status != http.StatusForbidden {
			t.Errorf("viewer bob: %s: %d %v, want 403", api, status, out)
		}
	}
	// Another account is out of bounds for bob (even to look) and for
	// alice (to act), but not for carol, who operates B.
	if status, _ := bob.js("B", "STREAM.NAMES", nil); status != http.StatusForbidden {
		t.Errorf("bob looks into B: %d, want 403", status)
	}
	if status, _ := alice.js("B", "STREAM.CREATE.X", map[string]any{"name": "X", "subjects": []string{"x"}}); status != http.StatusForbidden {
		t.Errorf("alice acts in B: %d, want 403", status)
	}
	carol := newConsoleClient(t, s)
	carol.login("carol", "carol-pw")
	if status, _ := carol.call("POST", "/console/api/kick", map[string]any{"cid": cid}); status != http.StatusForbidden {
		t.Errorf("carol (B) kicks a connection of A: %d, want 403", status)
	}
	if status, out := carol.js("B", "STREAM.CREATE.X", map[string]any{"name": "X", "subjects": []string{"x"}}); status != http.StatusOK || out["error"] != nil {
		t.Errorf("carol creates a stream in B: %d %v", status, out)
	}
	// dave sees every account but acts in none.
	dave := newConsoleClient(t, s)
	dave.login("dave", "dave-pw")
	if status, out := dave.js("A", "STREAM.INFO.ORDERS", nil); status != http.StatusOK || out["error"] != nil {
		t.Errorf("dave reads A: %d %v", status, out)
	}
	if status, _ := dave.js("A", "STREAM.PURGE.ORDERS", nil); status != http.StatusForbidden {
		t.Errorf("dave purges in A: %d, want 403", status)
	}

	// alice kicks bob's connection: the client sees it close.
	closed := make(chan struct{})
	nc.SetDisconnectErrHandler(func(*nats.Conn, error) { close(closed) })
	if status, out := alice.call("POST", "/console/api/kick", map[string]any{"cid": cid}); status != http.StatusOK {
		t.Fatalf("alice kicks: %d %v", status, out)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the kicked connection did not close")
	}
	text := log.String()
	for _, want := range []string{
		`msg="console: jetstream api" user=alice account=A`,
		`subject=$JS.API.STREAM.CREATE.ORDERS`,
		`msg="console: close connection" user=alice account=A`,
		`msg="console: jetstream api" user=carol account=B`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("log lacks %q:\n%s", want, text)
		}
	}
}

// A user's own NATS permissions bound what they may do as an operator in
// their own account.
func TestConsoleOperatorKeepsNATSPermissions(t *testing.T) {
	s, _ := startConsoleServer(t, func(o *Options) {
		consoleUsers(o)
		o.Accounts[0].Users[0].Permissions = &Permissions{Publish: SubjectPermission{Deny: []string{"$JS.API.STREAM.DELETE.>", "secret.>"}}}
	})
	alice := newConsoleClient(t, s)
	alice.login("alice", "alice-pw")
	if status, _ := alice.js("A", "STREAM.DELETE.ANY", nil); status != http.StatusForbidden {
		t.Errorf("delete denied by alice's permissions: %d, want 403", status)
	}
	if status, _ := alice.call("POST", "/console/api/publish", map[string]any{"account": "A", "subject": "secret.x", "payload": "p"}); status != http.StatusForbidden {
		t.Errorf("publish denied by alice's permissions: %d, want 403", status)
	}
	if status, out := alice.call("POST", "/console/api/publish", map[string]any{"account": "A", "subject": "open.x", "payload": "p"}); status != http.StatusOK {
		t.Errorf("allowed publish: %d %v", status, out)
	}
}

// Failed logins are logged, and after a few the address must wait (429,
// Retry-After) even with the right password.
func TestConsoleLoginThrottled(t *testing.T) {
	s, log := startConsoleServer(t, consoleUsers)
	c := newConsoleClient(t, s)
	for i := 0; i < loginFreeFailures-1; i++ {
		if status, _ := c.call("POST", "/console/api/login", map[string]string{"user": "alice", "password": "guess"}); status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, status)
		}
	}
	if status, _ := c.call("POST", "/console/api/login", map[string]string{"user": "alice", "password": "guess"}); status != http.StatusTooManyRequests {
		t.Fatalf("failure %d: %d, want 429", loginFreeFailures, status)
	}
	status, out := c.call("POST", "/console/api/login", map[string]string{"user": "alice", "password": "alice-pw"})
	if status != http.StatusTooManyRequests {
		t.Fatalf("right password while throttled: %d %v, want 429", status, out)
	}
	text := log.String()
	if n := strings.Count(text, `msg="console: login failed" user=alice client=127.0.0.1`); n != loginFreeFailures {
		t.Errorf("%d failed logins logged, want %d:\n%s", n, loginFreeFailures, text)
	}
	if !strings.Contains(text, "too many failures") {
		t.Errorf("throttled attempt not logged:\n%s", text)
	}
}

// The throttle's wait doubles after the free failures, is capped, and a
// success forgets the address.
func TestLoginThrottleBackoff(t *testing.T) {
	now := time.Unix(1000, 0)
	th := newLoginThrottle()
	th.now = func() time.Time { return now }
	for i := 1; i < loginFreeFailures; i++ {
		if w := th.failed("h"); w != 0 {
			t.Fatalf("failure %d waits %v", i, w)
		}
	}
	want := time.Second
	for i := 0; i < 12; i++ {
		if w := th.failed("h"); w != min(want, loginMaxWait) {
			t.Fatalf("failure %d waits %v, want %v", loginFreeFailures+i, w, min(want, loginMaxWait))
		}
		want *= 2
	}
	if th.wait("other") != 0 {
		t.Fatal("another address waits")
	}
	now = now.Add(loginMaxWait)
	if w := th.wait("h"); w != 0 {
		t.Fatalf("still waiting %v after the cap", w)
	}
	th.succeeded("h")
	if w := th.failed("h"); w != 0 {
		t.Fatalf("a success did not forget: waits %v", w)
	}
}

// Without users the console is open: a session comes without a login and
// may act, but its POSTs still need the CSRF token.
func TestConsoleOpenWithoutUsers(t *testing.T) {
	s, log := startConsoleServer(t, nil)
	c := newConsoleClient(t, s)
	status, out := c.call("GET", "/console/api/session", nil)
	if status != http.StatusOK || out["role"] != string(ConsoleOperator) || out["login_required"] != false {
		t.Fatalf("open session: %d %v", status, out)
	}
	if status, _ := c.call("POST", "/console/api/publish", map[string]any{"subject": "a", "payload": "p"}); status != http.StatusForbidden {
		t.Errorf("publish without CSRF on an open console: %d, want 403", status)
	}
	c.csrf = out["csrf"].(string)
	if status, out := c.call("POST", "/console/api/publish", map[string]any{"subject": "a", "payload": "p"}); status != http.StatusOK {
		t.Errorf("publish on an open console: %d %v", status, out)
	}
	if status, _ := c.call("POST", "/console/api/login", map[string]string{"user": "x", "password": "y"}); status != http.StatusBadRequest {
		t.Errorf("login on an open console: %d, want 400", status)
	}
	if strings.Contains(log.String(), "no login and listens beyond") {
		t.Errorf("warned about an open console on loopback:\n%s", log)
	}
}

// An open console listening beyond loopback is warned about.
func TestConsoleOpenWarning(t *testing.T) {
	var buf lockedBuffer
	s, err := New(&Options{Host: "127.0.0.1", HTTPHost: "0.0.0.0", HTTPPort: -1}, slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.warnOpenConsole() // as Start does, without listening on every address
	if !strings.Contains(buf.String(), "no login and listens beyond this machine") {
		t.Errorf("no warning:\n%s", buf.String())
	}
	for host, want := range map[string]bool{"127.0.0.1": true, "::1": true, "localhost": true, "0.0.0.0": false, "10.1.2.3": false, "": false} {
		if isLoopback(host) != want {
			t.Errorf("isLoopback(%q) = %v", host, !want)
		}
	}
}

// A token server's console takes the token as the password, read-only.
func TestConsoleTokenLogin(t *testing.T) {
	s, _ := startConsoleServer(t, func(o *Options) { o.AuthToken = "s3cret" })
	c := newConsoleClient(t, s)
	c.login("", "s3cret")
	if status, _ := c.call("POST", "/console/api/publish", map[string]any{"subject": "a", "payload": "p"}); status != http.StatusForbidden {
		t.Errorf("token session publishes: %d, want 403", status)
	}
}

// A reload that removes a user ends their sessions.
func TestConsoleSessionEndsWhenUserRemoved(t *testing.T) {
	s, _ := startConsoleServer(t, consoleUsers)
	bob := newConsoleClient(t, s)
	bob.login("bob", "bob-pw")
	o := s.Options()
	o.Accounts = []AccountConfig{
		{Name: "A", Users: []User{{Username: "alice", Password: "alice-pw"}}},
		{Name: "B", Users: []User{{Username: "carol", Password: "carol-pw"}, {Username: "dave", Password: "dave-pw"}}},
	}
	if err := s.Reload(&o); err != nil {
		t.Fatal(err)
	}
	if status, _ := bob.call("GET", "/console/api/session", nil); status != http.StatusUnauthorized {
		t.Errorf("removed user's session: %d, want 401", status)
	}
}

// [http.tls] serves the console over HTTPS, with Secure cookies.
func TestConsoleOverTLS(t *testing.T) {
	p := newTestPKI(t)
	s, _ := startConsoleServer(t, func(o *Options) {
		consoleUsers(o)
		o.HTTPTLS = &TLSOptions{CertFile: p.serverCert, KeyFile: p.serverKey}
	})
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: p.clientTLS(false)}}
	base := "https://" + s.MonitorAddr().String()
	resp, err := hc.Post(base+"/console/api/login", "application/json", strings.NewReader(`{"user":"alice","password":"alice-pw"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 1 || !resp.Cookies()[0].Secure {
		t.Fatalf("login over TLS: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	if resp, err := http.Get("http://" + s.MonitorAddr().String() + "/varz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP on the TLS port: %d, want 400", resp.StatusCode)
		}
	}
	resp, err = hc.Get(base + "/varz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /varz over TLS: %v %v", err, resp)
	}
	resp.Body.Close()
}

// No monitoring or console answer holds a password or the token.
func TestConsoleNoSecretsLeak(t *testing.T) {
	s, _ := startConsoleServer(t, func(o *Options) {
		consoleUsers(o)
	})
	connect(t, s, nats.UserInfo("alice", "alice-pw"))
	c := newConsoleClient(t, s)
	c.login("dave", "dave-pw")
	for _, path := range []string{"/varz", "/connz?auth=1&subs=1", "/subsz?subs=1", "/jsz", "/healthz", "/metrics", "/console/api/session"} {
		resp, err := c.http.Get(monURL(s, path))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, secret := range []string{"alice-pw", "bob-pw", "carol-pw", "dave-pw"} {
			if strings.Contains(string(body), secret) {
				t.Errorf("%s shows %q", path, secret)
			}
		}
	}
}

// A reload changes console grants at once, for sessions already open;
// http.tls needs a restart.
func TestConsoleReload(t *testing.T) {
	s, _ := startConsoleServer(t, consoleUsers)
	bob := newConsoleClient(t, s)
	bob.login("bob", "bob-pw")
	publish := map[string]any{"account": "A", "subject": "a", "payload": "p"}
	if status, _ := bob.call("POST", "/console/api/publish", publish); status != http.StatusForbidden {
		t.Fatalf("viewer bob publishes: %d", status)
	}
	o := s.Options()
	o.Console.Access = append(o.Console.Access, ConsoleAccess{User: "bob", Role: ConsoleOperator})
	if err := s.Reload(&o); err != nil {
		t.Fatal(err)
	}
	if status, out := bob.call("POST", "/console/api/publish", publish); status != http.StatusOK {
		t.Fatalf("bob, made an operator by a reload: %d %v", status, out)
	}
	o.HTTPTLS = &TLSOptions{CertFile: "c.pem", KeyFile: "k.pem"}
	if err := s.Reload(&o); !errors.Is(err, ErrNotReloadable) || !strings.Contains(err.Error(), "http.tls") {
		t.Fatalf("reload adding http.tls: %v", err)
	}
}

// An open console answers its API only to requests addressed by IP or
// localhost: a rebound host name gets no session and can act on nothing.
func TestConsoleOpenRefusesHostNames(t *testing.T) {
	s, _ := startConsoleServer(t, nil)
	c := newConsoleClient(t, s)
	status, out := c.call("GET", "/console/api/session", nil)
	if status != http.StatusOK {
		t.Fatalf("session by IP: %d %v", status, out)
	}
	c.csrf = out["csrf"].(string)
	for _, path := range []string{"/console/api/session", "/console/api/publish"} {
		method := "GET"
		if path == "/console/api/publish" {
			method = "POST"
		}
		req, _ := http.NewRequest(method, monURL(s, path), strings.NewReader(`{"subject":"a","payload":"p"}`))
		req.Host = "evil.example:" + strings.Split(s.MonitorAddr().String(), ":")[1]
		req.Header.Set(csrfHeader, c.csrf)
		u, _ := url.Parse(monURL(s, "/"))
		for _, ck := range c.http.Jar.Cookies(u) { // the jar would file them under the host name
			req.AddCookie(ck)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s by host name: %d, want 403", method, path, resp.StatusCode)
		}
	}
	for _, host := range []string{"localhost:8222", "127.0.0.1", "[::1]:8222", "10.0.0.1:80"} {
		if !addressedDirectly(&http.Request{Host: host}) {
			t.Errorf("%s refused", host)
		}
	}
}

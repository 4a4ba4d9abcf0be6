package server

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// clientID is what a test client certificate says about its holder.
type clientID struct {
	file    string // base name of the PEM files
	subject pkix.Name
	emails  []string
	dns     []string
	uris    []string
}

var certSerial atomic.Int64

// issue signs a client certificate for id with the test CA and writes it
// and its key to the test's directory; it returns the two file names.
func (p *testPKI) issue(t testing.TB, id clientID) (certFile, keyFile string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(100 + certSerial.Add(1)),
		Subject:        id.subject,
		NotBefore:      time.Now().Add(-time.Hour),
		NotAfter:       time.Now().Add(time.Hour),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		EmailAddresses: id.emails,
		DNSNames:       id.dns,
	}
	for _, u := range id.uris {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return p.write(t, id.file+".pem", "CERTIFICATE", der), p.write(t, id.file+"-key.pem", "EC PRIVATE KEY", keyDER)
}

// certConnect connects nats.go with a client certificate, trusting the
// test CA.
func (p *testPKI) certConnect(t testing.TB, s *Server, certFile, keyFile string, opts ...nats.Option) (*nats.Conn, error) {
	t.Helper()
	opts = append([]nats.Option{
		nats.Timeout(2 * time.Second), nats.NoReconnect(),
		nats.RootCAs(p.caFile), nats.ClientCert(certFile, keyFile),
	}, opts...)
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err == nil {
		t.Cleanup(nc.Close)
	}
	return nc, err
}

// tlsRaw opens a TLS connection the usual way (plain INFO first) and
// returns a raw client over it, the INFO line read.
func (p *testPKI) tlsRaw(t testing.TB, s *Server, certFile, keyFile string) *rawClient {
	t.Helper()
	c := dialRaw(t, s)
	cfg := &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12, ServerName: "127.0.0.1"}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	tc := tls.Client(c.nc, cfg)
	tc.SetDeadline(time.Now().Add(3 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	tc.SetDeadline(time.Time{})
	return &rawClient{t: t, nc: tc, br: bufio.NewReader(tc)}
}

// mapServer starts a server that maps client certificates to users.
func mapServer(t testing.TB, pki *testPKI, edit func(*Options)) *Server {
	return startServer(t, func(o *Options) {
		o.TLS = &TLSOptions{CertFile: pki.serverCert, KeyFile: pki.serverKey, CAFile: pki.caFile, VerifyAndMap: true, Timeout: 10 * time.Second}
		edit(o)
	})
}

// publishDenied publishes subject on nc and reports whether the server
// answered with a permissions violation.
func publishDenied(t testing.TB, nc *nats.Conn, errs chan error, subject string) bool {
	t.Helper()
	if err := nc.Publish(subject, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), subject) {
			t.Fatalf("async error %v", err)
		}
		return true
	case <-time.After(300 * time.Millisecond):
		return false
	}
}

func TestTLSMapIdentities(t *testing.T) {
	pki := newTestPKI(t)
	pub := func(allow string) *Permissions {
		return &Permissions{Publish: SubjectPermission{Allow: []string{allow}}}
	}
	s := mapServer(t, pki, func(o *Options) {
		o.Users = []User{
			{Username: "alice@example.com", Permissions: pub("alice.>")},
			{Username: "svc.example.com", Permissions: pub("svc.>")},
			{Username: "spiffe://example.com/worker", Permissions: pub("worker.>")},
			{Username: "CN=carol,OU=eng,O=Acme", Permissions: pub("carol.>")},
			{Username: "O=Acme, OU=ops, CN=dan", Permissions: pub("dan.>")}, // other order, spaces
			{Username: "CN=erin,O=Acme", Permissions: pub("erin.>")},
		}
	})
	tests := []struct {
		id    clientID
		user  string
		allow string
	}{
		// An email SAN comes before a DNS SAN that names a user too.
		{clientID{file: "alice", subject: pkix.Name{CommonName: "svc.example.com"}, emails: []string{"nobody@example.com", "alice@example.com"}, dns: []string{"svc.example.com"}},
			"alice@example.com", "alice.x"},
		{clientID{file: "svc", subject: pkix.Name{CommonName: "svc"}, dns: []string{"localhost", "svc.example.com"}},
			"svc.example.com", "svc.x"},
		{clientID{file: "worker", subject: pkix.Name{CommonName: "worker"}, uris: []string{"spiffe://example.com/worker"}},
			"spiffe://example.com/worker", "worker.x"},
		{clientID{file: "carol", subject: pkix.Name{CommonName: "carol", OrganizationalUnit: []string{"eng"}, Organization: []string{"Acme"}}},
			"CN=carol,OU=eng,O=Acme", "carol.x"},
		{clientID{file: "dan", subject: pkix.Name{CommonName: "dan", OrganizationalUnit: []string{"ops"}, Organization: []string{"Acme"}}},
			"O=Acme, OU=ops, CN=dan", "dan.x"},
		// An emailAddress attribute keeps the subject from being compared as
		// a DN; its string form, which leaves it out, matches.
		{clientID{file: "erin", subject: pkix.Name{CommonName: "erin", Organization: []string{"Acme"},
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, Value: "erin@acme.example"}}}},
			"CN=erin,O=Acme", "erin.x"},
	}
	for _, tt := range tests {
		t.Run(tt.id.file, func(t *testing.T) {
			cf, kf := pki.issue(t, tt.id)
			errs := make(chan error, 8)
			nc, err := pki.certConnect(t, s, cf, kf, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			sub, err := nc.SubscribeSync(tt.allow)
			if err != nil {
				t.Fatal(err)
			}
			if publishDenied(t, nc, errs, tt.allow) {
				t.Fatalf("%s may not publish to %s", tt.user, tt.allow)
			}
			nextMsg(t, sub)
			// Everyone else's subjects are refused: the user's own
			// permissions apply.
			if !publishDenied(t, nc, errs, "other.x") {
				t.Fatalf("%s published outside its permissions", tt.user)
			}
			if got := sessionUser(t, s, tt.user); got != GlobalAccount {
				t.Fatalf("user %q in account %q", tt.user, got)
			}
		})
	}
}

// sessionUser waits for a connection authenticated as user and returns its
// account's name.
func sessionUser(t testing.TB, s *Server, user string) string {
	t.Helper()
	var acc string
	eventually(t, "a connection of "+user, func() bool {
		for _, c := range s.connList() {
			c.infoMu.Lock()
			u, a, ok := c.user, c.acc.name, c.connected
			c.infoMu.Unlock()
			if ok && u == user {
				acc = a
				return true
			}
		}
		return false
	})
	return acc
}

func TestTLSMapRejects(t *testing.T) {
	pki := newTestPKI(t)
	s := mapServer(t, pki, func(o *Options) {
		o.Users = []User{{Username: "alice@example.com"}, {Username: "CN=carol,O=Acme"}}
	})
	c := dialNoInfo(t, s)
	if line := c.readLine(); !strings.Contains(line, `"tls_verify":true`) || !strings.Contains(line, `"auth_required":true`) {
		t.Fatalf("INFO %q", line)
	}

	// A certificate that names no user; its CN alone is not enough, and
	// neither is a user name in CONNECT.
	cf, kf := pki.issue(t, clientID{file: "mallory", subject: pkix.Name{CommonName: "CN=carol,O=Acme", Organization: []string{"Evil"}},
		emails: []string{"mallory@example.com"}, dns: []string{"carol"}})
	before := s.stats.authFailures.Load()
	rc := pki.tlsRaw(t, s, cf, kf)
	rc.send("CONNECT {\"verbose\":false,\"user\":\"alice@example.com\"}\r\nPING\r\n")
	rc.expect("-ERR 'Authorization Violation'")
	rc.expectClosed()
	if got := s.stats.authFailures.Load() - before; got != 1 {
		t.Fatalf("auth failures counted %d, want 1", got)
	}
	if nc, err := pki.certConnect(t, s, cf, kf); err == nil {
		nc.Close()
		t.Fatal("unmapped certificate connected")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("unmapped certificate: %v, want authorization violation", err)
	}

	// Without a certificate the handshake fails.
	nc, err := nats.Connect(s.ClientURL(), nats.RootCAs(pki.caFile), nats.Timeout(2*time.Second), nats.NoReconnect(),
		nats.UserInfo("alice@example.com", ""))
	if err == nil {
		nc.Close()
		t.Fatal("client without a certificate connected")
	}
	// Nor does a certificate from another CA get in.
	other := newTestPKI(t)
	ocf, okf := other.issue(t, clientID{file: "alice", emails: []string{"alice@example.com"}})
	if nc, err := pki.certConnect(t, s, ocf, okf); err == nil {
		nc.Close()
		t.Fatal("certificate from another CA connected")
	}
	eventually(t, "no connections left", func() bool { return s.NumConnections() == 0 })
}

// A mapped user that has a password needs it as well, as in nats-server.
func TestTLSMapUserWithPassword(t *testing.T) {
	pki := newTestPKI(t)
	s := mapServer(t, pki, func(o *Options) {
		o.Users = []User{{Username: "ops@example.com", Password: "s3cret"}}
	})
	cf, kf := pki.issue(t, clientID{file: "ops", emails: []string{"ops@example.com"}})
	if nc, err := pki.certConnect(t, s, cf, kf); err == nil {
		nc.Close()
		t.Fatal("connected without the password")
	}
	if _, err := pki.certConnect(t, s, cf, kf, nats.UserInfo("anyone", "s3cret")); err != nil {
		t.Fatalf("certificate and password: %v", err)
	}
	sessionUser(t, s, "ops@example.com")
}

func TestTLSMapAccounts(t *testing.T) {
	pki := newTestPKI(t)
	s := mapServer(t, pki, func(o *Options) {
		o.Users = []User{{Username: "global.example.com"}}
		o.Accounts = []AccountConfig{{Name: "A", Users: []User{
			{Username: "CN=a1,O=Acme"},
			{Username: "a2@example.com", Permissions: &Permissions{Subscribe: SubjectPermission{Allow: []string{"jobs.>"}}}},
		}}}
	})
	connectAs := func(id clientID) *nats.Conn {
		cf, kf := pki.issue(t, id)
		nc, err := pki.certConnect(t, s, cf, kf)
		if err != nil {
			t.Fatalf("%s: %v", id.file, err)
		}
		return nc
	}
	a1 := connectAs(clientID{file: "a1", subject: pkix.Name{CommonName: "a1", Organization: []string{"Acme"}}})
	a2 := connectAs(clientID{file: "a2", emails: []string{"a2@example.com"}})
	g := connectAs(clientID{file: "g", dns: []string{"global.example.com"}})
	if acc := sessionUser(t, s, "CN=a1,O=Acme"); acc != "A" {
		t.Fatalf("a1 in %q", acc)
	}
	if acc := sessionUser(t, s, "a2@example.com"); acc != "A" {
		t.Fatalf("a2 in %q", acc)
	}
	sub, _ := a2.SubscribeSync("jobs.x")
	gsub, _ := g.SubscribeSync("jobs.x")
	a2.Flush()
	g.Flush()
	g.Publish("jobs.x", []byte("global"))
	a1.Publish("jobs.x", []byte("in A"))
	g.Flush()
	a1.Flush()
	if m := nextMsg(t, sub); string(m.Data) != "in A" {
		t.Fatalf("a2 got %q", m.Data)
	}
	if m := nextMsg(t, gsub); string(m.Data) != "global" {
		t.Fatalf("global got %q", m.Data)
	}
	if m, err := sub.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("message crossed accounts: %q", m.Data)
	}
	if m, err := gsub.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("message crossed accounts: %q", m.Data)
	}
}

func TestTLSMapReload(t *testing.T) {
	pki := newTestPKI(t)
	s := mapServer(t, pki, func(o *Options) {
		o.Users = []User{{Username: "keep@example.com"}, {Username: "gone@example.com"}, {Username: "CN=moved"}}
		o.Accounts = []AccountConfig{{Name: "A"}}
	})
	kcf, kkf := pki.issue(t, clientID{file: "keep", emails: []string{"keep@example.com"}})
	gcf, gkf := pki.issue(t, clientID{file: "gone", emails: []string{"gone@example.com"}})
	mcf, mkf := pki.issue(t, clientID{file: "moved", subject: pkix.Name{CommonName: "moved"}})
	keep, err := pki.certConnect(t, s, kcf, kkf)
	if err != nil {
		t.Fatal(err)
	}
	gone := pki.tlsRaw(t, s, gcf, gkf)
	gone.send("CONNECT {\"verbose\":false}\r\nPING\r\n")
	gone.expect("PONG")
	moved := pki.tlsRaw(t, s, mcf, mkf)
	moved.send("CONNECT {\"verbose\":false}\r\nPING\r\n")
	moved.expect("PONG")

	err = s.Reload(reloadOpts(s, func(o *Options) {
		o.Users = []User{{Username: "keep@example.com"}}
		o.Accounts = []AccountConfig{{Name: "A", Users: []User{{Username: "CN=moved"}}}}
	}))
	if err != nil {
		t.Fatal(err)
	}
	gone.expect("-ERR 'Authorization Violation'")
	gone.expectClosed()
	moved.expect("-ERR 'Authorization Violation'")
	moved.expectClosed()
	if err := keep.Flush(); err != nil || !keep.IsConnected() {
		t.Fatalf("kept user lost its connection: %v", err)
	}
	// The moved user connects again, into its new account.
	if _, err := pki.certConnect(t, s, mcf, mkf); err != nil {
		t.Fatal(err)
	}
	if acc := sessionUser(t, s, "CN=moved"); acc != "A" {
		t.Fatalf("moved user in %q", acc)
	}
}

func TestTLSMapValidation(t *testing.T) {
	tls := func(o *Options) { o.TLS = &TLSOptions{CertFile: "s.pem", KeyFile: "k.pem", VerifyAndMap: true} }
	tests := []struct {
		edit func(*Options)
		want string
	}{
		{func(o *Options) { o.TLS = &TLSOptions{VerifyAndMap: true}; o.Users = []User{{Username: "u"}} },
			"tls.verify_and_map: needs TLS"},
		{tls, "tls.verify_and_map: there are no users"},
		{func(o *Options) { tls(o); o.AuthToken = "t" }, "tls.verify_and_map: maps certificates to the users"},
		{func(o *Options) { tls(o); o.Username, o.Password = "u", "p" }, "tls.verify_and_map: maps certificates to the users"},
		{func(o *Options) { o.Users = []User{{Username: "u"}} }, `users: user "u" has no password`},
		{func(o *Options) { o.Accounts = []AccountConfig{{Name: "A", Users: []User{{Username: "u"}}}} }, `accounts.A.users: user "u" has no password`},
		{func(o *Options) {
			o.TLS = &TLSOptions{CertFile: "s.pem", KeyFile: "k.pem", HandshakeFirstFallback: time.Second}
		}, "tls.handshake_first: a fallback delay needs handshake_first"},
		{func(o *Options) {
			o.TLS = &TLSOptions{CertFile: "s.pem", KeyFile: "k.pem", HandshakeFirst: true, HandshakeFirstFallback: -1}
		}, "tls.handshake_first: the fallback delay must not be negative"},
	}
	for i, tc := range tests {
		o := &Options{}
		tc.edit(o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%d: %v, want %q", i, err, tc.want)
		}
	}
	// Password-less users are fine with verify_and_map.
	o := &Options{Users: []User{{Username: "u"}}}
	tls(o)
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
}

// Without a fallback, a certificate-only user cannot log in by name: with
// plain TLS (verify only) such a user is a config error, and were it to
// exist it would not match an empty password.
func TestPasswordlessUserNeverMatchesByName(t *testing.T) {
	a := &authenticator{users: map[string]*userEntry{"u": {name: "u"}}}
	if _, ok := a.check(&connectOpts{User: "u"}, nil); ok {
		t.Fatal("password-less user authenticated by name")
	}
}

func TestParseDN(t *testing.T) {
	tests := []struct {
		in   string
		want distName
	}{
		{"CN=alice,OU=eng,O=Acme", distName{{{"CN", "alice"}}, {{"OU", "eng"}}, {{"O", "Acme"}}}},
		{" cn = a b , o=x\\,y", distName{{{"cn", "a b"}}, {{"o", "x,y"}}}},
		{"CN=a+UID=b,DC=c", distName{{{"CN", "a"}, {"UID", "b"}}, {{"DC", "c"}}}},
		{"CN=\\41\\ ", distName{{{"CN", "A "}}}},
		{"O=a=b", distName{{{"O", "a=b"}}}},
	}
	for _, tt := range tests {
		got, err := parseDN(tt.in)
		if err != nil || !got.equal(tt.want) || len(got) != len(tt.want) {
			t.Errorf("parseDN(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		for i := range got {
			for j := range got[i] {
				if got[i][j] != tt.want[i][j] {
					t.Errorf("parseDN(%q) = %q, want %q", tt.in, got, tt.want)
				}
			}
		}
	}
	for _, bad := range []string{"", "alice", "CN=a,", ",CN=a", "=a", "CN=#0403", "CN=a\\", "CN=\\4"} {
		if dn, err := parseDN(bad); err == nil {
			t.Errorf("parseDN(%q) = %v, want an error", bad, dn)
		}
	}
	a, _ := parseDN("CN=a,OU=b,O=c")
	b, _ := parseDN("o=c,cn=a,ou=b")
	if a.equal(b) || !a.sameRDNs(b) {
		t.Fatal("reordered DN: want sameRDNs only")
	}
	c, _ := parseDN("CN=A,OU=b,O=c")
	if a.sameRDNs(c) {
		t.Fatal("values must match exactly")
	}
}

// With handshake_first and a fallback, a TLS-first client and a client that
// waits for INFO both connect and talk to each other.
func TestTLSHandshakeFirstFallback(t *testing.T) {
	for _, fallback := range []time.Duration{DefaultHandshakeFirstFallback, 300 * time.Millisecond} {
		t.Run(fallback.String(), func(t *testing.T) {
			pki := newTestPKI(t)
			s := startServer(t, func(o *Options) {
				o.TLS = pki.serverTLS(false, true)
				o.TLS.HandshakeFirstFallback = fallback
			})
			first := connect(t, s, nats.Secure(pki.clientTLS(false)), nats.TLSHandshakeFirst())
			plain := connect(t, s, nats.Secure(pki.clientTLS(false)))
			for _, nc := range []*nats.Conn{first, plain} {
				if _, err := nc.TLSConnectionState(); err != nil {
					t.Fatalf("connection is not TLS: %v", err)
				}
			}
			sub, _ := first.SubscribeSync("hf.x")
			first.Flush()
			plain.Publish("hf.x", []byte("from plain"))
			plain.Flush()
			if m := nextMsg(t, sub); string(m.Data) != "from plain" {
				t.Fatalf("got %q", m.Data)
			}
			resp, _ := plain.SubscribeSync("hf.y")
			plain.Flush()
			first.Publish("hf.y", []byte("from first"))
			if m := nextMsg(t, resp); string(m.Data) != "from first" {
				t.Fatalf("got %q", m.Data)
			}

			// A silent client gets a plain-text INFO once the delay has
			// passed, not before.
			start := time.Now()
			c := dialNoInfo(t, s)
			line := c.readLine()
			if !strings.HasPrefix(line, "INFO {") || !strings.Contains(line, `"tls_required":true`) {
				t.Fatalf("first line %q", line)
			}
			if waited := time.Since(start); waited < fallback*3/4 {
				t.Fatalf("INFO after %v, before the %v fallback delay", waited, fallback)
			}
			// ... and is told to use TLS if it then speaks plain text.
			c.send("CONNECT {\"verbose\":false}\r\n")
			c.expect("-ERR 'Secure Connection - TLS Required'")
			c.expectClosed()
		})
	}
}

// With handshake_first = true (no fallback) a client that waits for INFO
// cannot connect, as before.
func TestTLSHandshakeFirstWithoutFallback(t *testing.T) {
	pki := newTestPKI(t)
	s := startServer(t, func(o *Options) {
		o.TLS = pki.serverTLS(false, true)
		o.TLS.Timeout = time.Second
	})
	connect(t, s, nats.Secure(pki.clientTLS(false)), nats.TLSHandshakeFirst())
	nc, err := nats.Connect(s.ClientURL(), nats.Secure(pki.clientTLS(false)), nats.Timeout(700*time.Millisecond), nats.NoReconnect())
	if err == nil {
		nc.Close()
		t.Fatal("a client waiting for INFO connected to a TLS-first server")
	}
	c := dialNoInfo(t, s)
	c.expectSilence(300 * time.Millisecond) // no INFO in plain text, ever
}

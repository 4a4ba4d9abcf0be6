package server

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, generated for one test and written to its temp dir as PEM.
type testPKI struct {
	dir                    string
	caFile                 string
	serverCert, serverKey  string
	clientCert, clientKey  string
	pool                   *x509.CertPool
	clientPair, serverPair tls.Certificate
	ca                     *x509.Certificate // signs more certificates (tls_map_test.go)
	caKey                  *ecdsa.PrivateKey
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "wisp test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p.ca, p.caKey = ca, caKey
	p.pool = x509.NewCertPool()
	p.pool.AddCert(ca)
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", caDER)

	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string, tls.Certificate) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
			DNSNames:     []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		cf := p.write(t, name+".pem", "CERTIFICATE", der)
		kf := p.write(t, name+"-key.pem", "EC PRIVATE KEY", keyDER)
		pair, err := tls.LoadX509KeyPair(cf, kf)
		if err != nil {
			t.Fatal(err)
		}
		return cf, kf, pair
	}
	p.serverCert, p.serverKey, p.serverPair = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey, p.clientPair = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return p
}

func (p *testPKI) write(t testing.TB, name, typ string, der []byte) string {
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (p *testPKI) serverTLS(verify, first bool) *TLSOptions {
	o := &TLSOptions{CertFile: p.serverCert, KeyFile: p.serverKey, Verify: verify, HandshakeFirst: first, Timeout: 10 * time.Second}
	if verify {
		o.CAFile = p.caFile
	}
	return o
}

// clientTLS is what a nats.go client configures: trust the test CA, and
// present the client certificate when withCert is set.
func (p *testPKI) clientTLS(withCert bool) *tls.Config {
	c := &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12}
	if withCert {
		c.Certificates = []tls.Certificate{p.clientPair}
	}
	return c
}

func TestTLSInfoAndNatsClient(t *testing.T) {
	pki := newTestPKI(t)
	s := startServer(t, func(o *Options) { o.TLS = pki.serverTLS(false, false) })

	// INFO is plain text and says TLS is required.
	c := dialNoInfo(t, s)
	line := c.readLine()
	var info map[string]any
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "INFO ")), &info); err != nil {
		t.Fatalf("INFO %q: %v", line, err)
	}
	if info["tls_required"] != true || info["tls_verify"] != nil {
		t.Fatalf("INFO %s: want tls_required and no tls_verify", line)
	}

	nc := connect(t, s, nats.Secure(pki.clientTLS(false)))
	sub, err := nc.SubscribeSync("tls.x")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("tls.x", []byte("secret")); err != nil {
		t.Fatal(err)
	}
	if m := nextMsg(t, sub); string(m.Data) != "secret" {
		t.Fatalf("got %q", m.Data)
	}
	if _, err := nc.TLSConnectionState(); err != nil {
		t.Fatalf("connection is not TLS: %v", err)
	}
	// A large message crosses several TLS records and writes.
	big := make([]byte, 512<<10)
	if err := nc.Publish("tls.x", big); err != nil {
		t.Fatal(err)
	}
	if m := nextMsg(t, sub); len(m.Data) != len(big) {
		t.Fatalf("got %d bytes", len(m.Data))
	}
}

func TestTLSPlainTextClientRejected(t *testing.T) {
	pki := newTestPKI(t)
	s := startServer(t, func(o *Options) { o.TLS = pki.serverTLS(false, false) })
	c := dialRaw(t, s)
	c.send("CONNECT {\"verbose\":false}\r\nPING\r\n")
	c.expect("-ERR 'Secure Connection - TLS Required'")
	c.expectClosed()

	// nats.go without TLS refuses on its own, seeing tls_required.
	if nc, err := nats.Connect(s.ClientURL(), nats.Timeout(2*time.Second), nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("plain nats.go client connected to a TLS server")
	}
}

func TestTLSHandshakeFirst(t *testing.T) {
	pki := newTestPKI(t)
	s := startServer(t, func(o *Options) { o.TLS = pki.serverTLS(false, true) })
	nc := connect(t, s, nats.Secure(pki.clientTLS(false)), nats.TLSHandshakeFirst())
	if _, err := nc.Request("nobody", nil, time.Second); err != nats.ErrNoResponders {
		t.Fatalf("request: %v, want ErrNoResponders", err)
	}

	// A raw TLS client sees INFO only after its handshake.
	tc, err := tls.Dial("tcp", s.Addr().String(), pki.clientTLS(false))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(tc).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "INFO {") || !strings.Contains(line, `"tls_required":true`) {
		t.Fatalf("first line over TLS %q, %v", line, err)
	}
}

func TestTLSVerifyClientCertificates(t *testing.T) {
	pki := newTestPKI(t)
	s := startServer(t, func(o *Options) { o.TLS = pki.serverTLS(true, false) })
	c := dialNoInfo(t, s)
	if line := c.readLine(); !strings.Contains(line, `"tls_verify":true`) {
		t.Fatalf("INFO %q lacks tls_verify", line)
	}
	nc := connect(t, s, nats.Secure(pki.clientTLS(true)))
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// Without a client certificate the handshake fails.
	nc2, err := nats.Connect(s.ClientURL(), nats.Secure(pki.clientTLS(false)), nats.Timeout(2*time.Second), nats.NoReconnect())
	if err == nil {
		nc2.Close()
		t.Fatal("client without a certificate connected")
	}
	eventually(t, "one connection left", func() bool { return s.NumConnections() == 1 })
}

func TestTLSMinimumVersion(t *testing.T) {
	pki := newTestPKI(t)
	s := startServer(t, func(o *Options) { o.TLS = pki.serverTLS(false, true) })
	cfg := pki.clientTLS(false)
	cfg.MaxVersion = tls.VersionTLS11
	cfg.MinVersion = tls.VersionTLS10
	d := &net.Dialer{Timeout: 2 * time.Second}
	if tc, err := tls.DialWithDialer(d, "tcp", s.Addr().String(), cfg); err == nil {
		tc.Close()
		t.Fatal("TLS 1.1 handshake succeeded")
	}
}

func TestTLSBadFiles(t *testing.T) {
	_, err := New(&Options{Port: -1, TLS: &TLSOptions{CertFile: "/nonexistent.pem", KeyFile: "/nonexistent-key.pem"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "cert_file") {
		t.Fatalf("New with missing cert: %v", err)
	}
	_, err = New(&Options{Port: -1, TLS: &TLSOptions{CertFile: "x.pem"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "key_file") {
		t.Fatalf("New with no key: %v", err)
	}
}

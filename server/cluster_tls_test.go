package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// routeCert issues a certificate for 127.0.0.1 usable both as a server and
// as a client, as a route's must be, and returns its PEM files.
func routeCert(t *testing.T, p *testPKI, name string, serial int64) (certFile, keyFile string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return p.write(t, name+".pem", "CERTIFICATE", der), p.write(t, name+"-key.pem", "EC PRIVATE KEY", keyDER)
}

// Routes over TLS carry the cluster as in plain text, and a route port
// with TLS refuses a server that speaks plain text or presents no
// certificate.
func TestClusterRoutesOverTLS(t *testing.T) {
	p := newTestPKI(t)
	cert, key := routeCert(t, p, "route", 10)
	servers := startTestCluster(t, 3, func(i int, o *Options) {
		o.Cluster.TLS = &TLSOptions{CertFile: cert, KeyFile: key, CAFile: p.caFile, Verify: true, Timeout: 10 * time.Second}
	})
	for _, s := range servers {
		for _, r := range s.cl.registered() {
			if _, ok := r.c.nc.(*tls.Conn); !ok {
				t.Fatalf("%s: a route is not TLS", s.Name())
			}
		}
	}
	checkPubSubEverywhere(t, servers)

	// Plain text at a TLS route port: no INFO ever comes back in clear.
	nc, err := net.Dial("tcp", servers[0].ClusterAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte(`CONNECT {"route":true,"cluster":"test"}` + "\r\n"))
	nc.SetReadDeadline(time.Now().Add(15 * time.Second))
	buf := make([]byte, 512)
	n, _ := nc.Read(buf)
	if strings.Contains(string(buf[:n]), "INFO") {
		t.Fatalf("a TLS route port answered plain text with %q", buf[:n])
	}

	// TLS without a client certificate is refused by verify.
	tc, err := tls.Dial("tcp", servers[0].ClusterAddr().String(), &tls.Config{RootCAs: p.pool})
	if err == nil {
		tc.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = tc.Read(buf)
		tc.Close()
	}
	if err == nil {
		t.Fatal("a route without a certificate was accepted")
	}
	if servers[0].NumRoutes() != 2 {
		t.Fatal("the real routes were affected")
	}
}

// A server whose route certificate the others do not trust never joins.
func TestClusterRouteTLSUntrusted(t *testing.T) {
	p := newTestPKI(t)
	other := newTestPKI(t) // a different CA
	cert, key := routeCert(t, p, "route", 10)
	badCert, badKey := routeCert(t, other, "route", 11)
	servers := startTestCluster(t, 1, func(i int, o *Options) {
		o.Cluster.TLS = &TLSOptions{CertFile: cert, KeyFile: key, CAFile: p.caFile, Verify: true}
	})
	stranger := startServer(t, func(o *Options) {
		o.ServerName = "stranger"
		o.Cluster = ClusterOptions{Name: "test", Host: "127.0.0.1", Port: -1, Routes: []string{"nats://" + servers[0].ClusterAddr().String()},
			TLS: &TLSOptions{CertFile: badCert, KeyFile: badKey, CAFile: other.caFile, Verify: true}}
	})
	time.Sleep(500 * time.Millisecond)
	if servers[0].NumRoutes() != 0 || stranger.NumRoutes() != 0 {
		t.Fatal("a server with an untrusted certificate joined")
	}
}

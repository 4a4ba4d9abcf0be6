package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
)

// TestMQTTTLS checks [mqtt.tls]: a client that trusts the certificate
// works over TLS, and a plain-text client gets nothing.
func TestMQTTTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	e := newMQTTEnv(t, func(c *conf.Config) {
		c.MQTT.TLS = &server.TLSOptions{CertFile: certFile, KeyFile: keyFile, Timeout: 500 * time.Millisecond}
	})
	var got received
	c := e.mqttClient("tls", func(o *paho.ClientOptions) {
		o.Servers = nil
		o.AddBroker("ssl://" + e.mqttAddr()).SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	})
	wait(t, c.Subscribe("secure/x", 1, got.handler))
	wait(t, c.Publish("secure/x", 1, false, "over tls"))
	if m := got.waitCount(t, 1)[0]; string(m.Payload()) != "over tls" {
		t.Fatalf("got %q", m.Payload())
	}
	r := e.rawDial()
	r.send(connectPacket("plain", true, 0, nil))
	r.waitClosed()
	// A client that never starts its handshake is closed after the TLS
	// timeout.
	e.rawDial().waitClosed()
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wisp-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/server"
)

// lockedBuffer collects what goroutines write, for reading from another.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServe runs serve as main does, logging into the returned buffer,
// and returns a function that stops it and returns serve's error.
func startServe(t *testing.T, cfg *conf.Config) (*lockedBuffer, func() error) {
	t.Helper()
	logs := new(lockedBuffer)
	log := slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, func() {}, cfg, log, new(slog.LevelVar), func() (*conf.Config, error) { return cfg, nil })
	}()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not return")
			return nil
		}
	}
	t.Cleanup(func() { cancel() })
	return logs, stop
}

// A port already taken stops the start with a message that names the port
// and the flag or config key that picks another, for each listener.
func TestPortInUseMessage(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		listener string
		set      func(o *server.Options)
		hint     string
	}{
		{"client", func(o *server.Options) { o.Port = port }, "-p/--port or port in the config file"},
		{"monitoring", func(o *server.Options) { o.HTTPPort = port }, "-m/--http_port or http_port in the config file"},
		{"profiling", func(o *server.Options) { o.ProfPort = port }, "--profile/--prof_port or prof_port in the config file"},
		{"route", func(o *server.Options) {
			o.Cluster = server.ClusterOptions{Name: "c", Host: "127.0.0.1", Port: port}
		}, "--cluster/--cluster_listen or cluster.port in the config file"},
		{"websocket", func(o *server.Options) {
			o.Websocket = server.WebsocketOptions{Host: "127.0.0.1", Port: port, NoTLS: true}
		}, "websocket.port in the config file"},
	} {
		t.Run(tc.listener, func(t *testing.T) {
			cfg := conf.DefaultConfig()
			cfg.Server = server.Options{Host: "127.0.0.1", Port: -1, HTTPHost: "127.0.0.1"}
			tc.set(&cfg.Server)
			done := make(chan error, 1)
			go func() {
				done <- serve(context.Background(), func() {}, cfg, slog.New(slog.DiscardHandler), new(slog.LevelVar), nil)
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("serve did not fail")
			}
			want := tc.listener + " port " + strconv.Itoa(port) + " is already in use"
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), tc.hint) {
				t.Errorf("error %v\nwant it to say %q and %q", err, want, tc.hint)
			}
		})
	}
}

// The start line tells a first-time user where everything is: the client
// URL, the console (with monitoring on) and the stream data directory
// (with streams on), besides the versions.
func TestStartupLogFields(t *testing.T) {
	cfg := conf.DefaultConfig()
	cfg.JetStream = true
	cfg.StoreDir = t.TempDir()
	cfg.Server = server.Options{Host: "127.0.0.1", Port: -1, HTTPHost: "127.0.0.1", HTTPPort: -1,
		Websocket: server.WebsocketOptions{Host: "127.0.0.1", Port: -1, NoTLS: true}}
	logs, stop := startServe(t, cfg)
	line := waitLogLine(t, logs, `msg="wisp started"`)
	for _, want := range []string{
		"nats_version=" + server.NATSVersion,
		"url=nats://127.0.0.1:",
		"websocket=ws://127.0.0.1:",
		"console=http://127.0.0.1:",
		"store_dir=" + cfg.StoreDir,
	} {
		if !strings.Contains(line, want) {
			t.Errorf("start line lacks %q: %s", want, line)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// Without monitoring, streams and WebSocket, none is mentioned.
	cfg = conf.DefaultConfig()
	cfg.Server = server.Options{Host: "127.0.0.1", Port: -1}
	logs, stop = startServe(t, cfg)
	line = waitLogLine(t, logs, `msg="wisp started"`)
	if strings.Contains(line, "console=") || strings.Contains(line, "store_dir=") || strings.Contains(line, "websocket=") {
		t.Errorf("start line without monitoring and streams: %s", line)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// waitLogLine waits for a log line containing what and returns it.
func waitLogLine(t *testing.T, logs *lockedBuffer, what string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, what) {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %s in:\n%s", what, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// With [http.tls] the start line gives the console's https:// URL.
func TestStartupLogHTTPSConsole(t *testing.T) {
	cert, key := selfSignedPair(t)
	cfg := conf.DefaultConfig()
	cfg.Server = server.Options{Host: "127.0.0.1", Port: -1, HTTPHost: "127.0.0.1", HTTPPort: -1,
		HTTPTLS: &server.TLSOptions{CertFile: cert, KeyFile: key}}
	logs, stop := startServe(t, cfg)
	if line := waitLogLine(t, logs, `msg="wisp started"`); !strings.Contains(line, "console=https://127.0.0.1:") {
		t.Errorf("start line lacks the https console URL: %s", line)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// selfSignedPair writes a certificate for 127.0.0.1 and its key as PEM.
func selfSignedPair(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "wisp test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return certFile, keyFile
}

// A max_file_store larger than the disk can hold is warned about at
// start: the disk's headroom, not the limit, would refuse first. A limit
// that fits says nothing.
func TestStartupWarnsLimitOverDisk(t *testing.T) {
	const warning = "max_file_store is more than the disk has room for"
	for _, tc := range []struct {
		name  string
		limit int64
		warn  bool
	}{
		{"over the disk", 1 << 60, true},
		{"fits", 1 << 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := conf.DefaultConfig()
			cfg.JetStream = true
			cfg.StoreDir = t.TempDir()
			cfg.MaxFileStore = tc.limit
			cfg.Server = server.Options{Host: "127.0.0.1", Port: -1}
			logs, stop := startServe(t, cfg)
			waitLogLine(t, logs, `msg="wisp started"`) // the check runs before
			if got := strings.Contains(logs.String(), warning); got != tc.warn {
				t.Errorf("warning logged %v, want %v:\n%s", got, tc.warn, logs.String())
			}
			if tc.warn && !strings.Contains(logs.String(), "level=WARN") {
				t.Errorf("the warning is not at warn level:\n%s", logs.String())
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

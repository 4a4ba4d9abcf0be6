package conf

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// The cluster flags are nats-server's, so a script that starts a
// nats-server cluster starts a Wisp one.
func TestClusterFlags(t *testing.T) {
	c, err := load(strings.Fields("-a 127.0.0.1 -p 4222 -n n1 --cluster_name C --cluster nats://127.0.0.1:6222 "+
		"--routes nats://h2:6222,nats://u:p@h3:6222 --cluster_advertise 10.0.0.1:6222 --no_advertise"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := c.Server.Cluster
	if cl.Name != "C" || cl.Host != "127.0.0.1" || cl.Port != 6222 || cl.Advertise != "10.0.0.1:6222" || !cl.NoAdvertise {
		t.Fatalf("cluster options %+v", cl)
	}
	if !reflect.DeepEqual(cl.Routes, []string{"nats://h2:6222", "nats://u:p@h3:6222"}) {
		t.Fatalf("routes %q", cl.Routes)
	}
	if cl.ConnectRetries != 3 || cl.MaxPending != 64<<20 {
		t.Fatalf("defaults not filled in: %+v", cl)
	}
}

func TestClusterFlagErrors(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"--cluster nats://127.0.0.1:6222", "cluster.name: every server of a cluster needs the same cluster name"},
		{"--cluster_name C --routes nats://h2:6222", "cluster.port: the cluster needs a route port"},
		{"--cluster 127.0.0.1:6222", "expected nats://host:port"},
		{"--cluster_name C --cluster nats://127.0.0.1:6222 --routes http://h2:6222", "scheme must be nats://"},
		{"--cluster_name C --cluster nats://127.0.0.1:6222 --routes nats://h2", "expected nats://host:port"},
	} {
		_, err := load(strings.Fields(tc.args), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.args, err, tc.want)
		}
	}
	if _, err := load([]string{"-n", "a b"}, nil); err == nil || !strings.Contains(err.Error(), "server_name") {
		t.Errorf("a server name with a space: got %v", err)
	}
}

func TestClusterFile(t *testing.T) {
	c, err := LoadFile("wisp.conf", []byte(`
server_name = "n1"
[cluster]
name = "east"
listen = "127.0.0.1:6222"
routes = ["nats://h2:6222"]
advertise = "h1:6222"
no_advertise = true
connect_retries = 5
max_pending = "8MB"
[cluster.authorization]
user = "route"
password = "pw"
[cluster.tls]
cert_file = "route.pem"
key_file = "route-key.pem"
ca_file = "ca.pem"
verify = true
timeout = "3s"
`))
	if err != nil {
		t.Fatal(err)
	}
	cl := c.Server.Cluster
	if cl.Name != "east" || cl.Host != "127.0.0.1" || cl.Port != 6222 || len(cl.Routes) != 1 || cl.Advertise != "h1:6222" ||
		!cl.NoAdvertise || cl.ConnectRetries != 5 || cl.MaxPending != 8<<20 || cl.Username != "route" || cl.Password != "pw" ||
		cl.TLS == nil || cl.TLS.CertFile != "route.pem" || cl.TLS.CAFile != "ca.pem" || !cl.TLS.Verify || cl.TLS.Timeout != 3*time.Second {
		t.Fatalf("cluster options %+v", cl)
	}
}

func TestClusterFileErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"[cluster]\nname = \"c\"\nport = 6222\nroute = [\"nats://h:1\"]\n", `wisp.conf:4: unknown key "cluster.route"`},
		{"[cluster]\nname = \"c\"\nport = 6222\n[cluster.tls]\ncert_file = \"x\"\n", "cluster.tls: cert_file and key_file are both required"},
		{"[cluster]\nname = \"c\"\nport = 6222\n[cluster.tls]\ncert_file = \"x\"\nkey_file = \"y\"\nhandshake_first = true\n", "cluster.tls.handshake_first: routes always start with TLS"},
		{"[cluster]\nname = \"c\"\nport = 6222\n[cluster.tls]\ncert_file = \"x\"\nkey_file = \"y\"\nverify_and_map = true\n", "cluster.tls.verify_and_map"},
		{"[cluster]\nname = \"c\"\nport = 6222\n[cluster.tls]\ncert = \"x\"\n", `unknown key "cluster.tls.cert"`},
		{"[cluster]\nport = 6222\n", "cluster.name"},
		{"[cluster]\nname = \"c\"\nport = 6222\nroutes = [1]\n", "expected a list of strings"},
		{"[cluster]\nname = \"c\"\nport = 6222\n[cluster.authorization]\nuser = \"u\"\n", "user and password must be given together"},
		{"[cluster]\nname = \"c\"\nport = 6222\n[cluster.authorization]\ntoken = \"u\"\n", `unknown key "cluster.authorization.token"`},
	} {
		_, err := LoadFile("wisp.conf", []byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.text, err, tc.want)
		}
	}
}

// host and port are the long form of listen; giving both forms is refused.
func TestClusterFileHostPort(t *testing.T) {
	c, err := LoadFile("wisp.conf", []byte("[cluster]\nname = \"c\"\nhost = \"127.0.0.2\"\nport = 7244\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cl := c.Server.Cluster; cl.Host != "127.0.0.2" || cl.Port != 7244 {
		t.Fatalf("cluster options %+v", cl)
	}
	_, err = LoadFile("wisp.conf", []byte("[cluster]\nname = \"c\"\nhost = \"127.0.0.2\"\nlisten = \"127.0.0.1:7244\"\n"))
	if err == nil || !strings.Contains(err.Error(), "cluster.listen") {
		t.Fatalf("host and listen together: %v", err)
	}
	for _, tc := range []struct{ text, want string }{
		{"[cluster]\nname = \"c\"\nport = \"x\"\n", "cluster.port"},
		{"[cluster]\nname = \"c\"\nport = 6222\nno_advertise = \"yes\"\n", "cluster.no_advertise"},
		{"[cluster]\nname = \"c\"\nport = 6222\nconnect_retries = -1\n", "connect_retries"},
		{"[cluster]\nname = \"c\"\nport = 6222\nadvertise = \"nohostport\"\n", "advertise"},
	} {
		if _, err := LoadFile("wisp.conf", []byte(tc.text)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error naming %q", tc.text, err, tc.want)
		}
	}
}

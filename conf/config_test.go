package conf

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wisp-mq/wisp/server"
)

// defaults is what Load returns with no flags and no file.
func defaults(t *testing.T) *Config {
	t.Helper()
	c := DefaultConfig()
	if err := c.Server.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func writeConf(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wisp.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaults(t *testing.T) {
	c, err := load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := c.Server
	if c.JetStream || c.StoreDir != "./data" || c.File != "" {
		t.Errorf("conf defaults: %+v", c)
	}
	want := server.DefaultOptions()
	if !reflect.DeepEqual(&o, want) {
		t.Errorf("server options\n got %+v\nwant %+v", o, *want)
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(c *Config) bool
	}{
		{"addr", []string{"-a", "127.0.0.1"}, func(c *Config) bool {
			// The monitoring host follows the client host.
			return c.Server.Host == "127.0.0.1" && c.Server.HTTPHost == "127.0.0.1"
		}},
		{"addr long", []string{"--addr", "10.0.0.1"}, func(c *Config) bool { return c.Server.Host == "10.0.0.1" }},
		{"net", []string{"--net=10.0.0.2"}, func(c *Config) bool { return c.Server.Host == "10.0.0.2" }},
		{"port", []string{"-p", "4333"}, func(c *Config) bool { return c.Server.Port == 4333 }},
		{"port long", []string{"--port=-1"}, func(c *Config) bool { return c.Server.Port == -1 }},
		{"name", []string{"-n", "a"}, func(c *Config) bool { return c.Server.ServerName == "a" }},
		{"name long", []string{"--name", "b"}, func(c *Config) bool { return c.Server.ServerName == "b" }},
		{"server_name", []string{"--server_name", "c"}, func(c *Config) bool { return c.Server.ServerName == "c" }},
		{"http_port", []string{"-m", "8222"}, func(c *Config) bool { return c.Server.HTTPPort == 8222 }},
		{"http_port long", []string{"--http_port", "8333"}, func(c *Config) bool { return c.Server.HTTPPort == 8333 }},
		{"profile", []string{"--profile", "6060"}, func(c *Config) bool { return c.Server.ProfPort == 6060 }},
		{"prof_port", []string{"--prof_port=-1"}, func(c *Config) bool { return c.Server.ProfPort == -1 }},
		{"auth", []string{"--auth", "s3cret"}, func(c *Config) bool {
			return c.Server.AuthToken == "s3cret" && c.Server.AuthRequired()
		}},
		{"user pass", []string{"--user", "u", "--pass", "p"}, func(c *Config) bool {
			return c.Server.Username == "u" && c.Server.Password == "p"
		}},
		{"js", []string{"-js"}, func(c *Config) bool { return c.JetStream && c.StoreDir == "./data" }},
		{"jetstream store_dir", []string{"--jetstream", "--store_dir", "/var/lib/wisp"}, func(c *Config) bool {
			return c.JetStream && c.StoreDir == "/var/lib/wisp"
		}},
		{"sd", []string{"-sd", "x"}, func(c *Config) bool { return !c.JetStream && c.StoreDir == "x" }},
		{"max_payload", []string{"--max_payload", "2MB"}, func(c *Config) bool { return c.Server.MaxPayload == 2<<20 }},
		{"max_payload int", []string{"--max_payload", "1000"}, func(c *Config) bool { return c.Server.MaxPayload == 1000 }},
		{"max_connections", []string{"--max_connections", "10"}, func(c *Config) bool { return c.Server.MaxConnections == 10 }},
		{"max_pending", []string{"--max_pending", "128MiB"}, func(c *Config) bool { return c.Server.MaxPending == 128<<20 }},
		{"write_deadline", []string{"--write_deadline", "5s"}, func(c *Config) bool {
			return c.Server.WriteDeadline == 5*time.Second
		}},
		{"ping_interval seconds", []string{"--ping_interval", "30"}, func(c *Config) bool {
			return c.Server.PingInterval == 30*time.Second
		}},
		{"ping_max", []string{"--ping_max", "5"}, func(c *Config) bool { return c.Server.MaxPingsOut == 5 }},
		{"D", []string{"-D"}, func(c *Config) bool { return c.Server.Debug && !c.Server.Trace }},
		{"debug", []string{"--debug"}, func(c *Config) bool { return c.Server.Debug }},
		{"V", []string{"-V"}, func(c *Config) bool { return c.Server.Trace && !c.Server.Debug }},
		{"trace", []string{"--trace"}, func(c *Config) bool { return c.Server.Trace }},
		{"DV", []string{"-DV"}, func(c *Config) bool { return c.Server.Debug && c.Server.Trace }},
		{"last wins", []string{"-p", "1", "-p", "2"}, func(c *Config) bool { return c.Server.Port == 2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(tt.args, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("%v gave %+v", tt.args, c)
			}
		})
	}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-p", "abc"}, `invalid value "abc" for flag -p: invalid port "abc"`},
		{[]string{"-p", "70000"}, "port: 70000 is not a TCP port"},
		{[]string{"-m", "-5"}, "http_port: -5 is not a TCP port"},
		{[]string{"--max_payload", "1XB"}, `invalid size "1XB"`},
		{[]string{"--max_payload", "100MB"}, "max_payload: 104857600 is outside"},
		{[]string{"--max_pending", "1KB"}, "max_pending: 1024 is below max_payload"},
		{[]string{"--write_deadline", "soon"}, `invalid duration "soon"`},
		{[]string{"--ping_max", "two"}, "expected an integer"},
		{[]string{"--max_connections", "-1"}, "max_connections: must not be negative"},
		{[]string{"-D=maybe"}, "expected true or false"},
		{[]string{"--nope"}, "flag provided but not defined: -nope"},
		{[]string{"-p"}, "flag needs an argument"},
		{[]string{"run"}, `unexpected argument "run"`},
		{[]string{"--auth", "t", "--user", "u", "--pass", "p"}, "authorization: choose one of"},
		{[]string{"--user", "u"}, "user: user and password must be given together"},
		{[]string{"-js", "-sd", ""}, "store_dir: must not be empty"},
		{[]string{"-c", "/nonexistent/wisp.conf"}, "config file: open /nonexistent/wisp.conf"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c, err := load(tt.args, nil)
			if err == nil {
				t.Fatalf("no error; got %+v", c)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\n does not contain %q", err, tt.want)
			}
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		var out bytes.Buffer
		_, err := load([]string{"-p", "1", arg}, &out)
		if !errors.Is(err, ErrHelp) {
			t.Errorf("%s: err = %v, want ErrHelp", arg, err)
		}
		for _, s := range []string{"Usage: wisp", "-a, --addr, --net <host>", "-js, --jetstream", "--max_payload <size>", "-DV"} {
			if !strings.Contains(out.String(), s) {
				t.Errorf("%s: usage lacks %q:\n%s", arg, s, out.String())
			}
		}
		// Every flag listed works today: no feature is marked unfinished.
		if strings.Contains(strings.ToLower(out.String()), "in progress") {
			t.Errorf("%s: usage still marks something \"in progress\":\n%s", arg, out.String())
		}
	}
	for _, arg := range []string{"-v", "--version"} {
		if _, err := load([]string{arg}, nil); !errors.Is(err, ErrVersion) {
			t.Errorf("%s: err = %v, want ErrVersion", arg, err)
		}
	}
}

// Every flag in the table is reachable and documented.
func TestEveryFlagInUsage(t *testing.T) {
	var out bytes.Buffer
	Usage(&out)
	for _, d := range flagDefs {
		for _, n := range d.names {
			dash := "--"
			if len(n) <= 2 {
				dash = "-"
			}
			if !strings.Contains(out.String(), dash+n) {
				t.Errorf("usage lacks %s%s", dash, n)
			}
		}
	}
}

const fullFile = `# every key set away from its default
host = "127.0.0.1"
port = 4333
server_name = "w1"
http_port = 8333
prof_port = 6333
max_payload = "2MB"
max_control_line = 8192
max_pending = "128MiB"
max_connections = 100
max_subscriptions = 1000
write_deadline = "5s"
ping_interval = 30
ping_max = 3
auth_timeout = "1.5s"
debug = true
trace = true

[authorization]
user = "alice"
password = "$2a$11$abcdefghijklmnopqrstuu5V8Hx5CgSkJ1sB0X0ZqQv0l4s3Qm6Rxy"

[jetstream]
enabled = true
store_dir = "/var/lib/wisp"
`

func TestFile(t *testing.T) {
	path := writeConf(t, fullFile)
	c, err := load([]string{"-c", path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := defaults(t)
	want.File = path
	want.JetStream = true
	want.StoreDir = "/var/lib/wisp"
	o := &want.Server
	o.Host, o.HTTPHost, o.Port, o.ServerName, o.HTTPPort, o.ProfPort = "127.0.0.1", "127.0.0.1", 4333, "w1", 8333, 6333
	o.MaxPayload, o.MaxControlLine, o.MaxPending = 2<<20, 8192, 128<<20
	o.MaxConnections, o.MaxSubscriptions = 100, 1000
	o.WriteDeadline, o.PingInterval, o.MaxPingsOut, o.AuthTimeout = 5*time.Second, 30*time.Second, 3, 1500*time.Millisecond
	o.Debug, o.Trace = true, true
	o.Username, o.Password = "alice", "$2a$11$abcdefghijklmnopqrstuu5V8Hx5CgSkJ1sB0X0ZqQv0l4s3Qm6Rxy"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("\n got %+v\nwant %+v", c, want)
	}
}

func TestFileForms(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		check func(c *Config) bool
	}{
		{"empty", "", func(c *Config) bool { return c.Server.Port == 4222 }},
		{"listen", `listen = "127.0.0.1:4999"`, func(c *Config) bool {
			return c.Server.Host == "127.0.0.1" && c.Server.Port == 4999
		}},
		{"listen ipv6", `listen = "[::1]:5000"`, func(c *Config) bool {
			return c.Server.Host == "::1" && c.Server.Port == 5000
		}},
		{"token", "[authorization]\ntoken = \"t0k\"", func(c *Config) bool { return c.Server.AuthToken == "t0k" }},
		{"users table array", `
[[authorization.users]]
user = "a"
password = "pa"
[[authorization.users]]
user = "b"
password = "pb"
`, func(c *Config) bool {
			return reflect.DeepEqual(c.Server.Users, []server.User{{Username: "a", Password: "pa"}, {Username: "b", Password: "pb"}})
		}},
		{"users inline", `authorization = { users = [ {user = "a", password = "pa"} ] }`, func(c *Config) bool {
			return len(c.Server.Users) == 1 && c.Server.Users[0].Username == "a"
		}},
		{"sizes", "max_payload = 512\nmax_pending = \"1 GB\"", func(c *Config) bool {
			return c.Server.MaxPayload == 512 && c.Server.MaxPending == 1<<30
		}},
		{"decimal units", "max_payload = \"1M\"\nmax_control_line = \"2k\"", func(c *Config) bool {
			return c.Server.MaxPayload == 1000000 && c.Server.MaxControlLine == 2000
		}},
		{"durations", "write_deadline = \"1m30s\"\nping_interval = \"2h\"\nauth_timeout = 3", func(c *Config) bool {
			return c.Server.WriteDeadline == 90*time.Second && c.Server.PingInterval == 2*time.Hour &&
				c.Server.AuthTimeout == 3*time.Second
		}},
		{"jetstream off keeps dir", "[jetstream]\nstore_dir = \"d\"", func(c *Config) bool {
			return !c.JetStream && c.StoreDir == "d" && c.Sync == SyncAlways
		}},
		{"jetstream sync interval", "[jetstream]\nsync = \"interval\"\nsync_interval = \"250ms\"", func(c *Config) bool {
			return c.Sync == SyncInterval && c.SyncInterval == 250*time.Millisecond
		}},
		{"jetstream on_damage", "[jetstream]\non_damage = \"refuse\"", func(c *Config) bool {
			return c.OnDamage == DamageRefuse
		}},
		{"jetstream on_damage default", "[jetstream]\nenabled = true", func(c *Config) bool {
			return c.OnDamage == DamageServe
		}},
		{"jetstream shorthand on", "jetstream = true", func(c *Config) bool {
			return c.JetStream && c.StoreDir == "./data" && c.Sync == SyncAlways
		}},
		{"jetstream shorthand off", "jetstream = false", func(c *Config) bool { return !c.JetStream }},
		{"jetstream inline table", `jetstream = {enabled = true, store_dir = "q"}`, func(c *Config) bool {
			return c.JetStream && c.StoreDir == "q"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load([]string{"-c", writeConf(t, tt.text)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("got %+v", c)
			}
		})
	}
}

func TestPrecedence(t *testing.T) {
	const file = `
port = 5000
host = "127.0.0.2"
debug = true
max_payload = "2MB"
[authorization]
token = "from-file"
[jetstream]
enabled = true
store_dir = "file-dir"
`
	tests := []struct {
		name  string
		args  []string
		check func(c *Config) bool
	}{
		{"file only", nil, func(c *Config) bool {
			return c.Server.Port == 5000 && c.Server.Host == "127.0.0.2" && c.Server.Debug &&
				c.Server.AuthToken == "from-file" && c.JetStream && c.StoreDir == "file-dir"
		}},
		{"flag beats file", []string{"-p", "6000", "-sd", "flag-dir"}, func(c *Config) bool {
			return c.Server.Port == 6000 && c.StoreDir == "flag-dir" && c.Server.Host == "127.0.0.2"
		}},
		{"flags before -c still win", []string{"-p", "6001", "-c"}, func(c *Config) bool {
			return c.Server.Port == 6001
		}},
		{"explicit false beats file", []string{"--debug=false", "--jetstream=false"}, func(c *Config) bool {
			return !c.Server.Debug && !c.JetStream
		}},
		{"unset flags leave file", []string{"-V"}, func(c *Config) bool {
			return c.Server.Debug && c.Server.Trace && c.Server.MaxPayload == 2<<20
		}},
		{"flag auth style replaces file's", []string{"--user", "u", "--pass", "p"}, func(c *Config) bool {
			return c.Server.AuthToken == "" && c.Server.Username == "u" && c.Server.Password == "p"
		}},
		{"flag token replaces file token", []string{"--auth", "from-flag"}, func(c *Config) bool {
			return c.Server.AuthToken == "from-flag"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConf(t, file)
			var args []string
			if len(tt.args) > 0 && tt.args[len(tt.args)-1] == "-c" {
				args = append(tt.args, path)
			} else {
				args = append([]string{"-c", path}, tt.args...)
			}
			c, err := load(args, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("got %+v", c)
			}
		})
	}
}

func TestFlagReplacesFileUsers(t *testing.T) {
	path := writeConf(t, "[authorization]\nusers = [{user = \"a\", password = \"b\"}]\n")
	c, err := load([]string{"-c", path, "--auth", "tok"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Server.Users) != 0 || c.Server.AuthToken != "tok" {
		t.Errorf("got %+v", c.Server)
	}
}

func TestFileErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		line int    // expected line; 0 = the error names no line
		want string // substring after "wisp.conf"
	}{
		{"unknown key", "port = 4222\n\nmax_paylod = 10\n", 3, `:3: unknown key "max_paylod"`},
		{"unknown table", "[gateway]\nport = 7222\nname = \"x\"\n", 1, `:1: unknown key "gateway"`},
		{"unknown key in table", "[jetstream]\nenabled = true\nmax_mem = 1\n", 3, `:3: unknown key "jetstream.max_mem"`},
		{"unknown key in users", "[[authorization.users]]\nuser = \"a\"\npass = \"b\"\n", 3,
			`:3: unknown key "authorization.users.pass"`},
		{"unknown key in inline users", "[authorization]\nusers = [\n  {user = \"a\", password = \"b\"},\n  {user = \"c\", pasword = \"d\"},\n]\n", 4,
			`:4: unknown key "authorization.users.pasword"`},
		{"bad duration", "\nwrite_deadline = \"10 parsecs\"\n", 2, `:2: write_deadline: invalid duration "10 parsecs"`},
		{"duration wrong type", "ping_interval = true\n", 1, ":1: ping_interval: expected a duration"},
		{"bad size", "max_payload = \"1XB\"\n", 1, `:1: max_payload: invalid size "1XB"`},
		{"size float", "max_pending = 1.5\n", 1, ":1: max_pending: expected a size"},
		{"permissions array", "[[authorization.users]]\nuser = \"a\"\npassword = \"b\"\npermissions = [\"x\"]\n", 4, ":4: authorization.users.permissions: expected a table, got an array"},
		{"size overflow", "max_pending = \"9999999999999TB\"\n", 1, ":1: max_pending: invalid size"},
		{"size too big", "\n\nmax_payload = \"65MiB\"\n", 3, ":3: max_payload: 68157440 is outside"},
		{"bad port", "port = 70000\n", 1, ":1: port: 70000 is not a TCP port"},
		{"port string", "port = \"4222\"\n", 1, ":1: port: expected an integer, got a string"},
		{"bad http_port", "\nhttp_port = 100000\n", 2, ":2: http_port: 100000 is not a TCP port"},
		{"bad prof_port", "prof_port = -7\n", 1, ":1: prof_port: -7 is not a TCP port"},
		{"bad listen", "listen = \"4222\"\n", 1, `:1: listen: expected "host:port"`},
		{"listen and port", "port = 1\nlisten = \"a:2\"\n", 2, `:2: listen: set either "listen" or "host"/"port"`},
		{"bad listen port", "listen = \"a:b\"\n", 1, `:1: listen: invalid port "b"`},
		{"listen bad range", "listen = \"a:99999\"\n", 1, ":1: listen: 99999 is not a TCP port"},
		{"conflicting auth", "\n[authorization]\ntoken = \"t\"\nuser = \"u\"\npassword = \"p\"\n", 2,
			":2: authorization: choose one of token, user/password, or users"},
		{"user without password", "[authorization]\nuser = \"u\"\n", 2, ":2: authorization.user: user and password must be given together"},
		{"duplicate user", "authorization = { users = [{user = \"a\", password = \"x\"}, {user = \"a\", password = \"y\"}] }\n", 1,
			`:1: authorization.users: user "a" is listed twice`},
		{"pending below payload", "max_payload = 2000\nmax_pending = 1000\n", 2, ":2: max_pending: 1000 is below max_payload (2000)"},
		{"negative duration", "auth_timeout = \"-1s\"\n", 0, ": timeouts: durations must not be negative"},
		{"bool wrong type", "debug = \"yes\"\n", 1, ":1: debug: expected true or false, got a string"},
		{"table wrong type", "[authorization]\nusers = [1]\n", 2, ":2: authorization.users: expected a table, got an integer"},
		{"jetstream wrong type", "jetstream = \"yes\"\n", 1, ":1: jetstream: expected a table or true/false, got a string"},
		{"jetstream number", "\njetstream = 1\n", 2, ":2: jetstream: expected a table or true/false, got an integer"},
		{"jetstream array of tables", "[[jetstream]]\nenabled = true\n", 1, ":1: jetstream: expected a table or true/false, got an array of tables"},
		{"jetstream bad value in table", "[jetstream]\nenabled = \"on\"\n", 2, ":2: jetstream.enabled: expected true or false, got a string"},
		{"array wrong type", "[authorization]\nusers = \"a\"\n", 2, ":2: authorization.users: expected an array, got a string"},
		{"syntax", "port = 4222\nhost = \n", 2, ":2: "},
		{"duplicate key", "port = 1\nport = 2\n", 2, ":2: "},
		{"empty store_dir", "[jetstream]\nenabled = true\nstore_dir = \"\"\n", 3, ":3: jetstream.store_dir: must not be empty"},
		{"bad sync rule", "[jetstream]\nsync = \"sometimes\"\n", 2, `:2: jetstream.sync: "sometimes" is not "always" or "interval"`},
		{"bad on_damage", "[jetstream]\non_damage = \"ignore\"\n", 2, `:2: jetstream.on_damage: "ignore" is not "serve" or "refuse"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConf(t, tt.text)
			_, err := load([]string{"-c", path}, nil)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), path) || !strings.Contains(err.Error(), path+tt.want) {
				t.Errorf("error %q\nwant %q", err, path+tt.want)
			}
			var fe *FileError
			if tt.line > 0 && (!errors.As(err, &fe) || fe.Line != tt.line) {
				t.Errorf("error %q: want a FileError at line %d, got %+v", err, tt.line, fe)
			}
		})
	}
}

func TestUnknownKeysAllReported(t *testing.T) {
	_, err := LoadFile("x.conf", []byte("a = 1\nport = 1\nb = 2\n"))
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("err = %v, want ErrUnknownKey", err)
	}
	want := "x.conf:1: unknown key \"a\"\nx.conf:3: unknown key \"b\""
	if err.Error() != want {
		t.Errorf("got %q\nwant %q", err, want)
	}
}

// A flag that overrides a file key is blamed for its own bad value, not the
// file's line.
func TestFlagErrorNotBlamedOnFile(t *testing.T) {
	path := writeConf(t, "port = 4222\n")
	_, err := load([]string{"-c", path, "-p", "70000"}, nil)
	if err == nil || strings.Contains(err.Error(), path) || !strings.HasPrefix(err.Error(), "port: 70000") {
		t.Errorf("err = %v", err)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1048576", 1 << 20, true}, {"1MB", 1 << 20, true}, {"1mb", 1 << 20, true},
		{"64MiB", 64 << 20, true}, {"64 MiB", 64 << 20, true}, {"1M", 1e6, true}, {"1K", 1000, true},
		{"1KB", 1024, true}, {"1KiB", 1024, true}, {"1Ki", 1024, true}, {"2G", 2e9, true}, {"1GB", 1 << 30, true},
		{"1T", 1e12, true}, {"1TiB", 1 << 40, true}, {"10B", 10, true}, {"-1", -1, true}, {" 5 ", 5, true},
		{"", 0, false}, {"MB", 0, false}, {"1.5MB", 0, false}, {"1XB", 0, false}, {"1 M B", 0, false},
		{"99999999999999999999", 0, false}, {"9999999999TB", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"10s", 10 * time.Second, true}, {"2m", 2 * time.Minute, true}, {"1h30m", 90 * time.Minute, true},
		{"250ms", 250 * time.Millisecond, true}, {"30", 30 * time.Second, true}, {"0", 0, true},
		{"", 0, false}, {"ten", 0, false}, {"10 s", 0, false}, {"99999999999999", 0, false},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// With "listen" in the file, a bad -p is still blamed on the flag.
func TestListenFileBadPortFlag(t *testing.T) {
	path := writeConf(t, "listen = \"127.0.0.1:4222\"\n")
	_, err := load([]string{"-c", path, "-p", "99999"}, nil)
	if err == nil || strings.Contains(err.Error(), path) {
		t.Errorf("err = %v", err)
	}
}

// The shorthand jetstream = true means exactly what -js means: the stream
// layer on, every other setting at its default. Flags still override it.
func TestJetStreamShorthand(t *testing.T) {
	fromFile, err := load([]string{"-c", writeConf(t, "jetstream = true\n")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fromFlag, err := load([]string{"-js"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fromFile.File = ""
	if !reflect.DeepEqual(fromFile, fromFlag) {
		t.Errorf("jetstream = true gives\n%+v\n-js gives\n%+v", fromFile, fromFlag)
	}
	off := writeConf(t, "jetstream = false\n")
	if c, err := load([]string{"-c", off, "-js"}, nil); err != nil || !c.JetStream {
		t.Errorf("-js over jetstream = false: %v, on=%v", err, c != nil && c.JetStream)
	}
	on := writeConf(t, "jetstream = true\n")
	if c, err := load([]string{"-c", on, "--jetstream=false"}, nil); err != nil || c.JetStream {
		t.Errorf("--jetstream=false over jetstream = true: %v, on=%v", err, c != nil && c.JetStream)
	}
}

package conf

import (
	"strings"
	"testing"
)

// FuzzLoadTOML feeds arbitrary bytes to the config file reader. Whatever the
// input, it must not panic; every error must start with the file name (so
// the user knows which file is wrong); and a file that loads must give
// options the server accepts.
func FuzzLoadTOML(f *testing.F) {
	f.Add([]byte(fullFile))
	f.Add([]byte("port = 4222\nmax_paylod = 1\n"))
	f.Add([]byte("listen = \"[::1]:4222\"\n[authorization]\nusers = [{user = \"a\", password = \"b\"}]\n"))
	f.Add([]byte(securityFile))   // permissions and accounts (security_test.go)
	f.Add([]byte(queuePermsFile)) // queue groups, default_permissions (perms_file_test.go)
	f.Add([]byte("[tls]\ncert_file = \"s.pem\"\nkey_file = \"k.pem\"\nverify = true\nhandshake_first = true\n"))
	f.Add([]byte("[tls]\ncert_file = \"s.pem\"\nkey_file = \"k.pem\"\nhandshake_first = \"300ms\"\nverify_and_map = true\n[authorization]\nusers = [{ user = \"CN=a,O=b\" }]\n"))
	f.Add([]byte("pid_file = \"w.pid\"\nlame_duck_duration = \"1s\"\nlame_duck_grace_period = \"2s\"\n"))
	f.Add([]byte("jetstream = { enabled = true, sync = \"interval\" }\n")) // an inline table
	const name = "fuzz.conf"
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := LoadFile(name, data)
		if err != nil {
			for _, e := range flatten(err) {
				if !strings.HasPrefix(e.Error(), name+":") {
					t.Fatalf("error without the file name: %q", e)
				}
			}
			return
		}
		if c.File != name {
			t.Fatalf("File = %q", c.File)
		}
		if err := c.Server.Validate(); err != nil {
			t.Fatalf("loaded config fails Validate: %v", err)
		}
		if c.JetStream && c.StoreDir == "" {
			t.Fatal("stream layer on with no store_dir")
		}
	})
}

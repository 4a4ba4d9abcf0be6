package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestBinarySystemReload: $SYS.REQ.SERVER.<id>.RELOAD rereads the
// configuration file as SIGHUP does: a user added to the file can log in
// afterwards, and a rejected reload answers its reason.
func TestBinarySystemReload(t *testing.T) {
	bin := buildWisp(t)
	dir := t.TempDir()
	confFile := filepath.Join(dir, "wisp.conf")
	port := freePort(t)
	writeConfig := func(appUsers string) {
		t.Helper()
		text := fmt.Sprintf("host = \"127.0.0.1\"\nport = %d\nsystem_account = \"SYS\"\n"+
			"[accounts.SYS]\nusers = [{user = \"sys\", password = \"s\"}]\n[accounts.APP]\nusers = [%s]\n", port, appUsers)
		if err := os.WriteFile(confFile, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig(`{user = "a", password = "a"}`)
	_, stderr := startBin(t, bin, "-c", confFile)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	var sys *nats.Conn
	waitFor(t, "the server accepts the system user", func() bool {
		var err error
		sys, err = nats.Connect(url, nats.UserInfo("sys", "s"), nats.NoReconnect())
		return err == nil
	})
	defer sys.Close()
	reload := func() (code int, desc string) {
		t.Helper()
		m, err := sys.Request("$SYS.REQ.SERVER.PING", nil, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var ping struct {
			Server struct {
				ID string `json:"id"`
			} `json:"server"`
		}
		if err := json.Unmarshal(m.Data, &ping); err != nil || ping.Server.ID == "" {
			t.Fatalf("ping %s: %v", m.Data, err)
		}
		m, err = sys.Request("$SYS.REQ.SERVER."+ping.Server.ID+".RELOAD", nil, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Data  any `json:"data"`
			Error *struct {
				Code        int    `json:"code"`
				Description string `json:"description"`
			} `json:"error"`
		}
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		if r.Error == nil {
			return 0, ""
		}
		return r.Error.Code, r.Error.Description
	}
	writeConfig(`{user = "a", password = "a"}, {user = "c", password = "c"}`)
	if code, desc := reload(); code != 0 {
		t.Fatalf("reload refused: %d %s\n%s", code, desc, stderr)
	}
	c, err := nats.Connect(url, nats.UserInfo("c", "c"), nats.NoReconnect())
	if err != nil {
		t.Fatalf("user added by the reload: %v", err)
	}
	c.Close()
	if err := os.WriteFile(confFile, []byte("port = \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, desc := reload(); code != 500 || desc == "" {
		t.Fatalf("broken config: reload answered %d %q", code, desc)
	}
}

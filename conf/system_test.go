package conf

import (
	"strings"
	"testing"
)

func TestSystemAccountKey(t *testing.T) {
	c, err := LoadFile("sys.conf", []byte("system_account = \"SYS\"\n[accounts.SYS]\nusers = [{ user = \"sys\", password = \"s\" }]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.SystemAccount != "SYS" {
		t.Fatalf("system_account = %q", c.Server.SystemAccount)
	}
	_, err = LoadFile("sys.conf", []byte("system_account = \"NOPE\"\n"))
	if err == nil || !strings.Contains(err.Error(), `system_account: "NOPE" is not a configured account`) {
		t.Fatalf("unknown system account: %v", err)
	}
	_, err = LoadFile("sys.conf", []byte("system_account = \"SYS\"\n[accounts.SYS]\nusers = [{ user = \"sys\", password = \"s\" }]\njetstream = { max_file_store = \"1GiB\" }\n"))
	if err == nil || !strings.Contains(err.Error(), "accounts.SYS.jetstream: the system account has no streams") {
		t.Fatalf("streams limits for the system account: %v", err)
	}
}

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
}

package conf

import (
	"strings"
	"testing"
)

func TestStoreLimits(t *testing.T) {
	c, err := load([]string{"-c", writeConf(t, `
[jetstream]
max_file_store = "10GiB"
max_memory_store = 1048576
[accounts.A.jetstream]
max_file_store = "1GB"
[accounts.B]
`)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxFileStore != 10<<30 || c.MaxMemoryStore != 1<<20 {
		t.Errorf("server limits %d, %d", c.MaxFileStore, c.MaxMemoryStore)
	}
	if l := c.AccountStoreLimits["A"]; l.MaxFileStore != 1<<30 || l.MaxMemoryStore != 0 {
		t.Errorf("account A limits %+v", l)
	}
	if _, ok := c.AccountStoreLimits["B"]; ok {
		t.Error("account B has limits it did not configure")
	}
}

func TestStoreLimitsRefused(t *testing.T) {
	for _, text := range []string{
		"[jetstream]\nmax_file_store = -1",
		"[jetstream]\nmax_memory_store = \"lots\"",
		"[accounts.A.jetstream]\nmax_file_store = -5",
		"[accounts.A.jetstream]\nmax_files = 5",
	} {
		_, err := load([]string{"-c", writeConf(t, text)}, nil)
		if err == nil || !strings.Contains(err.Error(), "max_") {
			t.Errorf("%q: err %v, want one naming the key", text, err)
		}
	}
}

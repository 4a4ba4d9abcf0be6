package server

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
)

// FuzzConsoleHeaderBlock: whatever header names and values a console
// publish carries, the block is either refused or well formed: the status
// line, one "Name: value" line per header, and the blank line, nothing
// smuggled in between.
func FuzzConsoleHeaderBlock(f *testing.F) {
	f.Add("Source", "console", "X", "")
	f.Add("Bad Name", "v", "X", "two\r\nlines")
	f.Add("A:B", "v", "K", "\n")
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string) {
		b, err := headerBlock([][2]string{{n1, v1}, {n2, v2}})
		if err != nil {
			return
		}
		lines := strings.Split(string(b), "\r\n")
		if len(lines) != 5 || lines[0] != "NATS/1.0" || lines[3] != "" || lines[4] != "" {
			t.Fatalf("block %q", b)
		}
		for _, l := range lines[1:3] {
			name, _, ok := strings.Cut(l, ": ")
			if !ok || name == "" || strings.ContainsAny(name, ": \t\r\n") || bytes.Contains([]byte(l), []byte("\n")) {
				t.Fatalf("header line %q in %q", l, b)
			}
		}
	})
}

// FuzzConsoleMessageQuery: no query string makes the message browser's
// parser panic, and what it accepts is within bounds.
func FuzzConsoleMessageQuery(f *testing.F) {
	f.Add("account=A&stream=ORDERS&seq=5&limit=10")
	f.Add("stream=S&time=2026-01-02T03:04:05Z&subject=orders.>")
	f.Add("stream=S&limit=100000&seq=-1")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := parseMessageQuery(v)
		if err != nil {
			return
		}
		if q.stream == "" || q.subject == "" || q.limit < 1 || q.limit > maxMessagePage || q.account == "" {
			t.Fatalf("accepted %q as %+v", raw, q)
		}
	})
}

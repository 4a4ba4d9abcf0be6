package replication

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestReplicaFailedLoggedOncePerCause: a replica that cannot start is
// tried every second; its failure is logged once, again when the cause
// changes, and again once replicaFailedEvery has passed while it lasts.
// A missing account is a warning naming the account, stream and server.
func TestReplicaFailedLoggedOncePerCause(t *testing.T) {
	var buf bytes.Buffer
	s := &streams{node: &Node{name: "s3"}, log: slog.New(slog.NewTextHandler(&buf, nil))}
	a := Assignment{Group: 7, Peers: []string{"s1", "s2", "s3"}}
	missing := &AccountMissingError{Account: "A", Stream: "ORDERS"}
	lines := func() []string { return strings.Split(strings.TrimSpace(buf.String()), "\n") }
	for range 10 {
		s.logReplicaFailed("A ORDERS", a, missing)
	}
	if l := lines(); len(l) != 1 || !strings.Contains(l[0], "level=WARN") || !strings.Contains(l[0], "account=A") ||
		!strings.Contains(l[0], "stream=ORDERS") || !strings.Contains(l[0], "server=s3") {
		t.Fatalf("after 10 tries: %q", l)
	}
	s.logReplicaFailed("A ORDERS", a, errors.New("disk full"))
	s.logReplicaFailed("A ORDERS", a, errors.New("disk full"))
	if l := lines(); len(l) != 2 || !strings.Contains(l[1], "level=ERROR") {
		t.Fatalf("after a new cause: %q", l)
	}
	f := s.replicaFailed["A ORDERS"]
	f.logged = f.logged.Add(-replicaFailedEvery - time.Second)
	s.replicaFailed["A ORDERS"] = f
	s.logReplicaFailed("A ORDERS", a, errors.New("disk full"))
	if l := lines(); len(l) != 3 {
		t.Fatalf("after %v: %q", replicaFailedEvery, l)
	}
}

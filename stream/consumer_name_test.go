package stream

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestServerConsumerNameAlphabet(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		n := newConsumerName()
		if len(n) != serverNameLen || strings.Trim(n, nameAlphabet) != "" || checkConsumerName(n) != nil {
			t.Fatalf("bad name %q", n)
		}
		if seen[n] {
			t.Fatalf("name %q drawn twice in 1000 draws", n)
		}
		seen[n] = true
	}
}

// A drawn name that an existing consumer already has is drawn again: the
// unnamed create must make a new consumer, not update the existing one.
func TestServerConsumerNameCollisionDrawsAgain(t *testing.T) {
	h := newHarness(t)
	h.create(Config{Name: "S", Subjects: []string{"s"}})
	resp := h.svc.route("CONSUMER.CREATE.S.TAKEN123", []byte(`{"config":{"name":"TAKEN123","ack_policy":"explicit"}}`))
	if r := resp.(*consumerInfoResponse); r.Error != nil {
		t.Fatal(r.Error)
	}
	draws := []string{"TAKEN123", "TAKEN123", "FRESH456"}
	drawConsumerName = func() string { n := draws[0]; draws = draws[1:]; return n }
	t.Cleanup(func() { drawConsumerName = newConsumerName })

	resp = h.svc.route("CONSUMER.CREATE.S", []byte(`{"config":{"ack_policy":"none"}}`))
	b, _ := json.Marshal(resp)
	r, ok := resp.(*consumerInfoResponse)
	if !ok || r.Error != nil || r.ConsumerInfo.Name != "FRESH456" {
		t.Fatalf("unnamed create answered %s, want a new consumer FRESH456", b)
	}
	taken := h.svc.route("CONSUMER.INFO.S.TAKEN123", nil).(*consumerInfoResponse)
	if taken.Error != nil || taken.ConsumerInfo.Config.AckPolicy != AckExplicit {
		t.Fatalf("the existing consumer changed: %+v", taken)
	}
}

package stream

import "testing"

// A config stored with version metadata keys (by a Wisp that kept what a
// request carried) is the same config as the request without them, so
// creating the stream or consumer again is not a conflict.
func TestSameConfigIgnoresVersionMetadata(t *testing.T) {
	stored := map[string]string{"owner": "a", "_nats.req.level": "0", "_nats.ver": "2.11.0", "_nats.level": "1"}
	if !sameConfig(&Config{Name: "S", Metadata: stored}, &Config{Name: "S", Metadata: map[string]string{"owner": "a"}}) {
		t.Fatal("stream configs differing only in version metadata compare different")
	}
	if !sameConfig(&Config{Name: "S", Metadata: map[string]string{"_nats.req.level": "0"}}, &Config{Name: "S"}) {
		t.Fatal("a stream config with only version metadata differs from one without metadata")
	}
	if sameConfig(&Config{Name: "S", Metadata: stored}, &Config{Name: "S"}) {
		t.Fatal("a user's own metadata key was ignored")
	}
	if !sameConsumerConfig(&ConsumerConfig{Name: "C", Metadata: stored}, &ConsumerConfig{Name: "C", Metadata: map[string]string{"owner": "a"}}) {
		t.Fatal("consumer configs differing only in version metadata compare different")
	}
	if len(stored) != 4 {
		t.Fatalf("the stored metadata was changed: %v", stored)
	}
}

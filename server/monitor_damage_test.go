package server

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestJszStoreDamage: /jsz shows store_damage only when something was
// found, and then with the figures.
func TestJszStoreDamage(t *testing.T) {
	s := &Server{id: "X"}
	clean := fakeJetStream
	b, _ := json.Marshal(s.jsz(&clean))
	if strings.Contains(string(b), "store_damage") {
		t.Fatalf("clean report shows store_damage: %s", b)
	}
	damaged := fakeJetStream
	damaged.Damage = StoreDamage{LostMessages: 102, DamagedStreams: 1, Offline: map[string]string{"ORDERS": "why"}}
	b, _ = json.Marshal(s.jsz(&damaged))
	for _, want := range []string{`"store_damage":{`, `"lost_messages":102`, `"offline_streams":{"ORDERS":"why"}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/jsz lacks %s: %s", want, b)
		}
	}
}
